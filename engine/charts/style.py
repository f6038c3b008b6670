"""One look for every chart (dashboard and reports): the template, one colour per plan and per
run, and value axes that stay readable. Units and formats come from engine.metrics."""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go
import plotly.io as pio

from engine.metrics import Metric

BASELINE_COLOUR = "#64748b"
PLAN_COLOURS = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
                "#a16207", "#0f766e")
WITHIN, OUTSIDE, UNDECIDED = "#16a34a", "#dc2626", "#d97706"  # verdict: within, outside, inconclusive
FONT = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"

pio.templates["compecon"] = go.layout.Template(
    layout=dict(
        font=dict(family=FONT, size=13, color="#1f2937"),
        title=dict(font=dict(size=15), x=0, xanchor="left"),
        paper_bgcolor="white", plot_bgcolor="white",
        colorway=list(PLAN_COLOURS),
        margin=dict(l=64, r=24, t=56, b=56),
        xaxis=dict(showgrid=False, linecolor="#cbd5e1", ticks="outside", tickcolor="#cbd5e1", automargin=True),
        yaxis=dict(gridcolor="#e5e7eb", zerolinecolor="#94a3b8", linecolor="#cbd5e1", automargin=True),
        hoverlabel=dict(bgcolor="white", font=dict(family=FONT, size=12)),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        bargap=0.35,
    )
)
TEMPLATE = "plotly_white+compecon"


def plain(value) -> str:
    """User text (plan strings, slice and category names, model and file names) shown as itself in any Plotly
    label, tick, hover, legend or title: Plotly reads tags such as <b> and <a href> in every string as markup
    and decodes &lt; &gt; &amp; back, so escaping those three is enough (it does not decode &quot;)."""
    return html.escape("" if value is None else str(value), quote=False)


def plan_colours(plans: list[str]) -> dict[str, str]:
    """The baseline (first plan) is slate grey; the others take the palette in run order."""
    colours = {}
    for position, plan in enumerate(plans):
        colours[plan] = BASELINE_COLOUR if position == 0 else PLAN_COLOURS[(position - 1) % len(PLAN_COLOURS)]
    return colours


def record_colours(record: dict) -> dict[str, str]:
    """Each plan of a run record in its colour."""
    return plan_colours([p["plan"] for p in record["plans"]])


def run_colours(run_ids: list[str]) -> dict[str, str]:
    """One colour per run, for charts that compare runs."""
    return {run_id: PLAN_COLOURS[i % len(PLAN_COLOURS)] for i, run_id in enumerate(run_ids)}


def axis_type(values: list) -> str:
    """Log when the positive values span a decade or more, so small plans stay visible."""
    positive = [v for v in values if v is not None and v > 0]
    if len(positive) < 2 or any(v is not None and v <= 0 for v in values):
        return "linear"
    return "log" if max(positive) / min(positive) >= 10 else "linear"


def value_axis(values: list, metric: Metric) -> dict:
    """Axis settings: linear, or log with readable 1-2-5 ticks (no crowded minor labels)."""
    if axis_type(values) == "linear":
        return {"type": "linear"}
    positive = [v for v in values if v is not None and v > 0]
    low, high = min(positive) / 1.5, max(positive) * 1.5
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
             for m in (1, 2, 5) if low <= m * 10.0 ** e <= high]
    prefix = "$" if metric.fmt.startswith("$") else ""
    return {"type": "log", "tickvals": ticks, "ticktext": [f"{prefix}{t:,g}" for t in ticks]}


BATCH_AXIS = dict(title="batch size (queries decoded together)", type="log", dtick=0.30103)  # ticks at 1, 2, 4 ...
LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.38, xanchor="left", x=0)


def hover(plan: dict) -> str:
    """The hover text of a plan on every chart: what it is, what it costs, which kernels ran."""
    size, lat, cost = plan["size"], plan["latency"], plan["cost"]
    runtime = plain((plan.get("runtime") or {}).get("name"))
    backend, kernel, path = (plain(v or "-") for v in (plan.get("backend"), plan.get("kernel_path"),
                                                        lat.get("decode_path")))
    return (f"<b>{plain(plan['plan'])}</b> ({backend}{', in ' + runtime if runtime else ''})<br>"
            f"weights {size['weight_bytes'] / 1e6:,.1f} MB, {size['compression_ratio']:.2f}× smaller, "
            f"{size['bits_per_weight']:.2f} bits/weight<br>"
            f"ttft {lat['ttft_ms']:,.1f} ms, tpot {lat['tpot_ms']:,.1f} ms at batch {lat['batch_size']}<br>"
            f"${cost['usd_per_1k_queries']:,.4f} per 1,000 queries<br>kernel: {kernel}<br>decode path: {path}")
