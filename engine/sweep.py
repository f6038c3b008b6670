"""Sweeps: models × plans fanned out over a Ray cluster, the store staying with the driver.

A platform team compares several models against many plans; one (model, plan) cell is one Ray task that runs
the engine's own code (`pipeline.Runner.cell`), so nothing about a plan's measurement changes. The baseline of
each model runs first; its reference outputs reach that model's cells through Ray's object store (never through
the driver). Tasks return records and the driver writes each to SQLite as it arrives: no worker writes the store,
which may sit on another machine. A sweep's id is derived from its inputs, so running it again measures only the
cells it lacks. Ray retries a cell whose worker died (bounded); a cell that still fails fails alone.

A cell holds its node's device for its whole life (engine/measure/exclusive.py), and a CPU cell asks Ray for a
whole node's cores by default, so two cells never time each other; parallelism comes from more nodes or GPUs
(one cell per GPU, pinned by Ray's CUDA_VISIBLE_DEVICES).

Ray moves task arguments and results between the processes of one cluster with pickle: a cluster is one trust
domain (Ray's security guide), which is why a local Ray listens on loopback only and token auth stays on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace

from engine.evaluation.prompts import PromptSet
from engine.plan import Plan
from engine.records import PlanResult
from engine.settings import PlanEvent, PlanState, RunError, RunEvent, RunSettings, RunState

LOCAL_RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keeps a local Ray on 127.0.0.1


@dataclass(frozen=True)
class Cluster:
    """Where the cells run: a local Ray started here (address None) or an existing cluster."""

    address: str | None = None  # "auto", "ray://host:port" or "host:port"; None starts a local Ray
    cpus: int | None = None  # a local Ray's CPUs (default: this machine's)
    cpus_per_cell: int | None = None  # a CPU cell's CPUs (default: the smallest node's, so one cell per node)
    retries: int = 1  # times Ray runs a cell again after its worker died

    def __post_init__(self):
        for name in ("cpus", "cpus_per_cell"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RunError(f"--{name.replace('_', '-')} {value}: give 1 or more")
        if not 0 <= self.retries <= 10:
            raise RunError(f"--retries {self.retries}: give 0 to 10")


@dataclass(frozen=True)
class Cell:
    model: str
    position: int  # in the model's run: 0 is the baseline
    plan: str

    @property
    def label(self) -> str:
        return f"{self.model} × {self.plan}"


@dataclass(frozen=True)
class SweepSpec:
    models: tuple[str, ...]
    plans: tuple[Plan, ...]  # baseline first, the same for every model
    settings: RunSettings
    prompts: PromptSet | None = None

    def __post_init__(self):
        if not self.models:
            raise RunError("no models: give --model (repeatable)")
        if len(set(self.models)) != len(self.models):
            raise RunError("a model is given twice; each --model once")

    def to_dict(self) -> dict:
        return {"models": list(self.models), "plans": [str(p) for p in self.plans], "settings": asdict(self.settings),
                "prompts": {"name": self.prompts.name, "sha256": self.prompts.sha256} if self.prompts else None}

    @property
    def sweep_id(self) -> str:
        """The same models, plans, settings and prompts give the same id: a re-run finds its finished cells."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def cells(self, model: str) -> list[Cell]:
        return [Cell(model, position, str(plan)) for position, plan in enumerate(self.plans)]


@dataclass
class _Model:
    """The driver's view of one model of the sweep."""

    spec: str
    run_id: str
    stored: bool  # its run row exists
    missing: list[Cell]  # cells without an ok record, the baseline's included
    state: object = None  # the Ray reference of the baseline's state
    applicable: bool = True  # accuracy applies (not a random-weight shape)
    error: str | None = None  # why none of its cells could run


