"""The job queue and its worker process: idempotent submission, queue order, cancel, a real worker
running a tiny job, a worker killed mid-run leaving finished plans and an interrupted one, and sweep
jobs (several models) checked model by model and run by a real worker on a local Ray."""

import os
import signal
import subprocess
import sys

import pytest

from engine.jobs import JobError, JobQueue
from engine.models import ModelError
from engine.plan import PlanError
from engine.store import now, pid_alive, this_process
from tests.waiting import wait_for

FAST = {"device": "cpu", "decode_steps": 1, "repeats": 1, "prompt_tokens": 8, "keep_artifacts": False}


def spec(plans=("fp32", "bf16"), **settings):
    return {"model": "shape:smollm2-135m", "plans": list(plans), "settings": {**FAST, **settings}, "prompts": None}


@pytest.fixture
def queue(tmp_path):
    return JobQueue(tmp_path / "runs.sqlite")


@pytest.fixture
def workers(queue):
    """Kill, by pid, every worker these tests start."""
    yield
    with queue.connect() as db:
        rows = db.execute("SELECT worker FROM workers").fetchall()
    for row in rows:
        pid = int(row["worker"].rpartition(":")[2])
        if pid != os.getpid() and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)



def worker_pid(queue, device="cpu") -> int:
    with queue.connect() as db:
        return int(db.execute("SELECT worker FROM workers WHERE device=?", (device,)).fetchone()[0].rpartition(":")[2])


def test_the_same_token_gives_one_job(queue):
    first = queue.submit(spec(), "click-1")
    assert queue.submit(spec(), "click-1") == first  # a double click or a reload
    assert queue.submit(spec(), "click-2") != first
    assert len(queue.list_jobs()) == 2


def test_a_poll_reads_the_job_without_its_prompts(queue):
    """The dashboard polls jobs every second or two from each tab and never shows their prompts."""
    from engine.evaluation.prompts import load_prompts
    from engine.home import SAMPLE_DATA

    prompts = load_prompts(SAMPLE_DATA / "prompts.jsonl").to_dict()
    job_id = queue.submit({**spec(), "prompts": prompts}, "with-prompts")
    full = queue.get_job(job_id)
    assert full["spec"]["prompts"] == prompts
    light = queue.get_job(job_id, prompts=False)
    assert light == {**full, "spec": {k: v for k, v in full["spec"].items() if k != "prompts"}}
    assert queue.list_jobs(prompts=False) == [light] and queue.active_job(prompts=False) == light
    with queue.connect() as db:  # every column of the table is read either way
        assert [row[1] for row in db.execute("PRAGMA table_info(jobs)")] == list(light)


def test_a_spec_that_could_never_run_is_refused(queue):
    with pytest.raises(PlanError, match="int9"):
        queue.submit(spec(plans=["fp32", "int9"]), "bad-plan")
    with pytest.raises(JobError, match="unknown settings: colour"):
        queue.submit(spec(colour="red"), "bad-setting")
    with pytest.raises(ValueError, match="unknown primary metric"):
        queue.submit(spec(primary="vibes"), "bad-metric")
    assert queue.list_jobs() == []


def test_queue_order_position_and_cancelling_a_queued_job(queue):
    first, second, third = (queue.submit(spec(), f"order-{i}") for i in range(3))
    assert [queue.queue_position(j) for j in (first, second, third)] == [1, 2, 3]
    assert queue.request_cancel(second) == "cancelled"
    assert queue.queue_position(third) == 2 and queue.queue_position(second) is None
    assert queue.claim("cpu")["job_id"] == first
    assert queue.queue_position(first) is None and queue.queue_position(third) == 1
    assert queue.claim("cuda") is None  # one queue per device


def test_one_registered_worker_per_device(queue):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with queue.connect() as db:
            db.execute("INSERT INTO workers VALUES ('cpu', ?, ?)", (f"{this_process().rpartition(':')[0]}:{other.pid}",
                                                                   now()))
        assert queue.register("cpu") is False  # a live worker serves cpu already
        assert queue.ensure_worker("cpu") is None
    finally:
        other.kill()
        other.wait()
    assert queue.register("cpu") is True  # its worker died: take over
    queue.submit(spec(), "retire")
    assert queue.retire("cpu") is False  # never retire with work queued


def test_a_worker_runs_a_tiny_job_end_to_end_and_retires(queue, workers):
    job_id = queue.submit(spec(), "e2e-worker")
    pid = queue.ensure_worker("cpu", idle_exit_s=2)
    assert pid and queue.ensure_worker("cpu") is None  # no second worker
    job = wait_for(lambda: (j := queue.get_job(job_id))["status"] not in ("queued", "running") and j)
    assert job["status"] == "done", job["error"]
    record = queue.store.get_run(job["run_id"])
    assert record["status"] == "done" and [p["status"] for p in record["plans"]] == ["ok", "ok"]
    assert [p["state"] for p in job["progress"]["plans"]] == ["ok", "ok"]
    assert any("done" in m for m in job["progress"]["messages"])
    wait_for(lambda: not pid_alive(pid), timeout=120)
    assert not queue.worker_alive("cpu")


