import subprocess
import sys

import pytest

from engine.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs.sqlite")


def _record(plan, status="ok", error=None):
    return {"plan": plan, "status": status, "error": error, "size": {"weight_bytes": 123}}


def test_round_trip_keeps_plans_in_order(store):
    run_id = store.create_run({"name": "m", "source": "shape", "params": 1}, {"type": "cpu", "name": "c"},
                              {"cost": {}}, ["fp32", "int8", "int4"])
    store.add_plan_result(run_id, 0, _record("fp32"))
    store.add_plan_result(run_id, 2, _record("int4", "failed", "boom"))
    store.add_plan_result(run_id, 1, _record("int8"))
    store.finish_run(run_id, "done", {"recommendation": {"plan": "int8"}})
    record = store.get_run(run_id[:6])
    assert [p["plan"] for p in record["plans"]] == ["fp32", "int8", "int4"]
    assert record["plans"][2] == _record("int4", "failed", "boom")
    assert record["recommendation"] == {"plan": "int8"}
    assert record["status"] == "done"
    assert store.list_runs()[0]["finished_plans"] == 3


def test_run_of_a_dead_process_reads_as_interrupted(store, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    monkeypatch.setattr("os.getpid", lambda: dead.pid)
    run_id = store.create_run({"name": "m"}, {}, {}, ["fp32", "int8"])
    store.add_plan_result(run_id, 0, _record("fp32"))
    record = store.get_run(run_id)
    assert record["status"] == "interrupted"
    assert [p["status"] for p in record["plans"]] == ["ok", "interrupted"]


def test_delete_and_unknown_ids(store):
    run_id = store.create_run({"name": "m"}, {}, {}, ["fp32"])
    store.delete_run(run_id)
    with pytest.raises(KeyError):
        store.get_run(run_id)
