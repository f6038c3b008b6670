"""The report's tables as plain data: every cell a display string with its unit, the raw value and
a tone (good / bad) for changes against the run's baseline (its first plan)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.charts.style import record_colours
from engine.measure.load import BUSY
from engine.metrics import METRICS, pct_change
from engine.records import (
    baseline,
    change,
    cost_sentence,
    interval_text,
    is_ok,
    ok_plans,
    verdict_label,
    verdict_metric,
)
from engine.reports.formatting import num, share, signed, tone, usd


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | None = None
    tone: str = ""  # good | bad | "" (neutral)


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # with its unit
    numeric: bool = True


@dataclass(frozen=True)
class Row:
    plan: str
    colour: str
    status: str
    cells: dict = field(default_factory=dict)  # column key -> Cell
    baseline: bool = False
    recommended: bool = False
    note: str = ""  # why a plan has no figures (failed, not run)


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple
    rows: tuple
    caption: str = ""


def _change(plan: dict, base: dict, key: str) -> Cell:
    """A relative change against the baseline, toned by which way the metric is better."""
    delta = change(plan, base, key)
    return Cell(signed(delta), delta, tone(delta, METRICS[key].higher_is_better))


def _plain(value, spec: str, unit: str = "", scale: float = 1.0) -> Cell:
    scaled = None if value is None else value * scale
    return Cell(num(scaled, spec, unit), scaled)


def _plan_cell(plan: dict) -> Cell:
    return Cell(plan["plan"])


def _verdict_cell(plan: dict) -> Cell:
    label = verdict_label(plan)
    if label is None:
        return Cell("n/a")
    tone = {"within": "good", "outside": "bad"}.get(label, "")
    return Cell(label, {"within": 1.0, "outside": 0.0}.get(label, 0.5), tone)


PERFORMANCE = (
    Column("plan", "Plan", numeric=False), Column("backend", "Backend", numeric=False),
    Column("weights", "Weights (MB)"), Column("size_change", "Size vs baseline (%)"),
    Column("bpw", "Bits per weight"), Column("ttft", "Time to first token (ms)"),
    Column("tpot", "Time per output token (ms, p10-p90)"), Column("throughput", "Throughput (tokens/s)"),
    Column("memory", "Peak memory (MB)"), Column("cost", "Cost per 1,000 queries (USD)"),
    Column("cost_change", "Cost vs baseline (%)"),
)

ACCURACY = (
    Column("plan", "Plan", numeric=False), Column("perplexity", "Perplexity (lower is better)"),
    Column("ppl_change", "Perplexity change (%)"), Column("kl", "KL from baseline (nats)"),
    Column("top1", "Top-1 agreement (%)"), Column("gen", "Same generation (%)"),
    Column("task", "Task accuracy (%)"), Column("task_change", "Task accuracy change (pts)"),
    Column("verdict", "Verdict", numeric=False),
)

SLICES = (
    Column("slice", "Slice (prompts)", numeric=False), Column("plan", "Plan", numeric=False),
    Column("task_change", "Task accuracy change (pts)"), Column("top1_change", "Top-1 agreement change (pts)"),
    Column("gen_change", "Same generation change (pts)"), Column("kl", "KL from baseline (nats)"),
    Column("ppl_change", "Perplexity change (%)"),
)


def _rows(record: dict, cells_of) -> tuple:
    plans = record["plans"]
    colours = record_colours(record)
    recommended = (record.get("recommendation") or {}).get("plan")
    rows = []
    for position, plan in enumerate(plans):
        ok = is_ok(plan)
        note = "" if ok else (plan.get("error") or f"this plan is {plan.get('status')}")
        cells = cells_of(plan, plans[0]) if ok else {"plan": _plan_cell(plan)}
        rows.append(Row(plan["plan"], colours[plan["plan"]], plan.get("status", "?"), cells, position == 0,
                        plan["plan"] == recommended, note))
    return tuple(rows)


def _tpot_cell(lat: dict) -> Cell:
    """The median step, its p10-p90 spread, and the busy-machine flag."""
    text = num(lat["tpot_ms"], ",.1f")
    if lat.get("tpot_ms_p10") is not None:
        text += f" ({lat['tpot_ms_p10']:,.1f}-{lat['tpot_ms_p90']:,.1f})"
    if lat.get("busy"):
        text += f", {BUSY}"
    return Cell(text, lat["tpot_ms"])


def _performance_cells(plan: dict, base: dict) -> dict:
    size, lat, cost, memory = plan["size"], plan["latency"], plan["cost"], plan.get("memory") or {}
    return {
        "plan": _plan_cell(plan), "backend": Cell(plan.get("backend") or "-"),
        "weights": _plain(size["weight_bytes"], ",.1f", scale=1e-6),
        "size_change": _change(plan, base, "weight_bytes"),
        "bpw": _plain(size["bits_per_weight"], ".2f"),
        "ttft": _plain(lat["ttft_ms"], ",.1f"), "tpot": _tpot_cell(lat),
        "throughput": _plain(lat["tokens_per_s"], ",.2f"),
        "memory": _plain(memory.get("peak_bytes"), ",.0f", scale=1e-6),
        "cost": Cell(usd(cost["usd_per_1k_queries"]), cost["usd_per_1k_queries"]),
        "cost_change": _change(plan, base, "usd_per_1k_queries"),
    }


def _accuracy_cells(plan: dict, base: dict) -> dict:
    acc = plan["accuracy"]
    diverged = acc.get("diverged")
    ppl = _plain(acc.get("perplexity"), ",.2f")
    if diverged:
        ppl = Cell("diverged" if acc.get("perplexity") is None else f"{acc['perplexity']:.3g} (diverged)",
                   acc.get("perplexity"), "bad")
    ppl_delta = acc.get("ppl_delta_pct")
    task_delta = acc.get("accuracy_delta_pts")
    return {
        "plan": _plan_cell(plan), "perplexity": ppl,
        "ppl_change": Cell("diverged", None, "bad") if diverged else Cell(signed(ppl_delta), ppl_delta,
                                                                          tone(ppl_delta, False)),
        "kl": _plain(acc.get("kl_divergence"), ".4f"),
        "top1": Cell(share(acc.get("top1_agreement")).rstrip("%"), _pct(acc.get("top1_agreement"))),
        "gen": Cell(share(acc.get("generation_agreement")).rstrip("%"), _pct(acc.get("generation_agreement"))),
        "task": Cell(share(acc.get("task_accuracy")).rstrip("%"), _pct(acc.get("task_accuracy"))),
        "task_change": Cell(signed(task_delta, ""), task_delta, tone(task_delta, True)),
        "verdict": _verdict_cell(plan),
    }


def _pct(value):
    return None if value is None else 100 * value


def performance_table(record: dict) -> Table:
    cost = record["settings"]["cost"]
    return Table("Size, speed and cost", PERFORMANCE, _rows(record, _performance_cells),
                 f"Changes are against the baseline {record['plans'][0]['plan']} (first row). Latency at batch "
                 f"{cost['batch_size']} on {record['device']['name']}; cost assumes {cost_sentence(record)}.")


def accuracy_applicable(record: dict) -> bool:
    return any(is_ok(p) and (p.get("accuracy") or {}).get("applicable", True) for p in record["plans"])


def accuracy_table(record: dict) -> Table | None:
    if not accuracy_applicable(record):
        return None
    rule = ((record.get("settings") or {}).get("verdict") or {}).get("rule") or "no verdict rule recorded"
    first = (ok_plans(record) or [{}])[0]
    source = (first.get("accuracy") or {}).get("perplexity_source", "eval_texts")
    where = ("the reference answers given their prompts" if source == "references"
             else "the evaluation texts (sample_data/eval_texts.txt)")
    return Table("Accuracy against the baseline", ACCURACY, _rows(record, _accuracy_cells),
                 f"Verdict: {rule}. Perplexity on {where}; KL, top-1 and same-generation compare each plan's "
                 f"next-token choices and greedy outputs with the baseline's on the same inputs.")


def slice_label(name: str, prompts) -> str:
    label = {"numbers": "with numbers", "rare_words": "with rare words"}.get(name, name.replace("category:",
                                                                                             "category "))
    return f"{label} ({prompts})"


def _slice_cells(name: str, piece: dict, base_piece: dict, plan: dict) -> dict:
    def pts(key):
        value, base = piece.get(key), base_piece.get(key)
        return None if value is None or base is None else 100 * (value - base)

    task, top1, gen = piece.get("accuracy_delta_pts"), pts("top1_agreement"), pts("generation_agreement")
    ppl = piece.get("ppl_delta_pct")
    return {
        "slice": Cell(slice_label(name, base_piece.get("prompts", "?"))), "plan": _plan_cell(plan),
        "task_change": Cell(signed(task, ""), task, tone(task, True)),
        "top1_change": Cell(signed(top1, ""), top1, tone(top1, True)),
        "gen_change": Cell(signed(gen, ""), gen, tone(gen, True)),
        "kl": _plain(piece.get("kl_divergence"), ".4f"),
        "ppl_change": Cell(signed(ppl), ppl, tone(ppl, False)),
    }


def slice_table(record: dict) -> Table | None:
    """One row per slice and compressed plan: every metric's change against the baseline on that slice."""
    plans = record["plans"]
    base_slices = (baseline(record) or {}).get("slices") or {}
    if not base_slices:
        return None
    colours = record_colours(record)
    rows = []
    for name, base_piece in base_slices.items():
        for plan in plans[1:]:
            piece = (plan.get("slices") or {}).get(name)
            if not is_ok(plan) or piece is None:
                continue
            rows.append(Row(plan["plan"], colours[plan["plan"]], "ok", _slice_cells(name, piece, base_piece, plan)))
    if not rows:
        return None
    return Table("Accuracy by slice", SLICES, tuple(rows),
                 "Slices are subsets of the evaluated prompts: prompts with numbers, prompts with rare words "
                 "(split into many tokens), and each category in the prompt file. Changes are against the "
                 "baseline on the same slice; pts = percentage points.")