def test_killing_the_worker_mid_run_keeps_finished_plans_and_marks_the_interrupted_one(queue, workers):
    job_id = queue.submit(spec(plans=["fp32", "int8", "int4"], decode_steps=4, repeats=2), "kill-me")
    queue.ensure_worker("cpu")
    run_id = wait_for(lambda: queue.get_job(job_id)["run_id"])
    wait_for(lambda: queue.store.list_runs()[0]["finished_plans"] >= 1, every=0.05)
    os.kill(worker_pid(queue), signal.SIGKILL)
    wait_for(lambda: queue.store.get_run(run_id)["status"] == "interrupted", timeout=30)
    record = queue.store.get_run(run_id)
    states = [p["status"] for p in record["plans"]]
    assert states[0] == "ok" and "interrupted" in states, states
    cut = states.index("interrupted")  # the plan that was running; those after it never started
    assert states == ["ok"] * cut + ["interrupted"] + ["not run"] * (2 - cut)
    listed = [r for r in queue.store.list_runs() if r["run_id"] == run_id][0]
    assert listed["status"] == "interrupted" and listed["finished_plans"] == states.count("ok")
    assert queue.get_job(job_id)["status"] == "interrupted"
    queue.ensure_worker("cpu", idle_exit_s=1)  # a new worker records the dead one's job as interrupted

    def stored_status():
        with queue.connect() as db:
            return db.execute("SELECT status FROM jobs WHERE job_id=?", (job_id,)).fetchone()[0] == "interrupted"

    wait_for(stored_status, timeout=120)
    after = queue.submit(spec(plans=["fp32"]), "after-the-kill")  # the queue goes on after the restart
    # (a worker is started again whenever none is alive: the last one may have exited idle just before)
    wait_for(lambda: (queue.ensure_worker("cpu", idle_exit_s=5), queue.get_job(after)["status"] == "done")[1],
             timeout=300, every=1)


SWEEP_FAST = {**FAST, "eval_tokens": 64, "max_new_tokens": 4, "output_tokens": 8}


def sweep_spec(models, plans=("fp32", "int8")):
    return {"models": [str(m) for m in models], "plans": list(plans), "settings": dict(SWEEP_FAST), "prompts": None}


def test_a_sweep_spec_is_checked_model_by_model_before_it_is_queued(queue, tiny_llama):
    with pytest.raises(ModelError, match="unknown shape 'nope'"):
        queue.submit(sweep_spec([tiny_llama, "shape:nope"]), "bad-model")
    with pytest.raises(JobError, match="given twice"):
        queue.submit(sweep_spec([tiny_llama, tiny_llama]), "twice")
    with pytest.raises(JobError, match="list of model specs"):
        queue.submit(sweep_spec([]), "none")
    with pytest.raises(JobError, match="not also 'model'"):
        queue.submit({**sweep_spec([tiny_llama]), "model": str(tiny_llama)}, "both")
    with pytest.raises(PlanError, match="int9"):
        queue.submit(sweep_spec([tiny_llama], ["fp32", "int9"]), "bad-plan")
    assert queue.list_jobs() == []
    assert queue.submit(sweep_spec([tiny_llama, "shape:smollm2-135m"]), "fine")


def test_a_worker_runs_sweep_jobs_on_a_local_ray_and_honours_cancel(queue, workers, tiny_llama, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("COMPECON_LOCK_DIR", str(tmp_path / "locks"))  # the worker and its Ray inherit these
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    doomed = queue.submit(sweep_spec(["shape:smollm2-135m"], ["fp32", "bf16", "int8"]), "sweep-cancelled")
    whole = queue.submit(sweep_spec([tiny_llama, "shape:smollm2-135m"]), "sweep-whole")
    pid = queue.ensure_worker("cpu", idle_exit_s=2)

    sweep_id = wait_for(lambda: queue.get_job(doomed)["progress"].get("sweep"), timeout=180)
    queue.request_cancel(doomed)  # honoured at the sweep's next line
    job = wait_for(lambda: (j := queue.get_job(doomed))["status"] not in ("queued", "running") and j, timeout=180)
    assert job["status"] == "cancelled", job["error"]
    stopped = queue.store.get_sweep(sweep_id)
    assert stopped["status"] == "cancelled" and all(r["status"] == "cancelled" for r in stopped["runs"])

    job = wait_for(lambda: (j := queue.get_job(whole))["status"] not in ("queued", "running") and j, timeout=300)
    assert job["status"] == "done", job["error"]
    progress = job["progress"]
    sweep = queue.store.get_sweep(progress["sweep"])
    assert sweep["status"] == "done" and sweep["spec"]["models"] == [str(tiny_llama), "shape:smollm2-135m"]
    assert [[p["status"] for p in r["plans"]] for r in sweep["runs"]] == [["ok", "ok"], ["ok", "ok"]]
    assert sweep["slots"] == 1 and sweep["spec"]["cluster"]["cpus"] == progress["worker"]["ray_cpus"]
    assert all(p["worker"]["pid"] != pid for r in sweep["runs"] for p in r["plans"])  # cells in Ray's workers
    assert progress["cells_done"] == progress["cells"] == 4 and progress["stage"] == "done"
    assert any(f"sweep {sweep['sweep_id']} done" in m for m in progress["messages"])
    assert job["run_id"] is None  # a sweep's runs are found through its id, in the store
    wait_for(lambda: not pid_alive(pid), timeout=120)

