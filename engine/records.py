"""Result records: frozen dataclasses that serialise to the run record's JSON contract, and the
readers every consumer of a stored record uses (which plans finished, the baseline, a change
against it, the cost sentence, the prompts a plan broke first, a sweep's cells), so each rule is
written once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from engine.metrics import METRICS
from engine.settings import PlanState


@dataclass(frozen=True)
class SizeResult:
    weight_bytes: int
    disk_bytes: int | None
    compression_ratio: float
    bits_per_weight: float
    params: int


@dataclass(frozen=True)
class LatencyResult:
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    batch_size: int
    roofline_efficiency: float | None
    roofline_tpot_ms: float | None
    decode_path: str
    kernel_path: str
    bandwidth_source: str
    # one row per (decode path, batch size): path, decode_path, batch_size, ttft_ms, tpot_ms,
    # tokens_per_s, usd_per_1k_queries, roofline_efficiency (batch 1)
    by_batch: tuple = ()
    best_batch: dict | None = None  # cheapest batch size within the acceptable time per token
    tpot_ms_p10: float | None = None  # the headline row's spread over its timed steps
    tpot_ms_p90: float | None = None
    busy: bool = False  # a row was timed while the load exceeded the cores ("measured on a busy machine")
    # energy of the headline row (engine/measure/energy.py); None with energy_source saying why when not measured
    j_per_token: float | None = None
    watts_mean: float | None = None
    watts_peak: float | None = None
    power_samples: int | None = None
    energy_source: str | None = None
    # prefill against the compute ceiling: FLOPs of the prompt's prefill / the measured dense matmul rate
    ttft_roofline_ms: float | None = None
    ttft_roofline_efficiency: float | None = None


@dataclass(frozen=True)
class CostResult:
    usd_per_1k_queries: float
    hardware: str
    price_per_hour: float
    prompt_tokens: int
    output_tokens: int
    utilisation: float
    batch_size: int
    seconds_per_query: float
    usd_per_1k_queries_p90: float | None = None  # at the prompt set's 90th-percentile prompt and answer lengths
    lengths_from: str = "settings"  # settings (flags or defaults) | prompts (the set's medians)
    grid_carbon: float = 480.0  # g CO2 per kWh assumed
    electricity_price: float | None = None  # USD per kWh, when the user prices energy on top of the hourly price
    kwh_per_1k_queries: float | None = None  # measured energy of 1,000 queries (None: not measured)
    co2_g_per_1k_queries: float | None = None
    energy_usd_per_1k_queries: float | None = None  # included in usd_per_1k_queries when electricity_price is set


@dataclass(frozen=True)
class AccuracyResult:
    perplexity: float | None = None
    ppl_delta_pct: float | None = None
    kl_divergence: float | None = None
    top1_agreement: float | None = None
    generation_agreement: float | None = None
    task_accuracy: float | None = None
    accuracy_delta_pts: float | None = None
    diverged: bool = False
    eval_tokens: int = 0
    prompts: int = 0
    scored_prompts: int = 0
    source: str = "eval_texts"  # where kl/top-1 come from: eval_texts or prompts
    perplexity_source: str = "eval_texts"  # references (given their prompts) or eval_texts
    reference_tokens: int = 0  # tokens of the prompts' reference answers (too few: perplexity from eval_texts)
    applicable: bool = True

    @classmethod
    def metric_fields(cls) -> list[str]:
        """The fields that are catalogue metrics (the rest say how they were measured)."""
        return [f.name for f in fields(cls) if f.name in METRICS]


@dataclass(frozen=True)
class PlanResult:
    plan: str
    status: str  # ok | failed | interrupted
    error: str | None = None
    backend: str | None = None
    kernel_path: str | None = None
    notes: tuple = ()
    size: SizeResult | None = None
    latency: LatencyResult | None = None
    memory: dict | None = None
    cost: CostResult | None = None
    accuracy: AccuracyResult | None = None
    seconds: float = 0.0
    steps: tuple = field(default_factory=tuple)
    slices: dict = field(default_factory=dict)
    verdict: dict | None = None
    step_seconds: dict = field(default_factory=dict)  # what each step cost in time
    extras: dict = field(default_factory=dict)  # step-specific results (layer sensitivity, calibration)
    economics: dict | None = None  # training_usd, savings_per_1k_usd, break_even_queries (trained plans)
    runtime: dict | None = None  # where it ran: name, version, threads, artifact, artifact_sha256

    def to_dict(self) -> dict:
        data = asdict(self)
        data["notes"] = list(self.notes)
        if self.latency is not None:
            data["latency"]["by_batch"] = list(self.latency.by_batch)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PlanResult:
        """The typed result of a stored plan record (keys this version does not know are ignored)."""
        sections = {"size": SizeResult, "latency": LatencyResult, "cost": CostResult, "accuracy": AccuracyResult}
        values = _known(cls, data)
        for key, kind in sections.items():
            if values.get(key) is not None:
                values[key] = kind(**_known(kind, values[key]))
        if values.get("latency") is not None:
            values["latency"] = replace(values["latency"], by_batch=tuple(values["latency"].by_batch or ()))
        for key in ("notes", "steps"):
            if key in values:
                values[key] = tuple(values[key] or ())
        return cls(**values)


def _known(kind, data: dict) -> dict:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


# --- readers of a stored run record (a dict, as the store and the JSON export give it) ---


def is_ok(plan: dict) -> bool:
    """The plan finished and has figures."""
    return plan.get("status") == PlanState.OK


def ok_plans(record: dict) -> list[dict]:
    return [p for p in record["plans"] if is_ok(p)]


def baseline(record: dict) -> dict | None:
    """The run's baseline (its first plan) when it finished, else None."""
    plans = record.get("plans") or []
    return plans[0] if plans and is_ok(plans[0]) else None


