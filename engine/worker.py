"""The worker process: claims queued jobs for one device and runs them through the pipeline (a sweep job
through engine/sweep.py on a local Ray), writing progress to the job row so any page, in any tab, can follow it.

One worker per device (registered in the `workers` table); one job at a time. Progress
writes and cancel checks are throttled so a fast stream of events never hammers SQLite.
`python -m engine.worker --device cpu` (or `compecon worker`) runs one; the dashboard starts
one by itself when a job is queued, and it exits after `--idle-exit` seconds (300) without a queued
job, so it outlives a stopped `compecon ui` by up to that long.

The worker makes room for the web server on the same machine (pages opened during a 16-prompt run on
2 cores took 104-118 s to become usable when it ran at the server's priority on every core): it lowers
its own CPU priority (nice +10, applied in the process itself, however it was started; and its session
group's, under Linux's autogroup scheduling, when it leads a session as the dashboard starts it) and runs
torch, and llama.cpp when a job leaves `threads` unset, on one core fewer than the machine has.
bench/dashboard_load.py measures the effect (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from engine.evaluation.prompts import PromptFileError, PromptSet
from engine.jobs import JobQueue, is_sweep
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
NICE = 10  # the worker's CPU priority: below the web server's (0), so pages stay usable while a job runs
IDLE_EXIT_S = 300.0
AUTOGROUP = Path("/proc/self/autogroup")


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_threads() -> int:
    """Compute threads of a worker: one core fewer than the machine has, left to the web server."""
    return max(1, cores() - 1)


def make_room(nice: int = NICE, threads: int | None = None) -> dict:
    """Lower this process's CPU priority to `nice` (never raise it: an already nicer process stays so) and
    set torch's intra-op threads; returns what the worker now runs with."""
    current = os.nice(0)
    if nice > current:
        try:
            current = os.nice(nice - current)
        except OSError:  # a platform without nice: run at the priority it has
            pass
    threads = threads or worker_threads()
    torch.set_num_threads(threads)
    return {"nice": current, "autogroup_nice": _autogroup_nice(nice), "threads": torch.get_num_threads(),
            "cores": cores()}


def _autogroup_nice(nice: int) -> int | None:
    """Linux's autogroup scheduling (sched_autogroup_enabled, on by default in many kernels) shares the CPU
    between sessions first: a process's own nice then weighs only against its session. A worker the
    dashboard starts leads a session of its own (spawn_worker), so it sets its session group's nice too; it
    measured no lower priority without this. A worker started by hand in a terminal shares the terminal's
    group, which is left alone. The group's nice, or None where there is none to set."""
    if not hasattr(os, "getsid") or os.getsid(0) != os.getpid():
        return None
    current = autogroup_nice()
    if current is not None and nice > current:
        try:
            AUTOGROUP.write_text(str(nice))
        except OSError:
            pass
    return autogroup_nice()


def autogroup_nice() -> int | None:
    """This process's session group's nice (None without autogroup scheduling)."""
    try:
        return int(AUTOGROUP.read_text().rsplit("nice", 1)[1]) if AUTOGROUP.exists() else None
    except (OSError, ValueError, IndexError):
        return None