def _forward(events, cell: Cell):
    """A Runner's progress callable inside a Ray task: its plan and stage lines go to the driver."""

    def report(event) -> None:
        message = getattr(event, "message", event if isinstance(event, str) else None)
        if message and isinstance(event, (str, PlanEvent, RunEvent)):
            # fire and forget: a task blocked in ray.get lends its CPUs to another cell, which would then run
            # beside it; a lost line is never worth that (or a failed cell)
            events.actor.put_nowait.remote({"cell": cell.label, "message": str(message)})

    return report


def measure_cell(cell: Cell, plans: list[Plan], settings: RunSettings, prompts: PromptSet | None, run_id: str,
                 state: dict | None, events) -> tuple[dict, dict | None]:
    """One cell, inside a Ray worker: the engine's Runner measures plan `cell.position` of the model's plans,
    holding this node's device like any run. Returns (outcome, baseline state); the state is the baseline's only."""
    import socket

    import ray

    from engine.measure.exclusive import exclusive_device
    from engine.pipeline import Runner
    from engine.settings import resolve_device

    where = {"host": socket.gethostname(), "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
             "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
    report = _forward(events, cell)
    report(f"started on {where['host']} pid {where['pid']}" + (f" gpu {where['gpus']}" if where["gpus"] else ""))
    with exclusive_device(resolve_device(settings.device), f"sweep cell {cell.label}", report):
        runner = Runner(cell.model, plans, settings, None, report, prompts)
        runner.run_id = run_id
        if state is not None:
            runner.adopt_baseline(state)
        record, prompt_records = runner.cell(cell.position, plans[cell.position])
        outcome = {"record": {**record, "worker": where}, "prompts": prompt_records}
        if cell.position != 0:
            return outcome, None
        outcome["header"] = runner.header()
        return outcome, runner.baseline_state() if record["status"] == PlanState.OK else None


def _failed(cell: Cell, plans: list[Plan], error: str) -> dict:
    plan = plans[cell.position]
    return PlanResult(plan=cell.plan, status=PlanState.FAILED, error=error,
                      steps=tuple(s.to_dict() for s in plan.steps)).to_dict()


def _task_error(error: Exception, retries: int) -> str:
    """What a cell's task raised, in a line: a lost worker says so, with the retries it had."""
    import ray.exceptions as rex

    if isinstance(error, (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError,
                          rex.OutOfMemoryError, rex.TaskUnschedulableError)):
        return (f"the Ray worker running it was lost ({type(error).__name__}) after {retries} "
                f"{'retry' if retries == 1 else 'retries'}; run the sweep again to measure it")
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}".strip()


