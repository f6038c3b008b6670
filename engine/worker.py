"""The worker process: claims queued jobs for one device and runs them through the pipeline,
writing progress to the job row so any page, in any tab, can follow it.

One worker per device (registered in the `workers` table); one job at a time. Progress
writes and cancel checks are throttled so a fast stream of events never hammers SQLite.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from pathlib import Path

from engine.jobs import JobQueue, owner_alive, this_worker
from engine.store import Store, now

WRITE_EVERY_S = 0.5
CANCEL_CHECK_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 5.0
POLL_S = 1.0


class JobProgress:
    """The pipeline's progress callable and should_cancel for one job."""

    def __init__(self, queue: JobQueue, job_id: str, plans: list[str]):
        self.queue, self.job_id = queue, job_id
        self.state = {"plans": [{"plan": p, "state": "queued", "stage": None, "message": "", "seconds": None}
                                for p in plans],
                      "position": None, "stage": "loading the model", "prompt_stage": None, "done": 0, "total": 0,
                      "messages": [], "started": now(), "updated": now()}
        self.run_id: str | None = None
        self._plan_started = 0.0
        self._last_write = 0.0
        self._last_check, self._cancel = 0.0, False
        self.write(force=True)

    def __call__(self, event) -> None:
        force = False
        if isinstance(event, str):
            self._message(event)
        elif hasattr(event, "run_id"):  # RunEvent
            self._message(event.message)
            if event.state == "created":
                self.run_id = event.run_id
                with self.queue.connect() as db:
                    db.execute("UPDATE jobs SET run_id=? WHERE job_id=?", (event.run_id, self.job_id))
            force = True
        elif hasattr(event, "plan"):  # PlanEvent
            force = self._plan_event(event)
        else:  # ProgressEvent: prompts generated / scored, or training steps done so far
            self.state.update(prompt_stage=event.stage, done=event.done, total=event.total,
                              detail=getattr(event, "detail", None))
        self.write(force)

    def _plan_event(self, event) -> bool:
        plan = self.state["plans"][event.position]
        self.state["position"] = event.position
        if event.state == "started":
            self._plan_started = time.monotonic()
            plan.update(state="running", stage="starting")
            self.state.update(stage="starting", prompt_stage=None, done=0, total=0, detail=None)
        elif event.state == "stage":
            plan["stage"] = event.message
            self.state.update(stage=event.message, prompt_stage=None, done=0, total=0, detail=None)
        else:  # ok | failed
            plan.update(state=event.state, stage=None, seconds=round(time.monotonic() - self._plan_started, 1))
            self._message(event.message)
        plan["message"] = event.message
        return True

    def _message(self, text: str) -> None:
        self.state["messages"] = (self.state["messages"] + [f"{now()[11:19]} {text}"])[-30:]

    def write(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_write < WRITE_EVERY_S:
            return
        self._last_write = time.monotonic()
        self.state["updated"] = now()
        with self.queue.connect() as db:
            db.execute("UPDATE jobs SET progress=? WHERE job_id=?", (json.dumps(self.state), self.job_id))

    def should_cancel(self) -> bool:
        if not self._cancel and time.monotonic() - self._last_check >= CANCEL_CHECK_EVERY_S:
            self._last_check = time.monotonic()
            self._cancel = self.queue.cancel_requested(self.job_id)
        return self._cancel

    def close(self, final_state: str) -> None:
        """Plans that never finished take the job's final state (cancelled, failed...)."""
        for plan in self.state["plans"]:
            if plan["state"] in ("queued", "running"):
                plan.update(state=final_state if plan["state"] == "running" else "not run", stage=None)
        self.state["stage"] = final_state
        self.write(force=True)


def run_job(queue: JobQueue, job: dict) -> str:
    """Run one claimed job to its end; returns the job's final status."""
    from engine.evaluation.prompts import PromptFileError, PromptSet
    from engine.models import ModelError
    from engine.pipeline import RunCancelled, RunError, RunSettings, plans_for, run
    from engine.plan import PlanError

    spec = job["spec"]
    settings = dict(spec["settings"])
    settings["batch_sizes"] = tuple(settings.get("batch_sizes") or (1,))
    status, error = "failed", None
    progress = None
    try:
        plans = plans_for(spec.get("plans"), spec.get("preset"), settings["device"])
        progress = JobProgress(queue, job["job_id"], [str(p) for p in plans])
        prompts = PromptSet.from_dict(spec["prompts"]) if spec.get("prompts") else None
        run(spec["model"], plans, RunSettings(**settings), store=queue.store, progress=progress,
            prompts=prompts, should_cancel=progress.should_cancel)
        status = "done"
    except RunCancelled:
        status = "cancelled"
    except (PlanError, RunError, ModelError, PromptFileError, ValueError) as failure:
        error = str(failure)
    except Exception as failure:  # the worker must outlive any one job
        error = traceback.format_exception_only(type(failure), failure)[-1].strip()
        traceback.print_exc()
    if progress is not None:
        progress.close(status)
        _close_run(queue.store, progress.run_id)
    with queue.connect() as db:
        db.execute("UPDATE jobs SET status=?, error=?, finished=? WHERE job_id=?",
                   (status, error, now(), job["job_id"]))
    return status


def _close_run(store: Store, run_id: str | None) -> None:
    """A run the pipeline left 'running' (an unexpected error) would read as running forever."""
    if run_id and store.get_run(run_id)["status"] == "running":
        store.finish_run(run_id, "failed")


def claim(queue: JobQueue, device: str) -> dict | None:
    """Take the oldest queued job for the device, atomically."""
    with queue.connect() as db:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT job_id FROM jobs WHERE device=? AND status='queued' ORDER BY rowid LIMIT 1",
                         (device,)).fetchone()
        if row is None:
            return None
        db.execute("UPDATE jobs SET status='running', worker=?, started=? WHERE job_id=?",
                   (this_worker(), now(), row["job_id"]))
    return queue.get_job(row["job_id"])