def change(plan: dict, base: dict | None, key: str):
    """The plan's change against the baseline on one metric, in that metric's change unit
    (relative percent, points for shares, or the metric's own unit); None when either is missing."""
    return None if base is None else METRICS[key].delta(plan, base)


def verdict_metric(record: dict) -> str:
    """The metric the run's verdict was judged on (top-1 agreement for runs that recorded none)."""
    return ((record.get("settings") or {}).get("verdict") or {}).get("metric") or "top1_agreement"


def verdict_label(plan: dict) -> str | None:
    """within | outside | inconclusive, or None when the plan has no verdict (records from before the
    paired intervals carry only `within`)."""
    verdict = plan.get("verdict") or {}
    if verdict.get("state"):
        return verdict["state"]
    within = verdict.get("within")
    return None if within is None else ("within" if within else "outside")


def interval_text(plan: dict) -> str:
    """'−0.0 pts [−1.1, +1.1]': the verdict metric's change and its paired 95% interval ('' without one)."""
    verdict = plan.get("verdict") or {}
    if not verdict.get("delta_ci95"):
        return ""
    unit = {"kl_divergence": " nats", "perplexity": "%"}.get(verdict.get("metric"), " pts")
    spec = ".4f" if unit == " nats" else "+.1f"
    lo, hi = verdict["delta_ci95"]
    return f"{verdict['delta']:{spec}}{unit} [{lo:{spec}}, {hi:{spec}}]"


def cost_sentence(record: dict) -> str:
    """The assumptions every cost stands on, in one sentence ('' for a record without them)."""
    cost = (record.get("settings") or {}).get("cost") or {}
    if not cost:
        return ""
    settings = record.get("settings") or {}
    traffic = settings.get("traffic") if settings.get("lengths_from") == "prompts" else None
    lengths = (f" (the medians of your {traffic['prompts']} prompts; at their 90th percentiles "
               f"{traffic['prompt_tokens_p90']} + {traffic['output_tokens_p90']})" if traffic else "")
    return (f"{cost['hardware']} at ${cost['price_per_hour']:g}/h, {cost['prompt_tokens']} prompt + "
            f"{cost['output_tokens']} output tokens per query{lengths}, batch {cost['batch_size']}, "
            f"{cost['utilisation']:.0%} utilisation")


def why_broken(row: dict) -> str:
    """What a plan did to one prompt: answer broke | output changed | highest KL."""
    if row.get("baseline_correct") and row.get("correct") is False:
        return "answer broke"
    if (row.get("output") or "").strip() != (row.get("baseline_output") or "").strip():
        return "output changed"
    return "highest KL"


def broke_first(rows: list[dict]) -> list[dict]:
    """Per-prompt records in the order a reader should see them: broken answers first, then changed
    outputs, each by descending KL from the baseline, then by prompt number."""
    rank = {"answer broke": 0, "output changed": 1}
    return sorted(rows, key=lambda r: (rank.get(why_broken(r), 2), -(r.get("kl") or 0.0), r["index"]))


def headline_rows(plan: dict) -> list[dict]:
    """The plan's by-batch latency rows on its headline decode path (all rows for records without paths)."""
    lat = plan["latency"]
    rows = lat.get("by_batch") or []
    return [r for r in rows if r.get("decode_path", lat.get("decode_path")) == lat.get("decode_path")]


def runtime_label(plan: dict) -> str:
    """Where the plan ran, in a few words: 'llama.cpp 0.3.36, 2 threads' ('-' for records before runtimes)."""
    runtime = plan.get("runtime") or {}
    if not runtime.get("name"):
        return "-"
    threads = f", {runtime['threads']} threads" if runtime.get("threads") else ""
    return f"{runtime['name']} {runtime.get('version') or ''}".strip() + threads


