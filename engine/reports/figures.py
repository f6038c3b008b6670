"""The report's charts: the results page's figures from engine.charts (the same builders the
dashboard draws), a layer-sensitivity bar chart where a step measured one, and cross-run bars."""

from __future__ import annotations

import re
from dataclasses import dataclass

import plotly.graph_objects as go

from engine import chart_style as style
from engine import charts, charts_calibration, charts_speed


@dataclass(frozen=True)
class ReportFigure:
    key: str  # unique within a report (run id + chart)
    fig: go.Figure
    caption: str = ""
    wide: bool = False  # spans the full width (charts with side-by-side panels or many labels)


def _message(fig: go.Figure) -> str | None:
    """An empty_figure's reason, or None for a figure that draws data."""
    if len(fig.data):
        return None
    annotations = fig.layout.annotations or ()
    return annotations[0].text if annotations else "nothing to draw"


def wrap_label(label: str, width: int = 16) -> str:
    """A long plan name broken after '+', ':' or ',' so category ticks stay horizontal."""
    lines, line = [], ""
    for part in re.split(r"(?<=[+:,])", label):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = part
        else:
            line += part
    return "<br>".join(lines + [line])


def tidy(fig: go.Figure) -> go.Figure:
    """Print-friendly touches on a report's copy of a figure (the builders stay as they are): plan
    names as wrapped horizontal ticks, the title over the plot area, and scatter labels alternating
    above and below their markers so neighbours do not overprint."""
    categories: dict[str, list[str]] = {}
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if xs is not None and len(xs) and all(isinstance(x, str) for x in xs):
            axis = categories.setdefault(getattr(trace, "xaxis", None) or "x", [])
            axis += [x for x in xs if x not in axis]
    for axis, values in categories.items():
        name = "xaxis" + axis[1:]
        fig.layout[name].update(tickmode="array", tickvals=values, ticktext=[wrap_label(v) for v in values],
                                tickangle=0)
    if fig.layout.title.text:
        fig.update_layout(title_xref="paper")
    labelled = [t for t in fig.data if t.type == "scatter" and t.mode == "markers+text" and t.x]
    for n, trace in enumerate(sorted(labelled, key=lambda t: t.x[0])):
        trace.textposition = "top center" if n % 2 == 0 else "bottom center"
        trace.cliponaxis = False
    return fig


def sensitivity_chart(plan: dict, height: int = 320) -> go.Figure:
    """KL of quantizing each decoder block alone (bars), the blocks kept at higher precision highlighted."""
    ranking = sorted(plan["extras"]["sensitivity"], key=lambda r: r["block"])
    kept = set(plan["extras"].get("kept_blocks") or ())
    colours = [style.OUTSIDE if r["block"] in kept else style.BASELINE_COLOUR for r in ranking]
    fig = go.Figure(go.Bar(
        x=[str(r["block"]) for r in ranking], y=[r["kl"] for r in ranking], marker_color=colours,
        hovertemplate="block %{x}<br>KL %{y:.4f} nats<extra></extra>"))
    fig.update_layout(template=style.TEMPLATE, height=height, showlegend=False,
                      title=f"Layer sensitivity measured by {plan['plan']} (red: kept at 8 bits)",
                      xaxis=dict(title="decoder block", type="category"),
                      yaxis=dict(title="KL divergence when quantized alone (nats)"))
    return fig


WIDE = ("latency", "throughput")


def run_figures(record: dict) -> tuple[list[ReportFigure], list[str]]:
    """(figures with data, reasons for the charts left out) for one run."""
    cost = record["settings"]["cost"]
    assumptions = (f"{cost['hardware']} at ${cost['price_per_hour']:g}/h, {cost['prompt_tokens']} prompt + "
                   f"{cost['output_tokens']} output tokens per query, batch {cost['batch_size']}, "
                   f"{cost['utilisation']:.0%} utilisation.")
    candidates = [
        ("size", charts.size_chart(record), "Bytes of weights held in memory after compression (packed values "
                                            "plus scales)."),
        ("cost", charts.cost_chart(record), "Measured latency priced at " + assumptions),
        ("latency", charts.latency_chart(record), "Medians after warm-up; prefill of the prompt (left) and one "
                                                  "decode step (right)."),
        ("accuracy", charts.accuracy_chart(record), "Change against the baseline on the run's evaluation data."),
        ("scatter", charts.cost_accuracy_scatter(record), "Filled markers: the Pareto front, plans nothing else "
                                                          "beats on both cost and accuracy."),
        ("slices", charts.slice_heatmap(record), "Change of the verdict metric on each slice of the prompts."),
    ]
    throughput = charts.throughput_chart(record)
    if throughput is not None:
        candidates.append(("throughput", throughput, "Tokens per second as more queries are decoded together "
                                                     "(dotted: the plain decode loop; ring: cheapest batch within "
                                                     "the acceptable time per token)."))
    cost_curve = charts_speed.cost_by_batch_chart(record)
    if cost_curve is not None:
        candidates.append(("cost-by-batch", cost_curve, "Cost per 1,000 queries at each measured batch size on the "
                                                        "headline decode path; ring: cheapest within the acceptable "
                                                        "time per token."))
    calibration = charts_calibration.calibration_chart(record)
    if calibration is not None:
        candidates.append(("calibration", calibration,
                           " ".join(charts_calibration.calibration_findings(record)) or "Calibration check."))
    for plan in record["plans"]:
        if plan.get("status") == "ok" and (plan.get("extras") or {}).get("sensitivity"):
            candidates.append((f"sensitivity-{len(candidates)}", sensitivity_chart(plan),
                               "Each bar: quantize that block alone and measure KL against the float model on "
                               "the calibration rows."))
    figures, left_out = [], []
    for key, fig, caption in candidates:
        reason = _message(fig)
        if reason:
            left_out.append(reason)
        else:
            figures.append(ReportFigure(f"{record['run_id']}-{key}", tidy(fig), caption, key in WIDE))
    return figures, left_out


def comparison_figures(records: list[dict]) -> list[ReportFigure]:
    out = []
    for key in ("usd_per_1k_queries", "weight_bytes", "tpot_ms"):
        fig = charts.compare_runs(records, key)
        if not _message(fig):
            out.append(ReportFigure(f"compare-{key}", tidy(fig), "One colour per run, grouped by plan.", True))
    return out