def register(queue: JobQueue, device: str) -> bool:
    """Become the device's worker unless another live one is; mark its dead predecessor's job interrupted."""
    me = this_worker()
    with queue.connect() as db:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT worker, heartbeat FROM workers WHERE device=?", (device,)).fetchone()
        if row and row["worker"] != me and owner_alive(row["worker"], row["heartbeat"]):
            return False
        db.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?)", (device, me, now()))
        running = db.execute("SELECT job_id, worker FROM jobs WHERE device=? AND status='running'", (device,))
        for job in running.fetchall():
            if not owner_alive(job["worker"]):
                db.execute("UPDATE jobs SET status='interrupted', finished=? WHERE job_id=?", (now(), job["job_id"]))
    return True


def _retire(queue: JobQueue, device: str) -> bool:
    """Deregister when nothing is queued; in one transaction, so a job submitted meanwhile is never orphaned."""
    with queue.connect() as db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM jobs WHERE device=? AND status='queued'", (device,)).fetchone():
            return False
        db.execute("DELETE FROM workers WHERE device=? AND worker=?", (device, this_worker()))
    return True


def _heartbeat(queue: JobQueue, device: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        with queue.connect() as db:
            db.execute("UPDATE workers SET heartbeat=? WHERE device=? AND worker=?", (now(), device, this_worker()))


def serve(device: str, idle_exit_s: float = 300, store_path: Path | None = None) -> int:
    """Run jobs until idle for idle_exit_s seconds; 0 when another worker already serves the device."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    queue = JobQueue(store_path)
    if not register(queue, device):
        print(f"another worker already serves {device}; exiting", flush=True)
        return 0
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(queue, device, stop), daemon=True).start()
    print(f"worker {this_worker()} serving {device} jobs from {queue.path}", flush=True)
    idle_since = time.monotonic()
    try:
        while True:
            job = claim(queue, device)
            if job is not None:
                print(f"job {job['job_id']}: started", flush=True)
                print(f"job {job['job_id']}: {run_job(queue, job)}", flush=True)
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_exit_s and _retire(queue, device):
                print(f"idle for {idle_exit_s:g} s; exiting", flush=True)
                return 0
            else:
                time.sleep(POLL_S)
    finally:
        stop.set()
