"""The facts a report states about each run: the exact plans and their steps, every cost
assumption, the evaluation and calibration data, the device, libraries and the run itself.
Plain tuples of (label, value) and frozen records; the formats escape them as they render."""

from __future__ import annotations

from dataclasses import dataclass

from engine.charts.style import record_colours
from engine.cost import load_prices
from engine.plan import PlanError, Step, parse
from engine.records import is_ok, ok_plans, runtime_label
from engine.registry import STEPS, resolved_params
from engine.reports import tables
from engine.reports.formatting import num, timestamp


@dataclass(frozen=True)
class StepInfo:
    text: str  # as written in the plan, e.g. int4:group=64
    name: str
    doc: str
    params: dict  # every parameter, defaults filled in
    seconds: float | None


@dataclass(frozen=True)
class PlanSpec:
    plan: str
    colour: str
    status: str
    steps: tuple
    backend: str | None
    kernel_path: str | None
    decode_path: str | None
    notes: tuple
    calibration: tuple  # descriptions of the data each calibrated step saw
    error: str | None
    sensitivity: tuple = ()  # ({block, kl, params}, ...) when a step measured layer sensitivity
    runtime: str | None = None  # where it ran and the artifact's sha256 (records before runtimes: None)



def _step_info(step: dict, seconds: dict) -> StepInfo:
    parsed = Step.from_dict(step)
    spec = STEPS.get(parsed.name)
    params = resolved_params(parsed) if spec else dict(parsed.params)
    return StepInfo(str(parsed), parsed.name, spec.doc if spec else "", params, seconds.get(str(parsed)))


def _calibration(plan: dict) -> tuple:
    """What calibration data each calibrated step used: from its extras and its notes."""
    found = []

    def walk(value, where):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "calibration" and isinstance(inner, dict):
                    found.append(f"{where}: " + ", ".join(f"{k} {v}" for k, v in inner.items()))
                else:
                    walk(inner, key)

    walk(plan.get("extras") or {}, "calibration")
    found += [note for note in plan.get("notes") or [] if "calibrat" in note.lower()]
    return tuple(dict.fromkeys(found))


def _runtime(plan: dict) -> str | None:
    if not (plan.get("runtime") or {}).get("name"):
        return None
    sha = plan["runtime"].get("artifact_sha256")
    return runtime_label(plan) + (f"; artifact sha256 {sha}" if sha else "")


def plan_specs(record: dict) -> tuple:
    colours = record_colours(record)
    specs = []
    for plan in record["plans"]:
        steps = plan.get("steps") or []
        if not steps:  # a plan that never started: parse its string for the steps
            try:
                steps = parse(plan["plan"]).to_dict()["steps"]
            except PlanError:
                steps = []
        latency = plan.get("latency") or {}
        specs.append(PlanSpec(
            plan["plan"], colours[plan["plan"]], plan.get("status", "?"),
            tuple(_step_info(s, plan.get("step_seconds") or {}) for s in steps),
            plan.get("backend"), plan.get("kernel_path"), latency.get("decode_path"),
            tuple(plan.get("notes") or ()), _calibration(plan), plan.get("error"),
            tuple((plan.get("extras") or {}).get("sensitivity") or ()), _runtime(plan)))
    return tuple(specs)


def cost_assumptions(record: dict) -> tuple:
    s = record["settings"]
    cost = s["cost"]
    price_row = load_prices().get(cost["hardware"])
    price_source = (f"price table: {price_row.source} ({price_row.date})" if price_row
                    and abs(price_row.usd_per_hour - cost["price_per_hour"]) < 1e-12 else "set by the user")
    bandwidth = s.get("bandwidth") or {}
    rows = [
        ("Hardware priced", cost["hardware"]),
        ("Price", f"${cost['price_per_hour']:g} per hour ({price_source})"),
        ("Utilisation", f"{cost['utilisation']:.0%} of paid time spent serving queries"),
        ("Tokens per query", f"{cost['prompt_tokens']} prompt + {cost['output_tokens']} output tokens"),
        ("Batch size priced", f"{cost['batch_size']} (queries decoded together)"),
        ("Formula", "cost per 1,000 queries (USD) = price per hour / 3600 × (time to first token + time per "
                    "output token × output tokens) / batch size × 1000 / utilisation"),
        ("Latency measured", f"batch sizes {', '.join(map(str, s.get('batch_sizes') or [1]))}; "
                             f"{s['decode_steps']} decode steps × {s['repeats']} timed repeats after warm-up; "
                             f"medians"),
    ]
    if bandwidth:
        rows.append(("Memory bandwidth (roofline)",
                     f"{num(bandwidth.get('bytes_per_s', 0) / 1e9, ',.1f', 'GB/s')} ({bandwidth.get('source')}"
                     + (f", this run, at {bandwidth['measured_at']}" if bandwidth.get("measured_at") else "")
                     + (f", load {bandwidth['load_1m']:.1f} on {bandwidth['cpu_count']} cores"
                        if bandwidth.get("load_1m") is not None else "") + ")"))
    return tuple(rows)


