"""The comparison table: every plan's figures with deltas against the run's baseline, coloured by
the plan's verdict (within or outside the tolerance). Pure pandas, so it is easy to test."""

from __future__ import annotations

import pandas as pd

from engine.charts import primary_metric
from engine.charts_speed import headline_rows

WITHIN_CSS = "background-color: #dcfce7; color: #14532d"
OUTSIDE_CSS = "background-color: #fee2e2; color: #7f1d1d"


def _pct(value, base):
    if value is None or base in (None, 0):
        return None
    return 100.0 * (value - base) / base


def _get(plan: dict, section: str, key: str):
    return (plan.get(section) or {}).get(key)


def verdict_label(plan: dict) -> str:
    within = (plan.get("verdict") or {}).get("within")
    if plan.get("status") != "ok":
        return plan.get("status") or "-"
    return {True: "within", False: "outside"}.get(within, "n/a")


def comparison_frame(record: dict, finished_only: bool = False) -> pd.DataFrame:
    """One row per plan, baseline first; deltas in percent (primary metric in points for shares)."""
    metric = primary_metric(record)
    base = record["plans"][0] if record["plans"] and record["plans"][0].get("status") == "ok" else {}
    delta_unit = {"%": "pts", "nats": "nats"}.get(metric.unit, "%")
    rows = []
    for plan in record["plans"]:
        if finished_only and plan.get("status") not in ("ok", "failed"):
            continue
        value, base_value = metric.value(plan), metric.value(base) if base else None
        delta = None
        if value is not None and base_value is not None:
            delta = value - base_value if metric.unit in ("%", "nats") else _pct(value, base_value)
        acc = plan.get("accuracy") or {}
        rows.append({
            "Plan": plan["plan"], "Verdict": verdict_label(plan),
            "Cost / 1k queries (USD)": _get(plan, "cost", "usd_per_1k_queries"),
            "Δ cost %": _pct(_get(plan, "cost", "usd_per_1k_queries"), _get(base, "cost", "usd_per_1k_queries")),
            f"{metric.label} ({metric.unit})": value,
            f"Δ {metric.label} ({delta_unit})": delta,
            "Weights (MB)": _div(_get(plan, "size", "weight_bytes"), 1e6),
            "Δ size %": _pct(_get(plan, "size", "weight_bytes"), _get(base, "size", "weight_bytes")),
            "Compression ×": _get(plan, "size", "compression_ratio"),
            "TPOT (ms)": _get(plan, "latency", "tpot_ms"),
            "Δ TPOT %": _pct(_get(plan, "latency", "tpot_ms"), _get(base, "latency", "tpot_ms")),
            "TTFT (ms)": _get(plan, "latency", "ttft_ms"),
            "Δ TTFT %": _pct(_get(plan, "latency", "ttft_ms"), _get(base, "latency", "ttft_ms")),
            "Perplexity": acc.get("perplexity"),
            "Δ perplexity %": acc.get("ppl_delta_pct"),
            "KL (nats)": acc.get("kl_divergence"),
            "Roofline efficiency %": _div(_get(plan, "latency", "roofline_efficiency"), 0.01),
            "Peak memory (MB)": _div(_get(plan, "memory", "peak_bytes"), 1e6),
            "Backend": plan.get("backend"),
            "Seconds": plan.get("seconds"),
            "Error": plan.get("error"),
        })
    frame = pd.DataFrame(rows)
    if not frame.empty and frame["Error"].isna().all():
        frame = frame.drop(columns="Error")
    return frame


def speed_frame(record: dict) -> pd.DataFrame:
    """Every latency the run measured: which decode path and kernel produced it, at which batch."""
    rows = []
    for plan in record["plans"]:
        if plan.get("status") != "ok":
            continue
        lat = plan["latency"]
        headline = headline_rows(plan)
        for row in lat.get("by_batch") or []:
            rows.append({
                "Plan": plan["plan"], "Decode path": row.get("decode_path", lat.get("decode_path")),
                "Kernel": lat.get("kernel_path"), "Batch": row["batch_size"], "TPOT (ms)": row["tpot_ms"],
                "Tokens/s": row["tokens_per_s"], "TTFT (ms)": row["ttft_ms"],
                "Roofline efficiency %": _div(row.get("roofline_efficiency"), 0.01),
                "Cost / 1k queries (USD)": row.get("usd_per_1k_queries"),
                "Headline": "yes" if row in headline and row["batch_size"] == lat.get("batch_size") else "",
            })
    return pd.DataFrame(rows)


def _div(value, by):
    return None if value is None else value / by


def _row_css(row: pd.Series) -> list[str]:
    css = {"within": WITHIN_CSS, "outside": OUTSIDE_CSS}.get(row["Verdict"], "")
    if row.name == 0:
        css = ""  # the baseline is the reference, not a verdict
    return [css if column.startswith("Δ") or column == "Verdict" else "" for column in row.index]


def _formats(frame: pd.DataFrame) -> dict:
    formats = {column: "{:,.2f}" for column in frame.columns if frame[column].dtype.kind == "f"}
    formats.update({c: "{:+.1f}" for c in frame.columns if c.startswith("Δ")})
    formats.update({c: "{:,.4f}" for c in ("Cost / 1k queries (USD)", "KL (nats)") if c in frame.columns})
    return formats


def styled(frame: pd.DataFrame):
    """The frame with numbers formatted and deltas coloured by verdict."""
    return frame.style.format(_formats(frame), na_rep="–").apply(_row_css, axis=1)


def formatted(frame: pd.DataFrame):
    """Numbers formatted, no verdict colours (tables that are not one row per plan)."""
    return frame.style.format(_formats(frame), na_rep="–")


def cost_assumptions(record: dict) -> str:
    """The one sentence that must sit next to every cost."""
    cost = (record.get("settings") or {}).get("cost") or {}
    if not cost:
        return ""
    return (f"Cost assumes {cost['hardware']} at ${cost['price_per_hour']:g}/h, {cost['prompt_tokens']} prompt + "
            f"{cost['output_tokens']} output tokens per query, batch {cost['batch_size']}, "
            f"{cost['utilisation']:.0%} utilisation, latency measured on {record['device']['name']}.")
