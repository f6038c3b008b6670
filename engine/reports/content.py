"""Gather stored runs into one plain report model that every format renders: the verdict first,
then tables with deltas against the baseline, slices, per-prompt samples, every cost assumption,
the evaluation data, the exact plans and the command that repeats the run, and the environment.

Nothing here formats for a medium: HTML, PDF and Markdown escape the strings as they render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import __version__
from engine.records import change, is_ok, ok_plans, verdict_label
from engine.reports import tables
from engine.reports.environment import generated_at, software
from engine.reports.explain import slower_than_baseline
from engine.reports.facts import (
    PlanSpec,
    StepInfo,
    cost_assumptions,
    evaluation_data,
    hardware,
    plan_specs,
    run_facts,
)
from engine.reports.repeat import repeat_command, repeat_notes
from engine.reports.samples import PromptSample, worst_prompts


class ReportError(ValueError):
    """A report that cannot be made (unknown run, unknown format); the message says what to do."""


@dataclass(frozen=True)
class Headline:
    sentence: str
    plan: str | None  # the recommended plan, if any
    kind: str  # recommend | keep | none | not-applicable | incomplete
    warning: str | None = None


@dataclass(frozen=True)
class RunReport:
    run_id: str
    created: str
    status: str
    model: dict
    device: dict
    headline: Headline
    key_points: tuple  # short sentences a PM reads first
    facts: tuple  # (label, value) for the run's header
    savings: tables.Table
    performance: tables.Table
    accuracy: tables.Table | None
    slices: tables.Table | None
    samples: tuple  # PromptSample, ...
    cost_assumptions: tuple  # (label, value)
    evaluation: tuple  # (label, value)
    plans: tuple  # PlanSpec, ...
    command: str
    command_notes: tuple
    hardware: tuple  # (label, value)
    explanations: tuple  # (plan, text): why a plan is slower than the baseline
    model_notes: tuple
    record: dict = field(repr=False, default_factory=dict)
    prompt_records: tuple = field(repr=False, default=())
    prompt_set: dict | None = field(repr=False, default=None)

    @property
    def title(self) -> str:
        return f"{self.model['name']} · run {self.run_id}"

    @property
    def accuracy_applicable(self) -> bool:
        return self.accuracy is not None


@dataclass(frozen=True)
class Report:
    title: str
    generated: str
    tool_version: str
    software: tuple  # (label, value): the tool, Python, platform and library versions
    runs: tuple  # RunReport, ...
    comparison: tables.Table | None  # across runs, when there are several

    @property
    def records(self) -> list[dict]:
        return [r.record for r in self.runs]


def headline(record: dict) -> Headline:
    rec = record.get("recommendation") or {}
    done = len(ok_plans(record))
    warning = None
    if record["status"] != "done":
        warning = (f"This run is {record['status']}: {done} of {len(record['plans'])} plans finished. "
                   "There is no recommendation until every plan has run; the figures are those finished.")
    if not tables.accuracy_applicable(record) and record["plans"]:
        sentence = rec.get("reason") or ("Accuracy is not applicable to a random-weight shape; compare size, "
                                         "speed and cost only.")
        return Headline(sentence, None, "not-applicable", warning)
    if not rec:
        return Headline("No recommendation was recorded for this run.", None, "incomplete", warning)
    if rec.get("plan") is None:
        return Headline(rec.get("reason", ""), None, "none", warning)
    kind = "keep" if rec["plan"] == record["plans"][0]["plan"] else "recommend"
    return Headline(rec.get("reason", ""), rec["plan"], kind, warning)


def key_points(record: dict) -> tuple:
    """The run in a few plain sentences: smallest, cheapest, slower than the baseline, accuracy, failures."""
    plans = record["plans"]
    base = plans[0]
    if not is_ok(base):
        return ()
    done = [p for p in plans[1:] if is_ok(p)]
    points = []
    base_cost = base["cost"]["usd_per_1k_queries"]
    if done:
        small = min(done, key=lambda p: p["size"]["weight_bytes"])
        small_mb, base_mb = small["size"]["weight_bytes"] / 1e6, base["size"]["weight_bytes"] / 1e6
        points.append(f"Smallest: {small['plan']}, {change(small, base, 'weight_bytes'):+.1f}% weights "
                      f"({small_mb:,.1f} MB vs {base_mb:,.1f} MB).")
        cheap = min(done, key=lambda p: p["cost"]["usd_per_1k_queries"])
        cost = cheap["cost"]["usd_per_1k_queries"]
        if cost < base_cost:
            points.append(f"Cheapest to serve: {cheap['plan']} at ${cost:,.4f} per 1,000 queries "
                          f"({change(cheap, base, 'usd_per_1k_queries'):+.1f}% vs {base['plan']}).")
        else:
            points.append(f"No compressed plan is cheaper to serve than {base['plan']} (${base_cost:,.4f} per 1,000 "
                          f"queries) on {record['device']['name']}.")
        slower = [p["plan"] for p in done if p["latency"]["tpot_ms"] > base["latency"]["tpot_ms"]]
        if slower:
            points.append(f"{len(slower)} of {len(done)} compressed plans decode slower than the baseline on this "
                          f"hardware ({', '.join(slower)}), which raises their cost per query.")
    if tables.accuracy_applicable(record):
        judged = [p for p in done if verdict_label(p) is not None]
        outside = [p["plan"] for p in judged if verdict_label(p) == "outside"]
        undecided = [p["plan"] for p in judged if verdict_label(p) == "inconclusive"]
        rule = ((record.get("settings") or {}).get("verdict") or {}).get("rule", "the tolerance")
        if judged:
            within = len(judged) - len(outside) - len(undecided)
            points.append(f"{within} of {len(judged)} compressed plans stay {rule} (the whole paired 95% interval)"
                          + (f"; outside: {', '.join(outside)}" if outside else "")
                          + (f"; undecided on these prompts: {', '.join(undecided)}" if undecided else "") + ".")
    else:
        points.append("Accuracy was not measured: the model has random weights (shape-only).")
    for p in plans[1:]:
        if p.get("status") == "failed":
            points.append(f"{p['plan']} failed: {(p.get('error') or '')[:140]}")
    return tuple(points)


def build_run(record: dict, prompt_records: list[dict] = (), prompt_set: dict | None = None,
              samples_per_plan: int = 3) -> RunReport:
    return RunReport(
        run_id=record["run_id"], created=record.get("created", ""), status=record["status"],
        model=record["model"], device=record["device"], headline=headline(record), key_points=key_points(record),
        facts=run_facts(record),
        savings=tables.savings_table(record), performance=tables.performance_table(record),
        accuracy=tables.accuracy_table(record), slices=tables.slice_table(record),
        samples=tuple(worst_prompts(record, list(prompt_records), samples_per_plan)),
        cost_assumptions=cost_assumptions(record), evaluation=evaluation_data(record, prompt_set),
        plans=plan_specs(record), command=repeat_command(record), command_notes=tuple(repeat_notes(record)),
        hardware=hardware(record), explanations=tuple(slower_than_baseline(record)),
        model_notes=tuple(record["model"].get("notes") or ()), record=record,
        prompt_records=tuple(prompt_records), prompt_set=prompt_set,
    )


COMPARISON = (
    tables.Column("run", "Run", numeric=False), tables.Column("model", "Model", numeric=False),
    tables.Column("device", "Device", numeric=False), tables.Column("plan", "Plan", numeric=False),
    tables.Column("weights", "Weights (MB)"), tables.Column("tpot", "Time per output token (ms)"),
    tables.Column("cost", "Cost per 1,000 queries (USD)"), tables.Column("cost_change", "Cost vs own baseline (%)"),
    tables.Column("accuracy", "Accuracy vs own baseline"),
    tables.Column("verdict", "Verdict", numeric=False),
)


def comparison_table(records: list[dict]) -> tables.Table:
    """Every plan of every run in one table; each delta against that run's own baseline."""
    rows = []
    for record in records:
        perf = {r.plan: r for r in tables.performance_table(record).rows}
        savings = {r.plan: r for r in tables.savings_table(record).rows}
        for plan in record["plans"]:
            row = perf[plan["plan"]]
            cells = {"run": tables.Cell(record["run_id"]), "model": tables.Cell(record["model"]["name"]),
                     "device": tables.Cell(record["device"]["name"]), "plan": tables.Cell(plan["plan"])}
            if is_ok(plan):
                cells.update({k: row.cells[k] for k in ("weights", "tpot", "cost", "cost_change")})
                cells["accuracy"] = savings[plan["plan"]].cells["accuracy"]
                cells["verdict"] = savings[plan["plan"]].cells["verdict"]
            rows.append(tables.Row(plan["plan"], row.colour, row.status, cells, row.baseline, row.recommended,
                                   row.note))
    devices = {record["device"]["name"] for record in records}
    columns = COMPARISON if len(devices) > 1 else tuple(c for c in COMPARISON if c.key != "device")
    where = "" if len(devices) > 1 else f"All runs ran on {next(iter(devices))}. "
    return tables.Table("All runs side by side", columns, tuple(rows),
                        where + "Each run is compared with its own baseline: runs on different models or hardware are "
                        "not comparable number for number, but their savings are. Colours follow each run's plan "
                        "order.")


