"""The dashboard under load (issue 16). While a 16-prompt run went on a 2-core machine, five pages opened at
once took 104-118 s to become usable (12-16 s with no run): the worker ran at the web server's priority
with torch on every core. The worker now lowers its own priority (nice 10) and leaves a core to the server.

- A worker started as the dashboard starts one runs at nice 10 with cores - 1 threads (llama.cpp's too,
  for a job that leaves them unset), records that in the job and the run, and says in its first line
  when it exits by itself.
- Ten concurrent headless Chromium sessions on the dashboard's pages while a real job runs (the
  embedded model, fp32 and int8, 16 sample prompts, a 64-prompt job queued behind it): every page
  becomes usable (drawn, Streamlit idle) within USABLE_WITHIN_S and the job still finishes ok. That
  bound catches a page that hangs or a dashboard that stops answering under load; how fast the pages
  are is bench/dashboard_load.py's to measure (the same measurement, bench/RESULTS.md), not a test's:
  on the quiet 2-core machine, where the ten browsers share the cores with the server and the worker,
  p50 19 s / p95 31 s during a job since the polls' fix (36 / 89 s before it), and the project's CI
  machine was twice as slow as that before it. The worker's priority itself is checked by the test
  above. About 3.5 minutes; it runs in the default suite (and so in .ci/run), which has the room.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from engine.jobs import ACTIVE, JobQueue
from engine.store import pid_alive
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SHAPE_SETTINGS = {"device": "cpu", "decode_steps": 1, "repeats": 1, "prompt_tokens": 8, "keep_artifacts": False}
USABLE_WITHIN_S = 420  # a page not usable by then hangs: the slowest seen, on the CI machine, was over 180 s


def bench():
    spec = importlib.util.spec_from_file_location("dashboard_load", ROOT / "bench" / "dashboard_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dashboard_load", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module



@pytest.fixture
def private_lock(tmp_path, monkeypatch):
    """The job measures for real without waiting on other runs of this machine (the device lock is
    machine-wide); the spawned worker inherits the variable."""
    monkeypatch.setenv("COMPECON_LOCK_DIR", str(tmp_path / "locks"))


def test_the_worker_runs_below_the_server_on_one_core_fewer_and_says_when_it_exits(tmp_path, private_lock):
    queue = JobQueue(tmp_path / "runs.sqlite")
    job_id = queue.submit({"model": "shape:smollm2-135m", "plans": ["fp32"], "settings": SHAPE_SETTINGS,
                           "prompts": None}, "priority")
    pid = queue.ensure_worker("cpu", idle_exit_s=2)  # as the dashboard starts it
    log = tmp_path / "logs" / "worker-cpu.log"
    try:
        first = wait_for(lambda: log.exists() and "serving cpu" in log.read_text() and log.read_text(), 120)
        cores = len(os.sched_getaffinity(0))
        threads = max(1, cores - 1)
        assert re.search(rf"at nice 1\d( \(session group nice 1\d\))? with {threads} of {cores} cores; exits after 2 s "
                         "without a queued job", first), first
        if Path("/proc/self/autogroup").exists():  # autogroup scheduling: the worker's session group is niced too
            assert "session group nice 1" in first, first
        if pid_alive(pid):  # still running its job, or idling 2 s after it
            assert os.getpriority(os.PRIO_PROCESS, pid) >= 10
        job = wait_for(lambda: (j := queue.get_job(job_id))["status"] not in ACTIVE and j, 300)
        assert job["status"] == "done", job["error"]
        assert job["progress"]["worker"]["nice"] >= 10
        if Path("/proc/self/autogroup").exists():
            assert job["progress"]["worker"]["autogroup_nice"] >= 10
        assert job["progress"]["worker"]["threads"] == threads
        assert job["progress"]["worker"]["llamacpp_threads"] == threads
        record = queue.store.get_run(job["run_id"])
        assert record["settings"]["threads"] == threads  # the llama.cpp default the job ran with
        assert record["plans"][0]["runtime"]["threads"] == threads  # torch's, as the record always said
        wait_for(lambda: not pid_alive(pid), 60)  # the idle exit it announced
        assert "idle for 2 s; exiting" in log.read_text()
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_ten_sessions_stay_usable_while_a_job_runs(tmp_path, compecon_home, private_lock):
    pytest.importorskip("playwright.async_api")
    load = bench()
    home = tmp_path / "home"
    home.mkdir()
    (compecon_home / "models").mkdir(exist_ok=True)
    (home / "models").symlink_to(compecon_home / "models")  # the embedded model converted once per test session
    with load.dashboard_at(home, tmp_path / "server.log") as dashboard:
        load.warm_up(dashboard)  # the server's first script runs import the engine: not what is measured here
        job_id = dashboard.submit("load-test")
        spare = dashboard.submit("load-test-spare", limit=64)  # keeps a job running however long the loads take
        pid = dashboard.start_worker(niced=True)
        assert pid, "the dashboard's store already had a worker"
        job = dashboard.wait_job(job_id, lambda j: j["run_id"] and j["progress"].get("position") is not None, 600)
        assert os.getpriority(os.PRIO_PROCESS, pid) >= 10
        loads, load_avg = load.measure(dashboard, sessions=10, rounds=1, queries={"Run": f"?job={job_id}"},
                                       bound_s=USABLE_WITHIN_S, deadline_s=1200)
        dashboard.queue.request_cancel(spare)
        job = dashboard.wait_job(job_id, lambda j: j["status"] not in ACTIVE, 1200)
        dashboard.wait_job(spare, lambda j: j["status"] not in ACTIVE, 600)
    summary = load.summary(loads)
    ARTIFACTS.mkdir(exist_ok=True)
    lines = [f"{x.page:8} session {x.session}: {x.seconds if x.seconds is None else round(x.seconds, 1)} s "
             f"job {x.job_at_start}/{x.job_at_end} {x.error}" for x in loads]
    (ARTIFACTS / "dashboard-load.txt").write_text("\n".join(lines + [str(summary), f"load average {load_avg}"]))
    assert job["status"] == "done", job["error"]
    assert len(loads) == 40 and summary["during_job"] == 40, lines  # every load while a job ran
    slow = [line for x, line in zip(loads, lines) if x.seconds is None or x.seconds > USABLE_WITHIN_S]
    assert not slow, (summary, slow)