class JobProgress:
    """The pipeline's progress callable and should_cancel for one job."""

    def __init__(self, queue: JobQueue, job_id: str, plans: list[str], worker: dict | None = None):
        self.queue, self.job_id = queue, job_id
        self.state = {"worker": worker or {},  # the worker's nice, threads and cores: what the job ran with
                      "plans": [{"plan": p, "state": PlanState.QUEUED, "stage": None, "message": "", "seconds": None}
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


class SweepProgress(JobProgress):
    """A sweep job's progress: the sweep's id once it exists, its driver's lines, and cells landed of all; the cells
    themselves are read from the store (the Sweeps page). A cancel is honoured at the sweep's next line by raising
    RunCancelled out of it: its local Ray stops with it, and the cells already stored stay."""

    def __init__(self, queue: JobQueue, job_id: str, models: list[str], plans: int, worker: dict | None = None):
        self.sweep_id: str | None = None
        super().__init__(queue, job_id, [], worker)
        self.state.update(sweep=None, models=list(models), cells=len(models) * plans, cells_done=0,
                          stage="starting a local Ray")
        self.write(force=True)

    def __call__(self, event) -> None:
        if self.should_cancel():
            raise RunCancelled("the sweep was cancelled; the cells measured before are kept")
        text = str(getattr(event, "message", event) or "").strip()
        if isinstance(event, RunEvent) and event.state == "created":
            self.sweep_id = self.state["sweep"] = event.run_id  # a sweep's events carry its id there
        landed = re.match(r"\[(\d+)/(\d+)\]", text)  # "[3/6] model × plan: ok in 2 s"
        if landed:
            self.state.update(cells_done=int(landed[1]), cells=int(landed[2]))
        if text:
            self._message(text)
            self.state["stage"] = text
        self.write(force=isinstance(event, RunEvent) or bool(landed))


def run_job(queue: JobQueue, job: dict) -> str:
    """Run one claimed job, a run or a sweep, to its end; returns the job's final status. A job that leaves
    llama.cpp's `threads` unset (all cores) runs it on the worker's threads, one core fewer, as torch does here;
    the run's settings record the number used. A sweep runs through engine.sweep on a local Ray of the worker's
    cores (a cell takes them all, so cells never time each other), at the worker's priority."""
    spec = job["spec"]
    settings = RunSettings.from_dict(spec["settings"])
    if settings.threads is None:
        settings = replace(settings, threads=torch.get_num_threads())
    status, error, progress = JobState.FAILED, None, None
    try:
        plans = plans_for(spec.get("plans"), spec.get("preset"), settings.device)
        worker = {"nice": os.nice(0), "autogroup_nice": autogroup_nice(), "threads": torch.get_num_threads(),
                  "llamacpp_threads": settings.threads, "cores": cores()}
        if is_sweep(spec):
            progress = SweepProgress(queue, job["job_id"], spec["models"], len(plans),
                                     {**worker, "ray_cpus": worker_threads()})
        else:
            progress = JobProgress(queue, job["job_id"], [str(p) for p in plans], worker)
        prompts = PromptSet.from_dict(spec["prompts"]) if spec.get("prompts") else None
        if is_sweep(spec):
            from engine.sweep import Cluster, sweep

            sweep(spec["models"], plans, settings, prompts, Cluster(cpus=worker_threads()), queue.store, progress)
        else:
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
        if isinstance(progress, SweepProgress):
            _close_sweep(queue.store, progress.sweep_id, status)
        else:
            _close_run(queue.store, progress.run_id)
    queue.finish(job["job_id"], status, error)
    return status


def _close_sweep(store: Store, sweep_id: str | None, status: str) -> None:
    """A sweep stopped midway (cancelled, an error) would read as running until its heartbeat aged: it and its
    unfinished runs take the job's final state; their stored cells stay."""
    if not sweep_id:
        return
    sweep = store.get_sweep(sweep_id)
    if sweep["status"] != RunState.RUNNING:
        return
    final = RunState.CANCELLED if status == JobState.CANCELLED else RunState.FAILED
    for record in sweep["runs"]:
        if record["status"] == RunState.RUNNING:
            store.finish_run(record["run_id"], final)
    summary = {k: v for k, v in sweep.items() if k not in ("sweep_id", "created", "status", "spec", "runs")}
    store.finish_sweep(sweep_id, final, summary)


def _close_run(store: Store, run_id: str | None) -> None:
    """A run the pipeline left 'running' (an unexpected error) would read as running forever."""
    if run_id and store.get_run(run_id)["status"] == RunState.RUNNING:
        store.finish_run(run_id, RunState.FAILED)


def _heartbeat(queue: JobQueue, device: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        queue.heartbeat(device)


def serve(device: str, idle_exit_s: float = IDLE_EXIT_S, store_path: Path | None = None, nice: int = NICE,
          threads: int | None = None) -> int:
    """Run jobs until idle for idle_exit_s seconds; 0 when another worker already serves the device.
    Runs at CPU priority `nice` with `threads` torch threads (default: cores - 1), see make_room."""
    room = make_room(nice, threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    queue = JobQueue(store_path)
    if not queue.register(device):
        print(f"another worker already serves {device}; exiting", flush=True)
        return 0
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(queue, device, stop), daemon=True).start()
    group = f" (session group nice {room['autogroup_nice']})" if room["autogroup_nice"] is not None else ""
    print(f"worker {this_process()} serving {device} jobs from {queue.path} at nice {room['nice']}{group} with "
          f"{room['threads']} of {room['cores']} cores; exits after {idle_exit_s:g} s without a queued job",
          flush=True)
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
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT_S,
                        help="exit after this many seconds without a queued job (default: %(default)g)")
    parser.add_argument("--store", type=Path, default=None, help="the runs.sqlite file (default: COMPECON_HOME)")
    parser.add_argument("--nice", type=int, default=NICE,
                        help="CPU priority to run at, below the web server's (default: %(default)s; never raised)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads, and llama.cpp's for jobs that leave them unset (default: cores - 1)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return serve(args.device, args.idle_exit, args.store, args.nice, args.threads)


if __name__ == "__main__":
    sys.exit(main())
