"""The run store: SQLite in COMPECON_HOME. Each plan's result is written the moment it
finishes, in its own transaction, so a crash loses at most the plan that was running."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from engine.home import home
from engine.settings import PlanState, RunState

HEARTBEAT_MAX_AGE_S = 90  # a worker or run that has not beaten for this long is presumed dead
HEARTBEAT_EVERY_S = 15

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | done | failed | interrupted
    model TEXT NOT NULL,             -- JSON
    device TEXT NOT NULL,            -- JSON
    settings TEXT NOT NULL,          -- JSON
    plans TEXT NOT NULL,             -- JSON list of plan strings, in order
    summary TEXT,                    -- JSON: recommendation and other run-level results
    owner TEXT,                      -- host:pid of the process running it
    heartbeat TEXT,                  -- the owner's last sign of life while running (another host, a reused pid)
    sweep TEXT                       -- the sweep this run is one model of (NULL: a run of its own)
);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY,       -- derived from its inputs: the same sweep again finds its finished cells
    created TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | done | cancelled | failed | interrupted
    spec TEXT NOT NULL,              -- JSON: models, plans, settings, prompts, cluster
    summary TEXT,                    -- JSON: cells, wall time, attempts
    owner TEXT,
    heartbeat TEXT
);
CREATE TABLE IF NOT EXISTS plan_results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,            -- JSON, the plan's entry of the run record
    finished TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS prompt_records (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,       -- the plan's position in the run
    item INTEGER NOT NULL,           -- the prompt's index in its set
    record TEXT NOT NULL,            -- JSON: outputs, correct, per-prompt KL
    PRIMARY KEY (run_id, position, item)
);
CREATE TABLE IF NOT EXISTS prompt_sets (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    content TEXT NOT NULL            -- JSON of the whole set, so a run can be repeated exactly
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def this_process() -> str:
    """host:pid, how the store names the process that owns a run, a job or a worker slot."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


