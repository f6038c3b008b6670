"""Faults injected into real runs of a real (tiny) model: a full disk at each point, failing plans, killed runs,
runs started at once, a stale bandwidth cache. Nothing measured is lost or misreported, every message says what
to do, and SQLite's integrity check passes after each."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.evaluation.verdict import Tolerance, recommend
from engine.home import subdir
from engine.measure.size import save_artifact
from engine.pipeline import run
from engine.registry import STEPS
from engine.reports.terminal import render
from engine.settings import plans_for
from engine.store import Store, StoreError, this_process
from tests.reliability.conftest import QUICK, fill, integrity, small_disk

PLANS = ["int8", "int4:group=32"]


def _quiet(_event):
    return None


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A COMPECON_HOME of the test's own, so its artifacts folder can be put on a small disk."""
    monkeypatch.setenv("COMPECON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_full_disk_while_saving_models_keeps_every_measurement(tiny_llama, home):
    with small_disk(home / "artifacts", "64k"):
        record = run(str(tiny_llama), plans_for(PLANS, None, "cpu"), QUICK, progress=_quiet)
        leftovers = [p for p in (home / "artifacts").rglob("*") if p.is_file()]
    assert [p["status"] for p in record["plans"]] == ["ok", "ok", "ok"], [p.get("error") for p in record["plans"]]
    for plan in record["plans"]:
        assert any("model file not kept" in note and "disk is full" in note for note in plan["notes"]), plan["notes"]
        assert plan["size"]["disk_bytes"] > plan["size"]["weight_bytes"] * 0.9  # sized without the file
        assert plan["latency"]["tpot_ms"] > 0 and plan["accuracy"]["kl_divergence"] is not None
        assert plan["runtime"]["artifact"] is None
    assert leftovers == []  # no half-written model file
    assert record["settings"]["bandwidth"]["measured_at"]  # this run's own bandwidth sample
    reason = record["recommendation"]["reason"]  # a real comparison: every plan was measured and compared
    assert "did not finish" not in reason and not reason.startswith("No comparison")
    assert integrity(home / "runs.sqlite") == "ok"


def test_disk_bytes_computed_without_writing_equal_the_written_file(tiny_llama, tmp_path):
    """Independent check: the size the run records without writing is the size of the file safetensors writes."""
    from engine.models import load_model
    from engine.runtimes.interface import artifact_size

    for plan in ("fp32", "int8"):
        model = load_model(str(tiny_llama)).fresh_copy("cpu")
        if plan == "int8":
            from torchao.quantization import Int8WeightOnlyConfig, quantize_

            quantize_(model, Int8WeightOnlyConfig())
        written = save_artifact(model, tmp_path / plan, {"plan": plan})
        assert artifact_size(model, {"plan": plan}) == written == (tmp_path / plan / "model.safetensors").stat().st_size


def test_a_shape_only_model_is_sized_without_touching_the_disk(home, monkeypatch):
    import engine.measure.size

    def refuse(*args, **kwargs):
        raise AssertionError("a shape-only model's artifact was written")

    monkeypatch.setattr(engine.measure.size, "save_file", refuse, raising=False)
    monkeypatch.setattr("safetensors.torch.save_file", refuse)
    settings = replace(QUICK, prompt_tokens=4, output_tokens=4)
    record = run("shape:smollm2-135m", plans_for(["int8"], None, "cpu"), settings, progress=_quiet)
    base, int8 = record["plans"]
    assert base["status"] == int8["status"] == "ok", int8.get("error")
    assert base["size"]["disk_bytes"] >= base["size"]["weight_bytes"]  # all 135 M float32 values, plus the header
    assert not any((home / "artifacts").rglob("*.safetensors"))


def _fail_with(monkeypatch, step: str, error: Exception):
    spec = STEPS[step]

    def broken(model, plan_step, ctx):
        raise error

    monkeypatch.setitem(STEPS, step, replace(spec, fn=broken))


def test_a_run_whose_compressed_plans_all_failed_recommends_nothing(tiny_llama, home, monkeypatch):
    _fail_with(monkeypatch, "int8", OSError(errno.ENOSPC, "No space left on device"))
    _fail_with(monkeypatch, "int4", RuntimeError("kernel missing"))
    record = run(str(tiny_llama), plans_for(PLANS, None, "cpu"), QUICK, progress=_quiet)
    assert [p["status"] for p in record["plans"]] == ["ok", "failed", "failed"]
    reason = record["recommendation"]["reason"]
    assert record["recommendation"]["plan"] is None
    assert reason.startswith("No comparison") and "int8" in reason and "int4:group=32" in reason
    assert "Keep" not in reason and "cheaper" not in reason
    assert "disk is full" in record["plans"][1]["error"] and "--no-keep-artifacts" in record["plans"][1]["error"]
    assert not list((home / "artifacts").glob("*/[12]-*"))  # failed plans leave no files (the baseline keeps its)


def test_a_failed_plan_is_named_beside_the_recommendation():
    """recommend() on records: one plan finished, one failed; the reason compares only what finished."""
    def plan(name, status, usd=1.0, state="within"):
        return {"plan": name, "status": status, "error": None if status == "ok" else "boom",
                "cost": {"usd_per_1k_queries": usd}, "verdict": {"state": state, "within": state == "within",
                                                                  "value": 0.9, "baseline": 0.9}}

    out = recommend([plan("fp32", "ok", 2.0), plan("int8", "ok", 1.0), plan("int4", "failed")],
                    Tolerance("top1_agreement", 1.0))
    assert out["plan"] == "int8" and "int4 (boom)" in out["reason"] and "did not finish" in out["reason"]


def test_cli_exits_nonzero_when_a_plan_failed(tiny_llama, home, monkeypatch):
    _fail_with(monkeypatch, "int4", RuntimeError("kernel missing"))
    result = CliRunner().invoke(app, ["run", "--model", str(tiny_llama), "--plan", "int8", "--plan", "int4:group=32",
                                      "--decode-steps", "2", "--repeats", "1", "--eval-tokens", "64",
                                      "--prompt-tokens", "8"])
    assert result.exit_code == 1, result.output
    assert "1 of 3 plans did not finish (int4:group=32)" in result.output


def test_the_store_on_a_full_disk_stays_readable_and_says_what_to_do(tiny_llama, home):
    with small_disk(home, "4m"):
        record = run(str(tiny_llama), plans_for(["int8"], None, "cpu"), replace(QUICK, keep_artifacts=False),
                     progress=_quiet)
        fill(home)
        listed = CliRunner().invoke(app, ["runs"])
        assert listed.exit_code == 0 and record["run_id"] in listed.output, listed.output
        shown = CliRunner().invoke(app, ["show", record["run_id"]])
        assert shown.exit_code == 0 and "int8" in shown.output
        assert Store().get_run(record["run_id"])["plans"] == record["plans"]  # nothing lost
        with pytest.raises(StoreError, match="cannot be written.*Free some space"):
            Store().create_run({"name": "m"}, {"type": "cpu"}, {}, ["fp32"])
        again = CliRunner().invoke(app, ["run", "--model", str(tiny_llama), "--plan", "int8"])
        assert again.exit_code == 1 and "cannot be written" in again.output and "Traceback" not in again.output
        for filler in home.glob("filler-*"):
            filler.unlink()
        assert integrity(home / "runs.sqlite") == "ok"
        assert len(Store().list_runs()) == 1


def _store_row(store: Store, run_id: str, **values) -> None:
    with store._connect() as db:
        for key, value in values.items():
            db.execute(f"UPDATE runs SET {key}=? WHERE run_id=?", (value, run_id))


def test_liveness_reads_the_heartbeat_not_just_a_pid(home):
    """A reused pid on this host, or a run on another host sharing the store, is judged by its heartbeat."""
    store = Store()
    run_id = store.create_run({"name": "m"}, {"type": "cpu"}, {}, ["fp32", "int8", "int4"])
    assert store.get_run(run_id)["status"] == "running"
    _store_row(store, run_id, heartbeat="2020-01-01T00:00:00+00:00")  # our own pid is alive: a reused pid
    gone = store.get_run(run_id)
    assert gone["status"] == "interrupted"
    assert [p["status"] for p in gone["plans"]] == ["interrupted", "not run", "not run"]
    assert all(p["error"] for p in gone["plans"])
    table = render(gone)
    assert "interrupted - the process running it stopped" in table and "not run - never started" in table
    assert not any(line.rstrip().endswith(" -") for line in table.splitlines())
    from engine.store import now

    _store_row(store, run_id, owner="another-host:1", heartbeat=now())
    assert store.get_run(run_id)["status"] == "running"
    _store_row(store, run_id, heartbeat="2020-01-01T00:00:00+00:00")
    assert store.get_run(run_id)["status"] == "interrupted"
    assert this_process().startswith(os.uname().nodename)


def _cli(*args: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "COMPECON_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).resolve().parents[2])


def test_a_killed_run_keeps_its_plans_and_its_leftovers_are_removed(tiny_llama, home):
    proc = _cli("run", "--model", str(tiny_llama), "--plan", "int8", "--plan", "int4:group=32",
                "--decode-steps", "200", "--repeats", "3", "--eval-tokens", "64", "--prompt-tokens", "8", home=home)
    store_path = home / "runs.sqlite"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill it once the baseline is stored and the next plan has files
        time.sleep(0.5)
        if store_path.is_file():
            runs = Store(store_path).list_runs()
            if runs and runs[0]["finished_plans"] >= 1:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run_id = Store(store_path).list_runs()[0]["run_id"]
    partial = subdir("artifacts") / run_id / "1-partial-model"
    partial.mkdir(parents=True, exist_ok=True)  # what a plan killed while saving leaves
    record = Store(store_path).get_run(run_id)
    assert record["status"] == "interrupted"
    assert record["plans"][0]["status"] == "ok" and record["plans"][0]["latency"]["tpot_ms"] > 0
    assert [p["status"] for p in record["plans"][1:]] == ["interrupted", "not run"]
    run(str(tiny_llama), plans_for(["fp32"], None, "cpu"), QUICK, progress=_quiet)  # the next run tidies up
    assert not partial.exists()
    assert Store(store_path).get_run(run_id)["plans"] == record["plans"]  # and keeps what was measured
    assert integrity(store_path) == "ok"


def test_runs_started_at_once_are_never_timed_together(tiny_llama, home):
    """Two CLI runs at once on one device: the second waits for the first, says for whom, and their measuring
    never overlaps (each run's created-to-done window, read from the store)."""
    args = ("run", "--model", str(tiny_llama), "--plan", "int8", "--decode-steps", "4", "--repeats", "1",
            "--eval-tokens", "64", "--prompt-tokens", "8", "--json")
    first = _cli(*args, str(home.parent / "a.json"), home=home)
    time.sleep(1.0)
    second = _cli(*args, str(home.parent / "b.json"), home=home)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert "waiting for the cpu" in outputs[1] and "never overlap" in outputs[1]
    windows = sorted(_window(home / "runs.sqlite", json.loads((home.parent / f"{name}.json").read_text())["run_id"])
                     for name in ("a", "b"))
    assert windows[0][1] <= windows[1][0]  # the later run was created after the earlier one's last plan


def _window(store_path: Path, run_id: str) -> tuple[str, str]:
    """A run's created time and its last plan's finished time, read straight from SQLite."""
    db = sqlite3.connect(store_path)
    try:
        created = db.execute("SELECT created FROM runs WHERE run_id=?", (run_id,)).fetchone()[0]
        last = db.execute("SELECT MAX(finished) FROM plan_results WHERE run_id=?", (run_id,)).fetchone()[0]
    finally:
        db.close()
    return created, last


def test_a_full_disk_while_caching_the_converted_model_loads_it_from_memory(home):
    """The first run on a small disk: the embedded GGUF's converted copy cannot be cached (540 MB); the model is
    used from memory, no partial folder stays, and the note says why and what it costs."""
    from engine.models import load_model

    with small_disk(home, "8m"):
        messages = []
        loaded = load_model("smollm2-135m", progress=messages.append)
        assert loaded.base is not None and loaded.tokenizer is not None
        assert any("converted model not cached" in note and "disk is full" in note for note in loaded.notes)
        assert any("used from memory" in m for m in messages)
        assert not [p for p in (home / "models").rglob("*") if p.is_file()]  # no partial folder


def test_bandwidth_is_measured_for_every_run_and_a_stale_cache_is_ignored(home, monkeypatch):
    import engine.measure.roofline as roofline

    home.mkdir(parents=True, exist_ok=True)
    (home / "bandwidth.json").write_text('{"x86_64 CPU": {"bytes_per_s": 1')  # truncated by an older version
    samples = iter([10.2e9, 36.0e9])
    monkeypatch.setattr(roofline, "measure_bandwidth", lambda device: next(samples))
    first, second = roofline.bandwidth("cpu"), roofline.bandwidth("cpu")
    assert (first["bytes_per_s"], second["bytes_per_s"]) == (10.2e9, 36.0e9)  # each run its own sample
    assert first["measured_at"] and first["cpu_count"] >= 1 and "load_1m" in first


def test_a_cache_is_written_whole_or_not_at_all(home):
    from engine.home import write_atomic

    with small_disk(home / "cache", "64k") as disk:
        target = write_atomic(disk / "ranking.json", '{"ok": true}')
        fill(disk)
        with pytest.raises(OSError):
            write_atomic(target, "x" * 200_000)
        assert json.loads(target.read_text()) == {"ok": True}  # the old file, whole
        assert sorted(p.name for p in disk.iterdir() if not p.name.startswith("filler")) == ["ranking.json"]


def test_a_damaged_sensitivity_cache_is_measured_again(tiny_model, home):
    import torch

    from engine.home import subdir
    from engine.methods.sensitivity import block_sensitivity

    (subdir("sensitivity") / "k.json").write_text('[{"block": 0, "kl": 0.1')  # cut short
    rows = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(0))
    ranking = block_sensitivity(tiny_model, rows, "cpu", 4, 64, "k")
    assert [r["block"] for r in ranking] == [0, 1]
    assert json.loads((subdir("sensitivity") / "k.json").read_text()) == ranking


def test_a_plan_that_runs_out_of_memory_fails_alone_with_advice(tiny_llama, home, monkeypatch):
    """A step that needs more memory than the machine has (a real allocation the allocator refuses) fails its
    plan with advice; the other plans of the run complete."""
    import torch

    def too_big(model, plan_step, ctx):
        torch.ones(2**41, dtype=torch.uint8)  # 2 TB, touched: refused by the allocator

    monkeypatch.setitem(STEPS, "int4", replace(STEPS["int4"], fn=too_big))
    record = run(str(tiny_llama), plans_for(PLANS, None, "cpu"), QUICK, progress=_quiet)
    assert [p["status"] for p in record["plans"]] == ["ok", "ok", "failed"]
    assert record["plans"][2]["error"].startswith("out of memory on the cpu: try a smaller batch size")
    assert "did not finish" in record["recommendation"]["reason"]