# --- readers of a stored sweep (Store.get_sweep: its spec, summary and one run record per model) ---


@dataclass(frozen=True)
class SweepCell:
    """One (model, plan) cell of a sweep as a grid shows it; its figures are None until it is measured."""

    model: str  # the model spec the sweep was given
    row: str  # the model's label on a grid (unique within the sweep)
    plan: str
    position: int  # in the model's run: 0 is that model's baseline
    status: str  # ok | failed | pending | interrupted | not run
    run_id: str | None = None
    usd_per_1k_queries: float | None = None
    cost_change_pct: float | None = None  # against the model's own baseline
    accuracy_change: float | None = None  # the sweep's verdict metric against the model's own baseline
    accuracy_applicable: bool = True  # False for a random-weight shape: its accuracy reads n/a
    diverged: bool = False
    verdict: str | None = None  # within | outside | inconclusive (the run's own verdict)
    recommended: bool = False
    weight_bytes: int | None = None
    tpot_ms: float | None = None
    seconds: float | None = None
    host: str | None = None  # where it ran (the Ray worker's host)
    attempts: int | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.row} × {self.plan}"


def model_label(spec: str) -> str:
    """A model's short name on a grid: a path's last part; a shape, a hub id or the embedded model as given."""
    name = Path(spec).expanduser().name
    return name if spec.startswith(("/", "~", ".")) and name else spec


def sweep_rows(models: list[str]) -> dict[str, str]:
    """{model spec: grid label}; two models that would share a short name keep their full specs."""
    short = [model_label(m) for m in models]
    return {m: (s if short.count(s) == 1 else m) for m, s in zip(models, short)}


def sweep_model_runs(sweep: dict) -> dict[str, dict]:
    """{model spec: its run record} for the models whose run exists (a model's run opens when its baseline lands)."""
    return {r["settings"]["sweep"]["model_spec"]: r for r in sweep.get("runs") or []
            if ((r.get("settings") or {}).get("sweep") or {}).get("model_spec")}


def sweep_metric(sweep: dict):
    """The metric a sweep's accuracy change is read on: its runs' verdict metric (one settings, one prompt set)."""
    runs = sweep.get("runs") or []
    applicable = [r for r in runs if (r.get("model") or {}).get("source") != "shape"]
    name = verdict_metric((applicable or runs or [{}])[0])
    return METRICS.get(name, METRICS["top1_agreement"])


def _accuracy_applies(spec: str, run: dict | None) -> bool:
    if run is not None:
        return (run.get("model") or {}).get("source") != "shape" and all(
            (p.get("accuracy") or {}).get("applicable", True) for p in ok_plans(run))
    return not spec.startswith("shape:")


def sweep_cells(sweep: dict) -> list[SweepCell]:
    """Every (model, plan) cell, model by model in the sweep's order, baseline first; a cell not yet stored reads
    pending while the sweep runs, else not run."""
    spec = sweep["spec"]
    models, plans = list(spec["models"]), list(spec["plans"])
    rows, runs = sweep_rows(models), sweep_model_runs(sweep)
    metric = sweep_metric(sweep)
    errors = sweep.get("errors") or {}
    cells = []
    for model in models:
        run = runs.get(model)
        applies = _accuracy_applies(model, run)
        if run is None:
            status = PlanState.PENDING if sweep.get("status") == "running" else PlanState.NOT_RUN
            cells += [SweepCell(model, rows[model], plan, position, status, accuracy_applicable=applies,
                                error=errors.get(model)) for position, plan in enumerate(plans)]
            continue
        base = baseline(run)
        recommended = (run.get("recommendation") or {}).get("plan")
        for position, plan in enumerate(run["plans"]):
            worker = plan.get("worker") or {}
            measured = is_ok(plan)
            diverged = bool(measured and metric.diverges and (plan.get("accuracy") or {}).get("diverged"))
            cells.append(SweepCell(
                model, rows[model], plan["plan"], position, plan.get("status") or PlanState.PENDING, run["run_id"],
                usd_per_1k_queries=METRICS["usd_per_1k_queries"].raw(plan) if measured else None,
                cost_change_pct=change(plan, base, "usd_per_1k_queries") if measured else None,
                accuracy_change=(metric.delta(plan, base) if measured and applies and base and not diverged
                                 else None),
                accuracy_applicable=applies, diverged=diverged, verdict=verdict_label(plan) if measured else None,
                recommended=measured and plan["plan"] == recommended,
                weight_bytes=METRICS["weight_bytes"].raw(plan) if measured else None,
                tpot_ms=METRICS["tpot_ms"].raw(plan) if measured else None, seconds=plan.get("seconds"),
                host=worker.get("host"), attempts=plan.get("attempts"), error=plan.get("error")))
    return cells