def primary_change(record: dict, plan: dict) -> Cell:
    """The verdict metric's value and its change against the baseline, in that metric's unit."""
    metric = METRICS[verdict_metric(record)]
    acc = plan.get("accuracy") or {}
    if not is_ok(plan) or not acc.get("applicable", True):
        return Cell("n/a")
    base = record["plans"][0].get("accuracy") or {}
    value, base_value = acc.get(metric.name), base.get(metric.name)
    verdict = _verdict_cell(plan)
    if value is None:
        return Cell("n/a")
    interval = interval_text(plan)  # the change with its paired 95% interval, where the run has one
    if metric.share:
        delta = None if base_value is None else 100 * (value - base_value)
        return Cell(f"{share(value)} ({interval or signed(delta, 'pts')})", delta, verdict.tone)
    if metric.name == "perplexity":
        delta = pct_change(value, base_value)
        return Cell(f"{value:,.2f} ({interval or signed(delta)})", delta, verdict.tone)
    return Cell(f"{value:.4f} nats" + (f" ({interval})" if interval else ""), value, verdict.tone)


SAVINGS = (
    Column("plan", "Plan", numeric=False), Column("size", "Size"), Column("cost", "Cost per 1,000 queries"),
    Column("speed", "Time per output token"), Column("accuracy", "Accuracy"),
    Column("verdict", "Verdict", numeric=False),
)


