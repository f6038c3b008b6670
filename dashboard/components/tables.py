"""The comparison table: every plan's figures with deltas against the run's baseline, coloured by
the plan's verdict (within or outside the tolerance). Pure pandas, so it is easy to test."""

from __future__ import annotations

import pandas as pd

from engine.charts.results import primary_metric
from engine.metrics import compared_metrics
from engine.records import (
    baseline,
    change,
    cost_sentence,
    headline_rows,
    interval_text,
    is_ok,
    runtime_label,
    verdict_label,
)

WITHIN_CSS = "background-color: #dcfce7; color: #14532d"
OUTSIDE_CSS = "background-color: #fee2e2; color: #7f1d1d"
UNDECIDED_CSS = "background-color: #fef3c7; color: #78350f"


def plan_verdict(plan: dict) -> str:
    """within | outside | inconclusive | n/a for a finished plan; its status for the others."""
    if not is_ok(plan):
        return plan.get("status") or "-"
    return verdict_label(plan) or "n/a"


def comparison_frame(record: dict, finished_only: bool = False) -> pd.DataFrame:
    """One row per plan, baseline first: the verdict metric first, then every catalogue metric the
    dashboard compares (engine/metrics.py), each followed by its change against the baseline."""
    primary = primary_metric(record)
    base = baseline(record)
    shown = [primary] + [m for m in compared_metrics() if m.name != primary.name]
    rows = []
    for plan in record["plans"]:
        if finished_only and plan.get("status") not in ("ok", "failed"):
            continue
        row = {"Plan": plan["plan"], "Runtime": runtime_label(plan) if is_ok(plan) else None,
               "Backend": plan.get("backend"), "Verdict": plan_verdict(plan),
               "Change [95% CI]": interval_text(plan) or None}
        for metric in shown:
            row[metric.title] = metric.value(plan)
            if metric.change:
                row[f"Δ {metric.label} ({metric.change_unit})"] = change(plan, base, metric.name)
        row.update({"Seconds": plan.get("seconds"), "Error": plan.get("error")})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty and frame["Error"].isna().all():
        frame = frame.drop(columns="Error")
    return frame


def speed_frame(record: dict) -> pd.DataFrame:
    """Every latency the run measured: which decode path and kernel produced it, at which batch."""
    rows = []
    for plan in record["plans"]:
        if not is_ok(plan):
            continue
        lat = plan["latency"]
        headline = headline_rows(plan)
        for row in lat.get("by_batch") or []:
            rows.append({
                "Plan": plan["plan"], "Decode path": row.get("decode_path", lat.get("decode_path")),
                "Kernel": lat.get("kernel_path"), "Batch": row["batch_size"], "TPOT (ms)": row["tpot_ms"],
                "TPOT p10-p90 (ms)": (f"{row['tpot_ms_p10']:,.1f}-{row['tpot_ms_p90']:,.1f}"
                                      if row.get("tpot_ms_p10") is not None else None),
                "Load (1 min)": row.get("load_1m"), "Busy machine": "yes" if row.get("busy") else "",
                "Tokens/s": row["tokens_per_s"], "TTFT (ms)": row["ttft_ms"],
                "Roofline efficiency %": _div(row.get("roofline_efficiency"), 0.01),
                "Cost / 1k queries (USD)": row.get("usd_per_1k_queries"),
                "Headline": "yes" if row in headline and row["batch_size"] == lat.get("batch_size") else "",
            })
    return pd.DataFrame(rows)


def _div(value, by):
    return None if value is None else value / by


def _row_css(row: pd.Series) -> list[str]:
    css = {"within": WITHIN_CSS, "outside": OUTSIDE_CSS, "inconclusive": UNDECIDED_CSS}.get(row["Verdict"], "")
    if row.name == 0:
        css = ""  # the baseline is the reference, not a verdict
    return [css if column.startswith("Δ") or column == "Verdict" else "" for column in row.index]


def _formats(frame: pd.DataFrame) -> dict:
    formats = {column: "{:,.2f}" for column in frame.columns if frame[column].dtype.kind == "f"}
    formats.update({c: "{:+.1f}" for c in frame.columns if c.startswith("Δ")})
    formats.update({c: "{:,.4f}" for c in frame.columns if "(USD)" in c or "(nats)" in c})
    formats.update({c: "{:+.4f}" for c in frame.columns if c.startswith("Δ") and "(nats)" in c})
    return formats


def styled(frame: pd.DataFrame):
    """The frame with numbers formatted and deltas coloured by verdict."""
    return frame.style.format(_formats(frame), na_rep="–").apply(_row_css, axis=1)


def formatted(frame: pd.DataFrame):
    """Numbers formatted, no verdict colours (tables that are not one row per plan)."""
    return frame.style.format(_formats(frame), na_rep="–")


def cost_assumptions(record: dict) -> str:
    """The one sentence that must sit next to every cost."""
    sentence = cost_sentence(record)
    return f"Cost assumes {sentence}, latency measured on {record['device']['name']}." if sentence else ""