def run_ids_of(store, ref: str) -> list[str]:
    """The runs an id names: a run (id or unique prefix) itself; else a sweep, its runs (one per model), so a sweep
    reads as one comparison."""
    try:
        return [store.resolve_id(ref)]
    except KeyError as error:
        if not str(error.args[0]).startswith("no run matches"):
            raise ReportError(f"{error.args[0]} (see `compecon runs`)") from None
        try:
            sweep_id = store.resolve_sweep(ref)
        except KeyError:
            raise ReportError(f"{error.args[0]}, nor any sweep (see `compecon runs`)") from None
    runs = list(store.sweep_runs(sweep_id).values())
    if not runs:
        raise ReportError(f"sweep {sweep_id} has no run yet: none of its models' baselines has finished")
    return runs


def load_runs(store, run_ids: list[str]) -> list[tuple[dict, list[dict], dict | None]]:
    """(record, per-prompt records, prompt set) per run, a sweep's id standing for its runs; unknown ids raise
    ReportError naming them."""
    if not run_ids:
        raise ReportError("name at least one run (see `compecon runs`)")
    loaded, seen = [], set()
    for run_id in [run for ref in run_ids for run in run_ids_of(store, ref)]:
        try:
            record = store.get_run(run_id)
        except KeyError as error:
            raise ReportError(f"{error.args[0]} (see `compecon runs`)") from None
        if record["run_id"] in seen:
            continue
        seen.add(record["run_id"])
        info = (record.get("settings") or {}).get("prompts")
        prompt_set = None
        if info:
            try:
                prompt_set = store.get_prompt_set(info["sha256"])
            except KeyError:
                prompt_set = None
        loaded.append((record, store.prompt_records(record["run_id"]), prompt_set))
    return loaded


def build_report(store, run_ids: list[str], samples_per_plan: int = 3) -> Report:
    runs = tuple(build_run(record, prompts, prompt_set, samples_per_plan)
                 for record, prompts, prompt_set in load_runs(store, run_ids))
    models = list(dict.fromkeys(r.model["name"] for r in runs))
    title = (f"Compression report: {models[0]}" if len(models) == 1
             else f"Compression report: {len(runs)} runs, {', '.join(models)}")
    return Report(title, generated_at(), __version__, tuple(software()), runs,
                  comparison_table([r.record for r in runs]) if len(runs) > 1 else None)


__all__ = ["Headline", "PlanSpec", "PromptSample", "Report", "ReportError", "RunReport", "StepInfo", "build_report",
           "build_run"]
