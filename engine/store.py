"""The run store: SQLite in COMPECON_HOME. Each plan's result is written the moment it
finishes, in its own transaction, so a crash loses at most the plan that was running."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from engine.home import home
from engine.settings import PlanState, RunState

HEARTBEAT_MAX_AGE_S = 90  # a worker that has not beaten for this long is presumed dead

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
    owner TEXT                       -- host:pid of the process running it
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


class Store:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else home() / "runs.sqlite"
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        try:
            with db:
                yield db
        finally:
            db.close()

    def create_run(self, model: dict, device: dict, settings: dict, plans: list[str]) -> str:
        run_id = uuid.uuid4().hex[:12]
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, now(), RunState.RUNNING, json.dumps(model), json.dumps(device),
                 json.dumps(settings), json.dumps(plans), None, this_process()),
            )
        return run_id

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
        with self._connect() as db:
            row = db.execute("SELECT content FROM prompt_sets WHERE sha256=?", (sha256,)).fetchone()
        if row is None:
            raise KeyError(f"no prompt set {sha256}")
        return json.loads(row["content"])

    def prompt_records(self, run_id: str, position: int | None = None) -> list[dict]:
        """Per-prompt records of a run (one plan's, or all with their plan position)."""
        query, args = "SELECT position, record FROM prompt_records WHERE run_id=?", [self.resolve_id(run_id)]
        if position is not None:
            query, args = query + " AND position=?", args + [position]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY position, item", args).fetchall()
        return [{"position": r["position"], **json.loads(r["record"])} for r in rows]

    def finish_run(self, run_id: str, status: str, summary: dict | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET status=?, summary=? WHERE run_id=?",
                       (status, json.dumps(summary or {}), run_id))

    def _status(self, row) -> str:
        """A run still marked running whose process is gone was interrupted."""
        if row["status"] != RunState.RUNNING or not row["owner"] or owner_alive(row["owner"]):
            return row["status"]
        return RunState.INTERRUPTED

    def list_runs(self) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY created DESC, rowid DESC").fetchall()
            counts = dict(db.execute(
                "SELECT run_id, COUNT(*) FROM plan_results GROUP BY run_id").fetchall())
        return [
            {"run_id": r["run_id"], "created": r["created"], "status": self._status(r),
             "model": json.loads(r["model"])["name"], "plans": json.loads(r["plans"]),
             "finished_plans": counts.get(r["run_id"], 0),
             "recommendation": (json.loads(r["summary"]) if r["summary"] else {}).get("recommendation")}
            for r in rows
        ]

    def resolve_id(self, prefix: str) -> str:
        with self._connect() as db:
            rows = db.execute("SELECT run_id FROM runs WHERE run_id LIKE ?", (prefix + "%",)).fetchall()
        if len(rows) != 1:
            raise KeyError(f"no run matches '{prefix}'" if not rows else f"'{prefix}' matches several runs")
        return rows[0]["run_id"]

    def get_run(self, run_id: str) -> dict:
        """The run record (the CLI's --json contract), with plans in order."""
        run_id = self.resolve_id(run_id)
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            results = db.execute(
                "SELECT position, record FROM plan_results WHERE run_id=? ORDER BY position", (run_id,)
            ).fetchall()
        done = {r["position"]: json.loads(r["record"]) for r in results}
        status = self._status(row)
        plans = []
        for position, plan in enumerate(json.loads(row["plans"])):
            if position in done:
                plans.append(done[position])
            else:
                pending = {RunState.INTERRUPTED: PlanState.INTERRUPTED,
                           RunState.RUNNING: PlanState.PENDING}.get(status, PlanState.NOT_RUN)
                plans.append({"plan": plan, "status": pending, "error": None})
        summary = json.loads(row["summary"]) if row["summary"] else {}
        return {"run_id": run_id, "created": row["created"], "status": status,
                "model": json.loads(row["model"]), "device": json.loads(row["device"]),
                "settings": json.loads(row["settings"]), "plans": plans, **summary}

    def delete_run(self, run_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id=?", (self.resolve_id(run_id),))


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