def owner_alive(owner: str | None, heartbeat: str | None = None) -> bool:
    """Whether host:pid still runs: by pid on this host (and a fresh heartbeat, when one is kept),
    else, for another host, by a fresh heartbeat alone (None: presumed alive, nothing to check)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname():
        return pid_alive(int(pid)) and (heartbeat is None or _age_s(heartbeat) < HEARTBEAT_MAX_AGE_S)
    return heartbeat is None or _age_s(heartbeat) < HEARTBEAT_MAX_AGE_S


# SQLite's primary result codes that mean the file system, not the statement, is at fault
_DISK_CODES = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN}


class StoreError(RuntimeError):
    """The store's file cannot be opened or written (a full disk, a read-only folder); the message says what to
    do. Runs already stored are not touched by it."""


def _disk_fault(error: sqlite3.Error) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF in _DISK_CODES


class Store:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else home() / "runs.sqlite"
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                columns = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
                for column in ("heartbeat", "sweep"):  # a store made before heartbeats or sweeps
                    if column not in columns:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
        except StoreError:
            if not self.path.is_file():
                raise  # nothing to read either; a store that exists stays readable below

    def _problem(self, error: sqlite3.Error) -> str:
        free = shutil.disk_usage(self.path.parent).free if self.path.parent.is_dir() else 0
        return (f"the run store {self.path} cannot be written ({error}; {free / 1e6:,.1f} MB free on its disk). "
                "Free some space (`compecon delete RUN` removes a run and its model files) or point COMPECON_HOME "
                "at another folder; stored runs are unchanged")

    def _open(self, read_only: bool) -> sqlite3.Connection:
        """A connection in WAL mode; for reads, when WAL's shared-memory file cannot be made (a full disk), the
        file opened read-only as it is, so listing and reporting still work."""
        try:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as error:
            if not (read_only and _disk_fault(error) and self.path.is_file()):
                raise StoreError(self._problem(error)) from error
            db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        return db

    @contextmanager
    def _connect(self, read_only: bool = False):
        db = self._open(read_only)
        try:
            with db:
                yield db
        except sqlite3.Error as error:
            if _disk_fault(error):
                raise StoreError(self._problem(error)) from error
            raise
        finally:
            db.close()

    def check_writable(self) -> None:
        """Raise StoreError now, before a run spends minutes, when the store could not record it."""
        with self._connect():
            pass

    def create_run(self, model: dict, device: dict, settings: dict, plans: list[str], sweep: str | None = None,
                   run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex[:12]
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, created, status, model, device, settings, plans, summary, owner, heartbeat, "
                "sweep) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, now(), RunState.RUNNING, json.dumps(model), json.dumps(device),
                 json.dumps(settings), json.dumps(plans), None, this_process(), now(), sweep),
            )
        return run_id

    def resume_run(self, run_id: str) -> None:
        """This process takes over a run again (a sweep re-run filling its missing cells)."""
        with self._connect() as db:
            db.execute("UPDATE runs SET status=?, owner=?, heartbeat=? WHERE run_id=?",
                       (RunState.RUNNING, this_process(), now(), run_id))

    def start_sweep(self, sweep_id: str, spec: dict) -> bool:
        """Record a sweep as running in this process; False when it was stored before (a re-run)."""
        with self._connect() as db:
            known = db.execute("SELECT 1 FROM sweeps WHERE sweep_id=?", (sweep_id,)).fetchone() is not None
            if known:
                db.execute("UPDATE sweeps SET status=?, owner=?, heartbeat=? WHERE sweep_id=?",
                           (RunState.RUNNING, this_process(), now(), sweep_id))
            else:
                db.execute("INSERT INTO sweeps VALUES (?,?,?,?,?,?,?)",
                           (sweep_id, now(), RunState.RUNNING, json.dumps(spec), None, this_process(), now()))
        return not known

    def finish_sweep(self, sweep_id: str, status: str, summary: dict) -> None:
        with self._connect() as db:
            db.execute("UPDATE sweeps SET status=?, summary=? WHERE sweep_id=?",
                       (status, json.dumps(summary), sweep_id))

    def sweep_runs(self, sweep_id: str) -> dict[str, str]:
        """{model spec: run id} of a sweep's runs (one per model)."""
        with self._connect(read_only=True) as db:
            rows = db.execute("SELECT run_id, settings FROM runs WHERE sweep=? ORDER BY created, rowid",
                              (sweep_id,)).fetchall()
        return {json.loads(r["settings"])["sweep"]["model_spec"]: r["run_id"] for r in rows}

    def _sweep(self, row) -> dict:
        return {"sweep_id": row["sweep_id"], "created": row["created"], "status": self._status(row),
                "spec": json.loads(row["spec"]), **(json.loads(row["summary"]) if row["summary"] else {})}

    def list_sweeps(self) -> list[dict]:
        with self._connect(read_only=True) as db:
            rows = db.execute("SELECT * FROM sweeps ORDER BY created DESC, rowid DESC").fetchall()
        return [self._sweep(r) for r in rows]

    def _resolve(self, table: str, key: str, prefix: str, what: str) -> str:
        """The one id of `table` a unique prefix names; KeyError when none or several do."""
        with self._connect(read_only=True) as db:
            rows = db.execute(f"SELECT {key} FROM {table} WHERE {key} LIKE ?", (prefix + "%",)).fetchall()
        if len(rows) != 1:
            raise KeyError(f"no {what} matches '{prefix}'" if not rows else f"'{prefix}' matches several {what}s")
        return rows[0][key]

    def resolve_sweep(self, prefix: str) -> str:
        """The sweep id a unique prefix names (KeyError otherwise), as resolve_id does for runs."""
        return self._resolve("sweeps", "sweep_id", prefix, "sweep")

    def get_sweep(self, sweep_id: str) -> dict:
        """A sweep with its runs' records, one per model, in the order they were started."""
        sweep_id = self.resolve_sweep(sweep_id)
        with self._connect(read_only=True) as db:
            sweep = self._sweep(db.execute("SELECT * FROM sweeps WHERE sweep_id=?", (sweep_id,)).fetchone())
        return {**sweep, "runs": [self.get_run(run_id) for run_id in self.sweep_runs(sweep_id).values()]}

    @contextmanager
    def heartbeat(self, run_ids: str | set[str], every_s: float = HEARTBEAT_EVERY_S, sweep: str | None = None):
        """Beat for a running run (or a set of them, which may grow, and their sweep) in a background thread, so a
        reader on another host, or after this pid is reused, can tell it is still alive (a plan can run for
        minutes without storing anything)."""
        stop = threading.Event()
        ids = {run_ids} if isinstance(run_ids, str) else run_ids

        def beat():
            while not stop.wait(every_s):
                try:
                    with self._connect() as db:
                        stamp = now()
                        db.executemany("UPDATE runs SET heartbeat=? WHERE run_id=?", [(stamp, i) for i in list(ids)])
                        if sweep:
                            db.execute("UPDATE sweeps SET heartbeat=? WHERE sweep_id=?", (stamp, sweep))
                except (StoreError, sqlite3.Error):
                    pass  # a missed beat only ages the last one

        thread = threading.Thread(target=beat, name="store-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def add_plan_result(self, run_id: str, position: int, record: dict, prompt_records=()) -> None:
        """The plan's result and its per-prompt records, in one transaction."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO plan_results VALUES (?,?,?,?,?,?)",
                (run_id, position, record["plan"], record["status"], json.dumps(record), now()),
            )
            db.executemany("INSERT OR REPLACE INTO prompt_records VALUES (?,?,?,?)",
                           [(run_id, position, r["index"], json.dumps(r)) for r in prompt_records])

    def save_prompt_set(self, prompt_set) -> str:
        data = prompt_set.to_dict()
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO prompt_sets VALUES (?,?,?,?)",
                       (prompt_set.sha256, prompt_set.name, len(prompt_set), json.dumps(data)))
        return prompt_set.sha256

    def get_prompt_set(self, sha256: str) -> dict:
        with self._connect(read_only=True) as db:
            row = db.execute("SELECT content FROM prompt_sets WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise KeyError(f"no prompt set {sha256}")
        return json.loads(row["content"])

    def prompt_records(self, run_id: str, position: int | None = None) -> list[dict]:
        """Per-prompt records of a run (one plan's, or all with their plan position)."""
        query, args = "SELECT position, record FROM prompt_records WHERE run_id=?", [self.resolve_id(run_id)]
        if position is not None:
            query, args = query + " AND position=?", args + [position]
        with self._connect(read_only=True) as db:
            rows = db.execute(query + " ORDER BY position, item", args).fetchall()
        return [{"position": r["position"], **json.loads(r["record"])} for r in rows]

    def finish_run(self, run_id: str, status: str, summary: dict | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET status=?, summary=? WHERE run_id=?",
                       (status, json.dumps(summary or {}), run_id))

    def _status(self, row) -> str:
        """A run still marked running whose process is gone (or has not beaten for a while) was interrupted."""
        if row["status"] != RunState.RUNNING or not row["owner"] or owner_alive(row["owner"], row["heartbeat"]):
            return row["status"]
        return RunState.INTERRUPTED

    def list_runs(self) -> list[dict]:
        with self._connect(read_only=True) as db:
            rows = db.execute("SELECT * FROM runs ORDER BY created DESC, rowid DESC").fetchall()
            counts = dict(db.execute(
                "SELECT run_id, COUNT(*) FROM plan_results GROUP BY run_id").fetchall())
        return [
            {"run_id": r["run_id"], "created": r["created"], "status": self._status(r), "sweep": r["sweep"],
             "model": json.loads(r["model"])["name"], "plans": json.loads(r["plans"]),
             "finished_plans": counts.get(r["run_id"], 0),
             "recommendation": (json.loads(r["summary"]) if r["summary"] else {}).get("recommendation")}
            for r in rows
        ]

    def resolve_id(self, prefix: str) -> str:
        return self._resolve("runs", "run_id", prefix, "run")

    def get_run(self, run_id: str) -> dict:
        """The run record (the CLI's --json contract), with plans in order."""
        run_id = self.resolve_id(run_id)
        with self._connect(read_only=True) as db:
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            results = db.execute(
                "SELECT position, record FROM plan_results WHERE run_id=? ORDER BY position", (run_id,)
            ).fetchall()
        done = {r["position"]: json.loads(r["record"]) for r in results}
        status = self._status(row)
        plans = []
        running = min((p for p in range(len(json.loads(row["plans"]))) if p not in done), default=None)
        for position, plan in enumerate(json.loads(row["plans"])):
            if position in done:
                plans.append(done[position])
            elif status == RunState.RUNNING:
                plans.append({"plan": plan, "status": PlanState.PENDING, "error": None})
            elif status == RunState.INTERRUPTED and position == running:
                plans.append({"plan": plan, "status": PlanState.INTERRUPTED,
                              "error": "the process running it stopped (killed, crashed or its machine went down)"})
            else:
                plans.append({"plan": plan, "status": PlanState.NOT_RUN,
                              "error": f"never started: the run was {status} before it"})
        summary = json.loads(row["summary"]) if row["summary"] else {}
        return {"run_id": run_id, "created": row["created"], "status": status,
                "model": json.loads(row["model"]), "device": json.loads(row["device"]),
                "settings": json.loads(row["settings"]), "plans": plans, "sweep": row["sweep"], **summary}

    def delete_run(self, run_id: str) -> int:
        """Delete a run, its per-prompt records and its saved model files (artifacts/RUN beside the store, where
        the pipeline writes them); returns the bytes freed on disk. Callers refuse a run still going."""
        run_id = self.resolve_id(run_id)
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
        files = self.path.parent / "artifacts" / run_id
        freed = sum(f.stat().st_size for f in files.rglob("*") if f.is_file()) if files.is_dir() else 0
        shutil.rmtree(files, ignore_errors=True)
        return freed


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