def evaluation_data(record: dict, prompt_set: dict | None) -> tuple:
    s = record["settings"]
    if not tables.accuracy_applicable(record):
        return (("Accuracy", "not applicable: the model has random weights (a shape-only model), so only size, "
                             "speed and cost were measured"),)
    info = s.get("prompts")
    rows = []
    if info:
        rows += [("Prompt set", f"'{info.get('name')}', {info['size']} prompts"),
                 ("sha256", info["sha256"]),
                 ("Evaluated", f"{info['evaluation']} prompts (greedy outputs of up to {s.get('max_new_tokens')} "
                               f"tokens)"),
                 ("Held out for calibration", f"{info['calibration']} prompts (share "
                                              f"{info.get('calibration_share', 0):g}, seed {info.get('seed', 0)}); "
                                              "never scored")]
        if s.get("limit"):
            rows.append(("Limit", f"only the first {s['limit']} prompts were used"))
        items = (prompt_set or {}).get("items") or []
        if items:
            refs = sum(i.get("reference") is not None for i in items)
            choices = sum(i.get("choices") is not None for i in items)
            categories = sorted({i["category"] for i in items if i.get("category")})
            rows.append(("Contents", f"{refs} with a reference answer, {choices} multiple choice; categories: "
                                     f"{', '.join(categories) or 'none'}"))
    acc = (ok_plans(record) or [{}])[0].get("accuracy") or {}
    if acc.get("perplexity_source") == "references":
        rows.append(("Perplexity measured on", f"the reference answers, given their prompts "
                                               f"({acc.get('eval_tokens', 0):,} tokens)"))
    else:
        why = (f"; the reference answers hold only {acc['reference_tokens']:,} tokens, too few for a stable "
               "perplexity" if acc.get("reference_tokens") else "")
        rows.append(("Perplexity measured on", f"sample_data/eval_texts.txt (up to {s.get('eval_tokens')} tokens)"
                                               f"{why}"))
    rows.append(("Calibration data setting", s.get("calibration", "auto")))
    verdict = s.get("verdict") or {}
    if verdict.get("rule"):
        rows.append(("Verdict rule", verdict["rule"]))
    if verdict.get("method"):
        rows.append(("Verdict method", f"the whole paired 95% interval of each plan's change: {verdict['method']}; "
                                       "within, outside or inconclusive"))
    if verdict.get("min_detectable_delta_pts"):
        rows.append(("What these prompts resolve", f"task-accuracy changes of about "
                                                   f"±{verdict['min_detectable_delta_pts']:.1f} points (if 10% of "
                                                   "answers flip)"))
    return tuple(rows)


def device_text(device: dict) -> str:
    name, kind = device.get("name") or "?", device.get("type") or "?"
    return name if kind.lower() in name.lower() else f"{name} ({kind})"


def hardware(record: dict) -> tuple:
    device = record["device"]
    backends = sorted({p.get("backend") for p in record["plans"] if p.get("backend")})
    libraries = device.get("libraries") or {}
    return (("Device", device_text(device)),
            ("Backends", ", ".join(backends) or "n/a"),
            ("Libraries", ", ".join(f"{k} {v}" for k, v in libraries.items()) or "not recorded (older run)"),
            ("Run created", timestamp(record.get("created"))))


def run_facts(record: dict) -> tuple:
    model = record["model"]
    ok = sum(map(is_ok, record["plans"]))
    params = model.get("params")
    return (("Model", f"{model['name']} ({model.get('source', '?')}"
                      + (f", {params / 1e6:,.1f} M parameters)" if params else ")")),
            ("Device", device_text(record["device"])),
            ("Run", f"{record['run_id']}, created {timestamp(record.get('created'))}, {record['status']}"),
            ("Plans", f"{ok} of {len(record['plans'])} finished; baseline {record['plans'][0]['plan']}"))
