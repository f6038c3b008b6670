"""The worker process: claims queued jobs for one device and runs them through the pipeline,
writing progress to the job row so any page, in any tab, can follow it.

One worker per device (registered in the `workers` table); one job at a time. Progress
writes and cancel checks are throttled so a fast stream of events never hammers SQLite.
`python -m engine.worker --device cpu` (or `compecon worker`) runs one; the dashboard starts
one by itself when a job is queued.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from pathlib import Path

from transformers.utils import logging as hf_logging

from engine.evaluation.prompts import PromptFileError, PromptSet
from engine.jobs import JobQueue
from engine.models import ModelError
from engine.pipeline import run
from engine.plan import PlanError
from engine.settings import (
    JobState,
    PlanEvent,
    PlanState,
    ProgressEvent,
    RunCancelled,
    RunError,
    RunEvent,
    RunSettings,
    RunState,
    plans_for,
)
from engine.store import Store, now, this_process

WRITE_EVERY_S = 0.5
CANCEL_CHECK_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 5.0
POLL_S = 1.0


class JobProgress:
    """The pipeline's progress callable and should_cancel for one job."""

    def __init__(self, queue: JobQueue, job_id: str, plans: list[str]):
        self.queue, self.job_id = queue, job_id
        self.state = {"plans": [{"plan": p, "state": PlanState.QUEUED, "stage": None, "message": "", "seconds": None}
                                for p in plans],
                      "position": None, "stage": "loading the model", "prompt_stage": None, "done": 0, "total": 0,
                      "messages": [], "started": now(), "updated": now()}
        self.run_id: str | None = None
        self._plan_started = 0.0
        self._last_write = 0.0
        self._last_check, self._cancel = 0.0, False
        self.write(force=True)

    def __call__(self, event) -> None:
        force = True
        match event:
            case str():
                self._message(event)
                force = False
            case RunEvent():
                self._message(event.message)
                if event.state == "created":
                    self.run_id = event.run_id
                    self.queue.set_run(self.job_id, event.run_id)
            case PlanEvent():
                self._plan_event(event)
            case ProgressEvent():  # prompts generated / scored, or training steps done so far
                self.state.update(prompt_stage=event.stage, done=event.done, total=event.total, detail=event.detail)
                force = False
        self.write(force)

    def _plan_event(self, event: PlanEvent) -> None:
        plan = self.state["plans"][event.position]
        self.state["position"] = event.position
        if event.state == "started":
            self._plan_started = time.monotonic()
            plan.update(state=PlanState.RUNNING, stage="starting")
            self.state.update(stage="starting", prompt_stage=None, done=0, total=0, detail=None)
        elif event.state == "stage":
            plan["stage"] = event.message
            self.state.update(stage=event.message, prompt_stage=None, done=0, total=0, detail=None)
        else:  # ok | failed
            plan.update(state=event.state, stage=None, seconds=round(time.monotonic() - self._plan_started, 1))
            self._message(event.message)
        plan["message"] = event.message

    def _message(self, text: str) -> None:
        self.state["messages"] = (self.state["messages"] + [f"{now()[11:19]} {text}"])[-30:]

    def write(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_write < WRITE_EVERY_S:
            return
        self._last_write = time.monotonic()
        self.state["updated"] = now()
        self.queue.write_progress(self.job_id, self.state)

    def should_cancel(self) -> bool:
        if not self._cancel and time.monotonic() - self._last_check >= CANCEL_CHECK_EVERY_S:
            self._last_check = time.monotonic()
            self._cancel = self.queue.cancel_requested(self.job_id)
        return self._cancel

    def close(self, final_state: str) -> None:
        """Plans that never finished take the job's final state (cancelled, failed...)."""
        for plan in self.state["plans"]:
            if plan["state"] in (PlanState.QUEUED, PlanState.RUNNING):
                plan.update(state=final_state if plan["state"] == PlanState.RUNNING else PlanState.NOT_RUN,
                            stage=None)
        self.state["stage"] = final_state
        self.write(force=True)


def run_job(queue: JobQueue, job: dict) -> str:
    """Run one claimed job to its end; returns the job's final status."""
    spec = job["spec"]
    settings = RunSettings.from_dict(spec["settings"])
    status, error = JobState.FAILED, None
    progress = None
    try:
        plans = plans_for(spec.get("plans"), spec.get("preset"), settings.device)
        progress = JobProgress(queue, job["job_id"], [str(p) for p in plans])
        prompts = PromptSet.from_dict(spec["prompts"]) if spec.get("prompts") else None
        run(spec["model"], plans, settings, store=queue.store, progress=progress,
            prompts=prompts, should_cancel=progress.should_cancel)
        status = JobState.DONE
    except RunCancelled:
        status = JobState.CANCELLED
    except (PlanError, RunError, ModelError, PromptFileError, ValueError) as failure:
        error = str(failure)
    except Exception as failure:  # the worker must outlive any one job
        error = traceback.format_exception_only(type(failure), failure)[-1].strip()
        traceback.print_exc()
    if progress is not None:
        progress.close(status)
        _close_run(queue.store, progress.run_id)
    queue.finish(job["job_id"], status, error)
    return status


def _close_run(store: Store, run_id: str | None) -> None:
    """A run the pipeline left 'running' (an unexpected error) would read as running forever."""
    if run_id and store.get_run(run_id)["status"] == RunState.RUNNING:
        store.finish_run(run_id, RunState.FAILED)


def _heartbeat(queue: JobQueue, device: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        queue.heartbeat(device)


def serve(device: str, idle_exit_s: float = 300, store_path: Path | None = None) -> int:
    """Run jobs until idle for idle_exit_s seconds; 0 when another worker already serves the device."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    queue = JobQueue(store_path)
    if not queue.register(device):
        print(f"another worker already serves {device}; exiting", flush=True)
        return 0
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(queue, device, stop), daemon=True).start()
    print(f"worker {this_process()} serving {device} jobs from {queue.path}", flush=True)
    idle_since = time.monotonic()
    try:
        while True:
            job = queue.claim(device)
            if job is not None:
                print(f"job {job['job_id']}: started", flush=True)
                print(f"job {job['job_id']}: {run_job(queue, job)}", flush=True)
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_exit_s and queue.retire(device):
                print(f"idle for {idle_exit_s:g} s; exiting", flush=True)
                return 0
            else:
                time.sleep(POLL_S)
    finally:
        stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.worker", description="run queued jobs for one device")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--idle-exit", type=float, default=300, help="exit after this many idle seconds")
    parser.add_argument("--store", type=Path, default=None, help="the runs.sqlite file (default: COMPECON_HOME)")
    args = parser.parse_args(argv)
    return serve(args.device, args.idle_exit, args.store)


if __name__ == "__main__":
    sys.exit(main())
