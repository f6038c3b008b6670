"""The report's charts: a run's charts from engine.charts.catalogue (the same figures and captions
the dashboard draws), made print-friendly, and cross-run bars."""

from __future__ import annotations

import re
from dataclasses import dataclass

import plotly.graph_objects as go

from engine.charts import results
from engine.charts.catalogue import run_charts


@dataclass(frozen=True)
class ReportFigure:
    key: str  # unique within a report (run id + chart)
    fig: go.Figure
    caption: str = ""
    wide: bool = False  # spans the full width (charts with side-by-side panels or many labels)


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


def run_figures(record: dict) -> tuple[list[ReportFigure], list[str]]:
    """(figures with data, reasons for the charts left out) for one run."""
    figures, left_out = [], []
    for chart in run_charts(record):
        if chart.fig is None:
            left_out.append(chart.caption)
        else:
            figures.append(ReportFigure(f"{record['run_id']}-{chart.key}", tidy(chart.fig), chart.caption, chart.wide))
    return figures, left_out


def comparison_figures(records: list[dict]) -> list[ReportFigure]:
    out = []
    for key in ("usd_per_1k_queries", "weight_bytes", "tpot_ms"):
        fig = results.compare_runs(records, key)
        if fig is not None:
            out.append(ReportFigure(f"compare-{key}", tidy(fig), "One colour per run, grouped by plan.", True))
    return out
