"""The job queue behind the dashboard: runs (and sweeps, whose spec names several models) are submitted as rows
in the store's SQLite file and executed by a separate worker process (engine/worker.py), one running job per device.

Every statement on the `jobs` and `workers` tables lives here, the schema included. The web
server only inserts rows, reads them and starts a worker; it never runs a model or touches CUDA.
Everything is plain SQLite, so a reload, a second tab or a restarted server reads the same state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from engine.evaluation.prompts import PromptSet
from engine.evaluation.verdict import Tolerance
from engine.home import PROJECT_ROOT
from engine.settings import ACTIVE_JOBS, JobState, RunSettings, check_split, plans_for
from engine.store import Store, now, owner_alive, this_process

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    device TEXT NOT NULL,            -- cpu | cuda: one running job per device
    status TEXT NOT NULL,            -- queued | running | done | failed | cancelled | interrupted
    spec TEXT NOT NULL,              -- JSON: model (or a sweep's models), plans, settings, prompts
    run_id TEXT,                     -- known as soon as the run exists in the store
    worker TEXT,                     -- host:pid of the worker running it
    progress TEXT,                   -- JSON: plan states, stage, prompt progress, messages
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    client_token TEXT UNIQUE,        -- one job per submission, however often it is sent
    started TEXT,
    finished TEXT
);
CREATE TABLE IF NOT EXISTS workers (
    device TEXT PRIMARY KEY,
    worker TEXT NOT NULL,            -- host:pid
    heartbeat TEXT NOT NULL
);
"""
ACTIVE = ACTIVE_JOBS
FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)


class JobError(ValueError):
    """A job that cannot be submitted; the message says what to change."""


def detect_devices() -> list[str]:
    """Devices a worker can use, found without importing torch or touching CUDA in this process."""
    gpus = Path("/proc/driver/nvidia/gpus")
    has_gpu = gpus.is_dir() and any(gpus.iterdir())
    return ["cpu", "cuda"] if has_gpu else ["cpu"]


def is_sweep(spec: dict) -> bool:
    """A sweep job names its models in "models" (run by engine/sweep.py on a local Ray); a run job one "model"."""
    return "models" in spec


def _check_models(spec: dict) -> None:
    """A sweep's models: a list of distinct specs, each one that could load (checked without loading it)."""
    from engine.models import check_spec as check_model

    models = spec["models"]
    if spec.get("model"):
        raise JobError("a sweep names its models in 'models' only, not also 'model'")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise JobError("a sweep needs a list of model specs")
    if len(set(models)) != len(models):
        raise JobError("a model is given twice; give each model once")
    for model in models:
        check_model(model)  # raises ModelError naming the model


def check_spec(spec: dict) -> None:
    """Refuse a spec that could never run (bad model list, plan, setting or prompts) before it is queued."""
    if is_sweep(spec):
        _check_models(spec)
    elif not spec.get("model"):
        raise JobError("no model given")
    settings = spec.get("settings") or {}
    unknown = set(settings) - set(RunSettings.__dataclass_fields__)
    if unknown:
        raise JobError(f"unknown settings: {', '.join(sorted(unknown))}")
    if settings.get("device") not in ("cpu", "cuda"):
        raise JobError("the job's device must be cpu or cuda")
    RunSettings.from_dict(settings)  # raises SettingError naming the setting
    plans = plans_for(spec.get("plans"), spec.get("preset"), settings["device"])  # raises PlanError / RunError
    check_split(plans, RunSettings.from_dict(settings))
    if settings.get("primary"):
        Tolerance(settings["primary"], settings.get("tolerance_pct", 1.0))
    if spec.get("prompts") is not None:
        PromptSet.from_dict(spec["prompts"])


def _job(row) -> dict:
    job = dict(row)
    for key in ("spec", "progress"):
        job[key] = json.loads(job[key]) if job[key] else ({} if key == "progress" else None)
    job["cancel_requested"] = bool(job["cancel_requested"])
    if job["status"] == JobState.RUNNING and not owner_alive(job["worker"]):
        job["status"] = JobState.INTERRUPTED  # its worker died; the run's unfinished plan reads the same
    return job