def _eta(done_s: list[float], remaining: int, slots: int) -> str:
    if not done_s or remaining <= 0:
        return ""
    seconds = sum(done_s) / len(done_s) * -(-remaining // max(1, slots))
    return f"; about {seconds / 60:.0f} min left" if seconds >= 90 else f"; about {seconds:.0f} s left"


def _connect(cluster: Cluster) -> bool:
    """Join the cluster, or start a local Ray on loopback; True when this process started it."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    if cluster.address:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="warning")
        return False
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)
    ray.init(address="local", num_cpus=cluster.cpus or os.cpu_count(), **quiet)  # ours, never another's
    return True


def _slots(cluster: Cluster, device: str, split: bool = False) -> tuple[dict, int]:
    """Each cell's resource request and how many cells the cluster runs at once."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if device == "cuda":
        gpus = int(sum(n["Resources"].get("GPU", 0) for n in nodes))
        if gpus < 1:
            raise RunError("the sweep asks for CUDA but the Ray cluster has no GPU; use --device cpu")
        if split:  # a model placed across GPUs takes every GPU of the node it lands on
            most = int(max(n["Resources"].get("GPU", 0) for n in nodes))
            return {"num_gpus": most, "num_cpus": 1}, sum(n["Resources"].get("GPU", 0) >= most for n in nodes)
        return {"num_gpus": 1, "num_cpus": 1}, gpus
    smallest = int(min(n["Resources"].get("CPU", 1) for n in nodes))
    per_cell = cluster.cpus_per_cell or smallest
    if per_cell > max(n["Resources"].get("CPU", 0) for n in nodes):
        raise RunError(f"--cpus-per-cell {per_cell}: no node of the cluster has that many CPUs")
    return {"num_cpus": per_cell}, int(sum(n["Resources"].get("CPU", 0) // per_cell for n in nodes))


def _device(settings: RunSettings) -> RunSettings:
    """The cells' device: 'auto' means CUDA when the cluster has a GPU (the driver may have none)."""
    import ray

    if settings.device != "auto":
        return settings
    gpus = ray.cluster_resources().get("GPU", 0)
    return replace(settings, device="cuda" if gpus >= 1 else "cpu")


def sweep(models: list[str], plans: list[Plan], settings: RunSettings, prompts: PromptSet | None = None,
          cluster: Cluster = Cluster(), store=None, progress=print) -> dict:
    """Run every (model, plan) cell not yet measured for this sweep; returns the stored sweep."""
    import ray
    from ray.util.queue import Queue

    from engine.evaluation.verdict import Tolerance
    from engine.pipeline import recommendation
    from engine.store import Store

    store = store or Store()
    store.check_writable()
    started_here = _connect(cluster)
    try:
        settings = _device(settings)
        spec = SweepSpec(tuple(models), tuple(plans), settings, prompts)
        sweep_id = spec.sweep_id
        resources, slots = _slots(cluster, settings.device, settings.device_map == "auto")
        first = store.start_sweep(sweep_id, {**spec.to_dict(), "cluster": asdict(cluster)})
        if prompts is not None:
            store.save_prompt_set(prompts)
        known = store.sweep_runs(sweep_id)
        by_model: dict[str, _Model] = {}
        for model in models:
            run_id = known.get(model)
            done = set()
            if run_id:
                done = {i for i, p in enumerate(store.get_run(run_id)["plans"]) if p["status"] == PlanState.OK}
            missing = [c for c in spec.cells(model) if c.position not in done]
            by_model[model] = _Model(model, run_id or os.urandom(6).hex(), run_id is not None, missing)
        cells = len(models) * len(plans)
        todo = sum(len(m.missing) for m in by_model.values())
        progress(RunEvent(sweep_id, "created",
                          f"sweep {sweep_id}: {len(models)} models × {len(plans)} plans = {cells} cells, "
                          f"{todo} to measure" + ("" if first else f" ({cells - todo} measured before)")
                          + f"; {slots} at a time on {len(ray.nodes())} Ray node(s)"))
        # a fresh worker process per cell (max_calls=1): no CUDA state or memory carried over between cells
        task = ray.remote(num_returns=2, max_retries=cluster.retries, max_calls=1, **resources)(measure_cell)
        events = Queue(actor_options={"num_cpus": 0})
        pending: dict = {}  # result ref -> (model, cell, submitted at)
        measured, durations, attempts, began = [], [], {}, {}
        outstanding = sum(len(m.missing) + (m.stored and 0 not in {c.position for c in m.missing})
                          for m in by_model.values() if m.missing)  # tasks still to return, ETA's count
        started_at = time.perf_counter()

        def submit(m: _Model, cell: Cell) -> None:
            result, state = task.remote(cell, plans, settings, prompts, m.run_id, m.state if cell.position else None,
                                        events)
            pending[result] = (m, cell, time.perf_counter())
            if cell.position == 0:
                m.state = state

        def finish(m: _Model, status: str = RunState.DONE) -> None:
            if m.stored:
                record = store.get_run(m.run_id)
                verdict = record["settings"]["verdict"]
                tolerance = Tolerance(verdict["metric"], verdict["tolerance_pct"])
                store.finish_run(m.run_id, status,
                                 {"recommendation": recommendation(record["plans"], m.applicable, tolerance)})

        def landed(m: _Model, cell: Cell, outcome: dict) -> dict:
            """Store what a cell returned; a baseline also opens its run and releases the model's other cells."""
            record = {**outcome["record"], "attempts": attempts.get(cell.label, 1), "sweep": sweep_id}
            header = outcome.get("header")
            if cell.position == 0 and header is not None:
                m.applicable = header["accuracy_applicable"]
                if not m.stored:
                    store.create_run(header["model"], header["device"],
                                     {**header["settings"], "sweep": {"id": sweep_id, "model_spec": m.spec}},
                                     [str(p) for p in plans], sweep=sweep_id, run_id=m.run_id)
                    m.stored = True
                    active.add(m.run_id)
            if m.stored and cell in m.missing:
                store.add_plan_result(m.run_id, cell.position, record, outcome["prompts"])
                measured.append(cell.label)
            return record

        for m in by_model.values():
            if m.missing:  # the baseline first, stored before or not: every other cell is compared with its outputs
                submit(m, Cell(m.spec, 0, str(plans[0])))
            else:
                progress(f"{m.spec}: every cell measured before (run {m.run_id}); skipped")
        active = {m.run_id for m in by_model.values() if m.stored and m.missing}
        for run_id in active:
            store.resume_run(run_id)
        with store.heartbeat(active, sweep=sweep_id):
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for event in events.get_nowait_batch(events.qsize()) if events.qsize() else []:
                    if event["message"].startswith("started on"):
                        attempts[event["cell"]] = attempts.get(event["cell"], 0) + 1
                        began[event["cell"]] = time.perf_counter()
                    progress(f"  {event['cell']}: {event['message']}")
                for ref in ready:
                    m, cell, submitted = pending.pop(ref)
                    outstanding -= 1
                    durations.append(time.perf_counter() - began.get(cell.label, submitted))
                    try:
                        outcome = ray.get(ref)
                    except Exception as error:  # a lost worker or a task that raised: this cell alone fails
                        outcome = {"record": _failed(cell, plans, _task_error(error, cluster.retries)), "prompts": []}
                    record = landed(m, cell, outcome)
                    detail = f" ({record['error']})" if record.get("error") else f" in {record['seconds']:.0f} s"
                    if cell.position == 0 and record["status"] != PlanState.OK:
                        m.error = f"its baseline {cell.plan} failed: {record['error']}"
                        outstanding -= len([c for c in m.missing if c.position])
                        progress(f"{cell.label}: {record['status']}{detail}; the other cells of {m.spec} are not run")
                        finish(m, RunState.FAILED)
                        continue
                    if cell.position == 0:
                        for c in m.missing:
                            if c.position:
                                submit(m, c)
                    if not any(other is m for other, _, _ in pending.values()):  # its last cell landed
                        finish(m)
                    stored_now = "" if cell in m.missing else " (reference outputs for its cells; stored before)"
                    progress(f"[{len(measured) + cells - todo}/{cells}] {cell.label}: {record['status']}{detail}"
                             f"{stored_now}{_eta(durations, outstanding, slots)}")
        summary = {"cells": cells, "measured": measured, "skipped": cells - todo,
                   "wall_s": round(time.perf_counter() - started_at, 1), "attempts": attempts, "slots": slots,
                   "errors": {m.spec: m.error for m in by_model.values() if m.error},
                   "nodes": [{"host": n.get("NodeManagerHostname"), "resources": n.get("Resources")}
                             for n in ray.nodes() if n.get("Alive")]}
        store.finish_sweep(sweep_id, RunState.DONE, summary)
        progress(RunEvent(sweep_id, RunState.DONE, f"sweep {sweep_id} done: {len(measured)} cells measured now, "
                                                  f"{cells - todo} before, in {summary['wall_s']:.0f} s"))
        return store.get_sweep(sweep_id)
    finally:
        if started_here:
            ray.shutdown()
