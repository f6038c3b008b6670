"""Dashboard fixtures: real runs made by the real engine on tiny inputs, and an AppTest factory.

The runs are session-wide, stored in the test session's COMPECON_HOME (tests/conftest.py), so
every page test reads what the engine really wrote; nothing about the engine is mocked.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.evaluation.prompts import load_prompts
from engine.jobs import JobQueue
from engine.pipeline import run
from engine.settings import RunSettings, plans_for
from engine.store import now, pid_alive, this_process

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
FAST = dict(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, max_new_tokens=4, eval_tokens=64,
            keep_artifacts=False, eval_batch=8)


def quiet(_event) -> None:
    pass


@pytest.fixture(scope="session")
def embedded_record(compecon_home):
    """The embedded model, baseline and int8, on 6 sample prompts spread over the categories."""
    prompts = load_prompts("sample_data/prompts.jsonl")
    subset = type(prompts).of("sample-six", [i for n, i in enumerate(prompts.items) if n % 53 == 7])
    settings = RunSettings(**FAST)
    return run("smollm2-135m", plans_for(["int8"], None, "cpu"), settings, progress=quiet, prompts=subset)


@pytest.fixture(scope="session")
def shape_record(compecon_home):
    """A random-weight shape: size, speed and cost only (accuracy not applicable)."""
    return run("shape:smollm2-135m", plans_for(["fp32", "bf16"], None, "cpu"), RunSettings(**FAST), progress=quiet)


@pytest.fixture
def app():
    """A fresh AppTest of the whole app (router, sidebar, pages); open(page, **query) runs a page."""
    def open_page(page: str | None = None, **query) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=180)
        at.query_params.update(query)
        at.run()
        if page:
            at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


@pytest.fixture
def queue(compecon_home):
    return JobQueue()


@pytest.fixture
def no_worker_runs(queue):
    """Register this test process as the cpu worker, so queued jobs stay queued (no process is started)."""
    me = this_process()
    with queue.connect() as db:
        db.execute("INSERT OR REPLACE INTO workers VALUES ('cpu', ?, ?)", (me, now()))
    yield
    with queue.connect() as db:
        db.execute("DELETE FROM workers WHERE device='cpu' AND worker=?", (me,))
        db.execute("UPDATE jobs SET status='cancelled' WHERE status='queued'")


@pytest.fixture
def reap_workers(queue):
    """Kill any worker a test started (by its recorded pid), so none outlives the test."""
    yield
    with queue.connect() as db:
        rows = db.execute("SELECT worker FROM workers").fetchall()
        db.execute("DELETE FROM workers")
    for row in rows:
        pid = int(row["worker"].rpartition(":")[2])
        if pid != os.getpid() and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