class JobQueue:
    """The jobs and workers tables of one store file."""

    def __init__(self, path: Path | None = None):
        self.store = Store(path)
        self.path = self.store.path
        with self.connect() as db:
            db.executescript(SCHEMA)
            columns = [row["name"] for row in db.execute("PRAGMA table_info(jobs)")]
        # What a read selects, with or without the spec's prompt set (cut out in SQLite). The dashboard polls jobs
        # every few seconds from every open tab and never shows the prompts, which can be megabytes of upload.
        self._select = {True: "*", False: ", ".join("json_remove(spec, '$.prompts') AS spec" if name == "spec"
                                                    else name for name in columns)}

    def connect(self):
        return self.store._connect()

    # --- the dashboard's side: submit, read, cancel, start a worker ---

    def submit(self, spec: dict, client_token: str | None = None) -> str:
        """Queue a run; the same client_token always gives the same job (double clicks, reloads)."""
        check_spec(spec)
        token = client_token or uuid.uuid4().hex
        with self.connect() as db:
            db.execute("INSERT INTO jobs (job_id, created, device, status, spec, client_token) VALUES (?,?,?,?,?,?) "
                       "ON CONFLICT(client_token) DO NOTHING",
                       (uuid.uuid4().hex[:12], now(), spec["settings"]["device"], JobState.QUEUED, json.dumps(spec),
                        token))
            return db.execute("SELECT job_id FROM jobs WHERE client_token=?", (token,)).fetchone()["job_id"]

    def get_job(self, job_id: str, prompts: bool = True) -> dict:
        """The job; prompts=False leaves the prompt set out of its spec (see __init__)."""
        with self.connect() as db:
            row = db.execute(f"SELECT {self._select[prompts]} FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id}")
        return _job(row)

    def list_jobs(self, statuses: tuple[str, ...] | None = None, limit: int = 50, prompts: bool = True) -> list[dict]:
        """Newest first; statuses filter on the stored status (queued/running/...)."""
        query, args = f"SELECT {self._select[prompts]} FROM jobs", []
        if statuses:
            query += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args = list(statuses)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY rowid DESC LIMIT ?", args + [limit]).fetchall()
        return [_job(r) for r in rows]

    def active_job(self, prompts: bool = True) -> dict | None:
        """The newest job still queued or running, if any."""
        jobs = [j for j in self.list_jobs(ACTIVE, prompts=prompts) if j["status"] in ACTIVE]
        return jobs[0] if jobs else None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to run on its device, 2 behind it...; None once it is not queued."""
        with self.connect() as db:
            row = db.execute("SELECT rowid, device, status FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None or row["status"] != JobState.QUEUED:
                return None
            ahead = db.execute("SELECT COUNT(*) FROM jobs WHERE device=? AND status=? AND rowid<?",
                               (row["device"], JobState.QUEUED, row["rowid"])).fetchone()[0]
        return ahead + 1

    def request_cancel(self, job_id: str) -> str:
        """A queued job is cancelled at once; a running one stops at its worker's next check."""
        with self.connect() as db:
            db.execute("UPDATE jobs SET cancel_requested=1 WHERE job_id=?", (job_id,))
            db.execute("UPDATE jobs SET status=?, finished=? WHERE job_id=? AND status=?",
                       (JobState.CANCELLED, now(), job_id, JobState.QUEUED))
        return self.get_job(job_id, prompts=False)["status"]

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
            host = this_process().rpartition(":")[0]
            db.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?)", (device, f"{host}:{pid}", now()))
        return pid

    # --- the worker's side: register, claim, report, finish, retire ---

    def register(self, device: str) -> bool:
        """Become the device's worker unless another live one is; mark its dead predecessor's job interrupted."""
        me = this_process()
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT worker, heartbeat FROM workers WHERE device=?", (device,)).fetchone()
            if row and row["worker"] != me and owner_alive(row["worker"], row["heartbeat"]):
                return False
            db.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?)", (device, me, now()))
            running = db.execute("SELECT job_id, worker FROM jobs WHERE device=? AND status=?",
                                 (device, JobState.RUNNING))
            for job in running.fetchall():
                if not owner_alive(job["worker"]):
                    db.execute("UPDATE jobs SET status=?, finished=? WHERE job_id=?",
                               (JobState.INTERRUPTED, now(), job["job_id"]))
        return True

    def claim(self, device: str) -> dict | None:
        """Take the oldest queued job for the device, atomically."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT job_id FROM jobs WHERE device=? AND status=? ORDER BY rowid LIMIT 1",
                             (device, JobState.QUEUED)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status=?, worker=?, started=? WHERE job_id=?",
                       (JobState.RUNNING, this_process(), now(), row["job_id"]))
        return self.get_job(row["job_id"])

    def cancel_requested(self, job_id: str) -> bool:
        with self.connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    def set_run(self, job_id: str, run_id: str) -> None:
        with self.connect() as db:
            db.execute("UPDATE jobs SET run_id=? WHERE job_id=?", (run_id, job_id))

    def write_progress(self, job_id: str, progress: dict) -> None:
        with self.connect() as db:
            db.execute("UPDATE jobs SET progress=? WHERE job_id=?", (json.dumps(progress), job_id))

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        with self.connect() as db:
            db.execute("UPDATE jobs SET status=?, error=?, finished=? WHERE job_id=?", (status, error, now(), job_id))

    def heartbeat(self, device: str) -> None:
        with self.connect() as db:
            db.execute("UPDATE workers SET heartbeat=? WHERE device=? AND worker=?", (now(), device, this_process()))

    def retire(self, device: str) -> bool:
        """Deregister when nothing is queued; in one transaction, so a job submitted meanwhile is never orphaned."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM jobs WHERE device=? AND status=?", (device, JobState.QUEUED)).fetchone():
                return False
            db.execute("DELETE FROM workers WHERE device=? AND worker=?", (device, this_process()))
        return True


def spawn_worker(device: str, store_path: Path, idle_exit_s: float) -> int:
    """A fresh Python process (never a fork of the caller), in its own session so it outlives the server."""
    logs = Path(store_path).parent / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "COMPECON_HOME": str(Path(store_path).parent)}
    with open(logs / f"worker-{device}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.worker", "--device", device, "--idle-exit", str(idle_exit_s),
             "--store", str(store_path)],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    threading.Thread(target=process.wait, daemon=True).start()  # reap it, so a dead worker is no zombie
    return process.pid