def _with_base(delta_cell: Cell, absolute: str) -> Cell:
    return Cell(f"{delta_cell.text} ({absolute})", delta_cell.value, delta_cell.tone)


def savings_table(record: dict) -> Table:
    """The cover's small table: each compressed plan's change against the baseline."""
    metric = METRICS.get(verdict_metric(record))
    accuracy_label = f"Accuracy: {metric.label.lower()}" if metric else "Accuracy"
    columns = tuple(Column(c.key, accuracy_label, c.numeric) if c.key == "accuracy" else c for c in SAVINGS)
    if not accuracy_applicable(record):
        columns = tuple(c for c in columns if c.key not in ("accuracy", "verdict"))

    def cells(plan, base):
        return {
            "plan": _plan_cell(plan),
            "size": _with_base(_change(plan, base, "weight_bytes"),
                               num(plan["size"]["weight_bytes"] / 1e6, ",.1f", "MB")),
            "cost": _with_base(_change(plan, base, "usd_per_1k_queries"),
                               usd(plan["cost"]["usd_per_1k_queries"])),
            "speed": _with_base(_change(plan, base, "tpot_ms"),
                                num(plan["latency"]["tpot_ms"], ",.1f", "ms")),
            "accuracy": primary_change(record, plan),
            "verdict": _verdict_cell(plan),
        }

    rows = _rows(record, cells)
    return Table("Savings against the baseline", columns, rows,
                 "Each change is against the baseline (first row); negative size, cost and time are savings.")
