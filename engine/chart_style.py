"""One look for every chart (dashboard and reports): the template, one colour per plan, and
the catalogue of plotted metrics with their units, so a number reads the same everywhere."""

from __future__ import annotations

import math
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio

BASELINE_COLOUR = "#64748b"
PLAN_COLOURS = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
                "#a16207", "#0f766e")
WITHIN, OUTSIDE = "#16a34a", "#dc2626"
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


def plan_colours(plans: list[str]) -> dict[str, str]:
    """The baseline (first plan) is slate grey; the others take the palette in run order."""
    colours = {}
    for position, plan in enumerate(plans):
        colours[plan] = BASELINE_COLOUR if position == 0 else PLAN_COLOURS[(position - 1) % len(PLAN_COLOURS)]
    return colours


def run_colours(run_ids: list[str]) -> dict[str, str]:
    """One colour per run, for charts that compare runs."""
    return {run_id: PLAN_COLOURS[i % len(PLAN_COLOURS)] for i, run_id in enumerate(run_ids)}


@dataclass(frozen=True)
class Metric:
    section: str
    key: str
    label: str
    unit: str
    scale: float = 1.0  # stored value x scale = plotted value
    fmt: str = ".3g"
    higher_is_better: bool | None = None

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})"

    def value(self, plan: dict):
        if plan.get("status") != "ok":
            return None
        raw = (plan.get(self.section) or {}).get(self.key)
        return None if raw is None else raw * self.scale


METRICS = {
    "weight_bytes": Metric("size", "weight_bytes", "Weights in memory", "MB", 1e-6, ",.1f", False),
    "compression_ratio": Metric("size", "compression_ratio", "Compression ratio", "× vs baseline", 1, ".2f", True),
    "ttft_ms": Metric("latency", "ttft_ms", "Time to first token", "ms", 1, ",.1f", False),
    "tpot_ms": Metric("latency", "tpot_ms", "Time per output token", "ms", 1, ",.1f", False),
    "tokens_per_s": Metric("latency", "tokens_per_s", "Throughput", "tokens/s", 1, ",.1f", True),
    "peak_bytes": Metric("memory", "peak_bytes", "Peak memory", "MB", 1e-6, ",.0f", False),
    "usd_per_1k_queries": Metric("cost", "usd_per_1k_queries", "Cost per 1,000 queries", "USD", 1, "$,.4f", False),
    "task_accuracy": Metric("accuracy", "task_accuracy", "Task accuracy", "%", 100, ".1f", True),
    "accuracy_delta_pts": Metric("accuracy", "accuracy_delta_pts", "Task accuracy change", "pts",
                                 1, "+.1f", True),
    "top1_agreement": Metric("accuracy", "top1_agreement", "Top-1 agreement with baseline", "%", 100, ".1f", True),
    "generation_agreement": Metric("accuracy", "generation_agreement", "Same generation as baseline", "%", 100,
                                   ".1f", True),
    "perplexity": Metric("accuracy", "perplexity", "Perplexity", "lower is better", 1, ".2f", False),
    "ppl_delta_pct": Metric("accuracy", "ppl_delta_pct", "Perplexity change", "%", 1, "+.2f", False),
    "kl_divergence": Metric("accuracy", "kl_divergence", "KL divergence from baseline", "nats", 1, ".4f", False),
}


def fmt(metric: Metric, value) -> str:
    if value is None:
        return "n/a"
    if metric.fmt.startswith("$"):
        return "$" + format(value, metric.fmt[1:])
    return format(value, metric.fmt)


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


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A blank chart that says why there is nothing to draw."""
    fig = go.Figure(layout=dict(template=TEMPLATE, height=height, xaxis=dict(visible=False),
                                yaxis=dict(visible=False)))
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#64748b"), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    return fig
