"""The job queue behind the dashboard: runs are submitted as rows in the store's SQLite file and
executed by a separate worker process (engine/worker.py), one running job per device.

The web server only inserts rows, reads them and starts a worker; it never runs a model or
touches CUDA. Everything here is plain SQLite, so a reload, a second tab or a restarted
server reads the same state. `python -m engine.jobs worker --device cpu` runs a worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from engine.store import Store, now, pid_alive

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")
HEARTBEAT_MAX_AGE_S = 90  # a worker that has not beaten for this long is presumed dead
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class JobError(ValueError):
    """A job that cannot be submitted; the message says what to change."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


def owner_alive(owner: str | None, heartbeat: str | None = None) -> bool:
    """Whether host:pid still runs: by pid on this host, else by a fresh heartbeat."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname():
        return pid_alive(int(pid)) and (heartbeat is None or _age_s(heartbeat) < HEARTBEAT_MAX_AGE_S)
    return _age_s(heartbeat) < HEARTBEAT_MAX_AGE_S


def detect_devices() -> list[str]:
    """Devices a worker can use, found without importing torch or touching CUDA in this process."""
    gpus = Path("/proc/driver/nvidia/gpus")
    has_gpu = gpus.is_dir() and any(gpus.iterdir())
    return ["cpu", "cuda"] if has_gpu else ["cpu"]


def check_spec(spec: dict) -> None:
    """Refuse a spec that could never run (bad plan, setting or prompts) before it is queued."""
    from engine.evaluation.prompts import PromptSet
    from engine.evaluation.verdict import Tolerance
    from engine.pipeline import RunSettings, plans_for

    if not spec.get("model"):
        raise JobError("no model given")
    settings = spec.get("settings") or {}
    unknown = set(settings) - set(RunSettings.__dataclass_fields__)
    if unknown:
        raise JobError(f"unknown settings: {', '.join(sorted(unknown))}")
    if settings.get("device") not in ("cpu", "cuda"):
        raise JobError("the job's device must be cpu or cuda")
    plans_for(spec.get("plans"), spec.get("preset"), settings["device"])  # raises PlanError / RunError
    if settings.get("primary"):
        Tolerance(settings["primary"], settings.get("tolerance_pct", 1.0))
    if spec.get("prompts") is not None:
        PromptSet.from_dict(spec["prompts"])


def _job(row) -> dict:
    job = dict(row)
    for key in ("spec", "progress"):
        job[key] = json.loads(job[key]) if job[key] else ({} if key == "progress" else None)
    job["cancel_requested"] = bool(job["cancel_requested"])
    if job["status"] == "running" and not owner_alive(job["worker"]):
        job["status"] = "interrupted"  # its worker died; the run's unfinished plan reads the same
    return job


class JobQueue:
    """The jobs table of one store file."""

    def __init__(self, path: Path | None = None):
        self.store = Store(path)
        self.path = self.store.path

    def connect(self):
        return self.store._connect()

    def submit(self, spec: dict, client_token: str | None = None) -> str:
        """Queue a run; the same client_token always gives the same job (double clicks, reloads)."""
        check_spec(spec)
        token = client_token or uuid.uuid4().hex
        with self.connect() as db:
            db.execute("INSERT INTO jobs (job_id, created, device, status, spec, client_token) VALUES (?,?,?,?,?,?) "
                       "ON CONFLICT(client_token) DO NOTHING",
                       (uuid.uuid4().hex[:12], now(), spec["settings"]["device"], "queued", json.dumps(spec), token))
            return db.execute("SELECT job_id FROM jobs WHERE client_token=?", (token,)).fetchone()["job_id"]

    def get_job(self, job_id: str) -> dict:
        with self.connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return _job(row)

    def list_jobs(self, statuses: tuple[str, ...] | None = None, limit: int = 50) -> list[dict]:
        """Newest first; statuses filter on the stored status (queued/running/...)."""
        query, args = "SELECT * FROM jobs", []
        if statuses:
            query += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args = list(statuses)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY rowid DESC LIMIT ?", args + [limit]).fetchall()
        return [_job(r) for r in rows]

    def active_job(self) -> dict | None:
        """The newest job still queued or running, if any."""
        jobs = [j for j in self.list_jobs(ACTIVE) if j["status"] in ACTIVE]
        return jobs[0] if jobs else None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to run on its device, 2 behind it...; None once it is not queued."""
        with self.connect() as db:
            row = db.execute("SELECT rowid, device, status FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return None
            ahead = db.execute("SELECT COUNT(*) FROM jobs WHERE device=? AND status='queued' AND rowid<?",
                               (row["device"], row["rowid"])).fetchone()[0]
        return ahead + 1

    def request_cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one stops at its worker's next check."""
        with self.connect() as db:
            db.execute("UPDATE jobs SET cancel_requested=1 WHERE job_id=?", (job_id,))
            db.execute("UPDATE jobs SET status='cancelled', finished=? WHERE job_id=? AND status='queued'",
                       (now(), job_id))
        return self.get_job(job_id)["status"]

    def cancel_requested(self, job_id: str) -> bool:
        with self.connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    def worker_alive(self, device: str) -> bool:
        with self.connect() as db:
            row = db.execute("SELECT worker, heartbeat FROM workers WHERE device=?", (device,)).fetchone()
        return bool(row) and owner_alive(row["worker"], row["heartbeat"])

    def ensure_worker(self, device: str, idle_exit_s: float = 300) -> int | None:
        """Start a detached worker for the device unless a live one is registered; its pid if started.

        The check and the registration happen in one write transaction, so two tabs (or two
        servers) never start two workers; the worker itself re-checks when it starts.
        """
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT worker, heartbeat FROM workers WHERE device=?", (device,)).fetchone()
            if row and owner_alive(row["worker"], row["heartbeat"]):
                return None
            pid = spawn_worker(device, self.path, idle_exit_s)
            db.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?)",
                       (device, f"{socket.gethostname()}:{pid}", now()))
        return pid


def spawn_worker(device: str, store_path: Path, idle_exit_s: float) -> int:
    """A fresh Python process (never a fork of the caller), in its own session so it outlives the server."""
    logs = Path(store_path).parent / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "COMPECON_HOME": str(Path(store_path).parent)}
    with open(logs / f"worker-{device}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.jobs", "worker", "--device", device, "--idle-exit", str(idle_exit_s),
             "--store", str(store_path)],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    threading.Thread(target=process.wait, daemon=True).start()  # reap it, so a dead worker is no zombie
    return process.pid


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run queued jobs for one device")
    worker.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    worker.add_argument("--idle-exit", type=float, default=300, help="exit after this many idle seconds")
    worker.add_argument("--store", type=Path, default=None, help="the runs.sqlite file (default: COMPECON_HOME)")
    args = parser.parse_args(argv)
    from engine.worker import serve

    return serve(args.device, args.idle_exit, args.store)


if __name__ == "__main__":
    sys.exit(main())
