"""A sweep's figures (models × plans; pure plotly, no streamlit): the grid coloured by cost per 1,000 queries and by
the accuracy change against each model's own baseline, and the Pareto front across every cell, so a team sees which
model and plan to ship in one look. Cells not measured yet stay on the grid, marked pending; user text (model
specs, plans, errors) is escaped as in every chart."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go

from engine.charts import style
from engine.charts.results import pareto_front
from engine.charts.style import TEMPLATE, plain
from engine.metrics import METRICS, Metric
from engine.records import SweepCell, sweep_cells, sweep_metric
from engine.settings import PlanState

EMPTY = "#f1f5f9"  # a cell with no colour: pending, failed, not run, n/a
STAR = "★ "  # the model's recommended plan
CHEAP_TO_DEAR = [[0.0, "#dcfce7"], [0.5, "#fef9c3"], [1.0, "#fecaca"]]  # light, so the cell text stays readable
WORSE_TO_BETTER = [[0.0, "#fca5a5"], [0.5, "#f8fafc"], [1.0, "#86efac"]]


@dataclass(frozen=True)
class Axis:
    """What a cell's cost is traded against on the Pareto chart."""

    key: str
    label: str  # in the chart's title: "size"
    title: str  # the axis title, with its unit
    higher_is_better: bool
    value: Callable[[SweepCell], float | None]


def axes(sweep: dict) -> dict[str, Axis]:
    """accuracy (the verdict metric's change vs each model's baseline), size and speed."""
    metric = sweep_metric(sweep)
    return {
        "accuracy": Axis("accuracy", f"change in {metric.label.lower()}", f"Δ vs own baseline ({metric.change_unit})",
                         metric.higher_is_better is not False, lambda c: c.accuracy_change),
        "size": Axis("size", "size", "Weights in memory (MB)", False,
                     lambda c: None if c.weight_bytes is None else c.weight_bytes / 1e6),
        "speed": Axis("speed", "speed", "Time per output token (ms)", False, lambda c: c.tpot_ms),
    }


def default_axis(cells: list[SweepCell]) -> str:
    """Accuracy where any cell has it, else size (a sweep of random-weight shapes only)."""
    return "accuracy" if any(c.accuracy_change is not None for c in cells) else "size"


def front(cells: list[SweepCell], axis: Axis) -> list[SweepCell]:
    """The measured cells nothing else beats on both cost and the axis, in the cells' order."""
    points = [(c.key, c.usd_per_1k_queries, axis.value(c)) for c in cells
              if c.status == PlanState.OK and c.usd_per_1k_queries is not None and axis.value(c) is not None]
    names = set(pareto_front(points, axis.higher_is_better))
    return [c for c in cells if c.key in names]


def change_text(value: float | None, metric: Metric) -> str:
    """'+0.4 pts', '+1.25%', '+0.0031 nats'; 'n/a' without a value."""
    if value is None:
        return "n/a"
    unit = metric.change_unit
    if unit == "%":
        return f"{value:+.2f}%"
    if unit == "pts":
        return f"{value:+.1f} pts"
    return f"{value:+.4f} {plain(unit)}"


def money(value: float) -> str:
    """A cost per 1,000 queries: four decimals, or two significant digits below a tenth of a cent."""
    return f"${value:,.4f}" if value >= 0.001 else f"${value:.2g}"


def _unmeasured(cell: SweepCell) -> str:
    return "pending" if cell.status == PlanState.PENDING else cell.status


def _hover(cell: SweepCell, metric: Metric) -> str:
    lines = [f"<b>{plain(cell.row)} × {plain(cell.plan)}</b>" + (" (baseline)" if cell.position == 0 else "")]
    if cell.status != PlanState.OK:
        lines.append(_unmeasured(cell) + (f": {plain(cell.error)}" if cell.error else ""))
        return "<br>".join(lines)
    cost = f"{money(cell.usd_per_1k_queries)} per 1,000 queries"
    if cell.position and cell.cost_change_pct is not None:
        cost += f" ({cell.cost_change_pct:+.1f}% vs its baseline)"
    lines.append(cost)
    if not cell.accuracy_applicable:
        lines.append("accuracy: n/a (random weights)")
    elif cell.position:
        verdict = f", {cell.verdict}" if cell.verdict else ""
        lines.append(f"Δ {metric.label}: {'diverged' if cell.diverged else change_text(cell.accuracy_change, metric)}"
                     f"{verdict}")
    if cell.weight_bytes is not None and cell.tpot_ms is not None:
        lines.append(f"weights {cell.weight_bytes / 1e6:,.1f} MB, {cell.tpot_ms:,.1f} ms per output token")
    if cell.host:
        tries = f", attempt {cell.attempts}" if cell.attempts and cell.attempts > 1 else ""
        lines.append(f"ran on {plain(cell.host)}{tries}")
    if cell.recommended:
        lines.append("<i>recommended for this model</i>")
    return "<br>".join(lines)


def _grid(sweep: dict, cells: list[SweepCell], z_of, text_of, title: str, heatmap: dict,
          height: int | None = None) -> go.Figure:
    """A models × plans heatmap: a cell's colour from z_of (None: grey), its words from text_of laid over it, and
    `heatmap` the colour scale and bar."""
    plans = [plain(p) for p in sweep["spec"]["plans"]]
    rows = list(dict.fromkeys(c.row for c in cells))
    where = {(c.row, c.position): c for c in cells}
    metric = sweep_metric(sweep)
    z = [[z_of(where[(r, i)]) if (r, i) in where else None for i in range(len(plans))] for r in rows]
    hover = [[_hover(where[(r, i)], metric) if (r, i) in where else "" for i in range(len(plans))] for r in rows]
    ys = [plain(r) for r in rows]
    fig = go.Figure(go.Heatmap(  # every cell grey first, so a cell without a colour still shows as a cell
        z=[[0] * len(plans) for _ in rows], x=plans, y=ys, xgap=3, ygap=3, colorscale=[[0, EMPTY], [1, EMPTY]],
        showscale=False, hoverinfo="skip", name="cells"))
    fig.add_trace(go.Heatmap(
        z=z, x=plans, y=ys, xgap=3, ygap=3, hoverongaps=True, hovertext=hover, name="values",
        hovertemplate="%{hovertext}<extra></extra>", showscale=any(v is not None for row in z for v in row),
        **heatmap))
    labelled = [c for c in cells if (c.row, c.position) in where]
    fig.add_trace(go.Scatter(
        x=[plans[c.position] for c in labelled], y=[plain(c.row) for c in labelled],
        text=[(STAR if c.recommended else "") + text_of(c) for c in labelled], mode="text",
        textfont=dict(size=12, color="#1f2937"), hoverinfo="skip", showlegend=False, name="labels"))
    fig.update_layout(template=TEMPLATE, title=title, height=height or 130 + 56 * len(rows),
                      xaxis=dict(side="top", type="category", showline=False, ticks="", showgrid=False),
                      yaxis=dict(autorange="reversed", type="category", showline=False, ticks="", showgrid=False),
                      margin=dict(t=84))
    return fig


def cost_grid(sweep: dict, height: int | None = None) -> go.Figure:
    """Models × plans coloured by cost per 1,000 queries (log colours when costs span a decade), each cell saying
    its cost and its change against the model's own baseline; pending cells grey, marked pending."""
    cells = sweep_cells(sweep)
    costs = [c.usd_per_1k_queries for c in cells if c.usd_per_1k_queries]
    log = style.axis_type(costs) == "log"
    colorbar = {"title": "USD / 1k", "tickformat": "$.2~g"}
    if log:
        ticks = style.value_axis(costs, METRICS["usd_per_1k_queries"])
        every = -(-len(ticks["tickvals"]) // 4)  # at most four labels on a short bar
        colorbar.update(tickvals=[math.log10(t) for t in ticks["tickvals"][::every]],
                        ticktext=ticks["ticktext"][::every])

    def z_of(c: SweepCell):
        value = c.usd_per_1k_queries if c.status == PlanState.OK else None
        return None if value is None else (math.log10(value) if log and value > 0 else value)

    def text_of(c: SweepCell) -> str:
        if c.status != PlanState.OK or c.usd_per_1k_queries is None:
            return _unmeasured(c)
        change = "baseline" if c.position == 0 else (
            "n/a" if c.cost_change_pct is None else f"{c.cost_change_pct:+.1f}%")
        return f"{money(c.usd_per_1k_queries)}<br>{change}"

    return _grid(sweep, cells, z_of, text_of, "Cost per 1,000 queries (change vs each model's own baseline)",
                 {"colorscale": CHEAP_TO_DEAR, "colorbar": colorbar}, height)


def accuracy_grid(sweep: dict, height: int | None = None) -> go.Figure | None:
    """Models × plans coloured by the verdict metric's change against each model's own baseline (green better, red
    worse), with the plan's verdict; a random-weight shape's row reads n/a. None when no model has accuracy."""
    cells = sweep_cells(sweep)
    if not any(c.accuracy_applicable for c in cells):
        return None
    metric = sweep_metric(sweep)
    better_up = metric.higher_is_better is not False
    changes = [abs(c.accuracy_change) for c in cells if c.accuracy_change is not None]
    reach = max(changes, default=0) or 1.0  # a symmetric colour range around no change

    def text_of(c: SweepCell) -> str:
        if not c.accuracy_applicable:
            return "n/a"
        if c.status != PlanState.OK:
            return _unmeasured(c)
        if c.position == 0:
            return "baseline"
        if c.diverged:
            return "diverged"
        return change_text(c.accuracy_change, metric) + (f"<br>{c.verdict}" if c.verdict else "")

    # red for worse, green for better: a lower-is-better metric (perplexity, KL) runs the scale the other way
    colours = WORSE_TO_BETTER if better_up else [[1 - s, c] for s, c in reversed(WORSE_TO_BETTER)]
    return _grid(sweep, cells, lambda c: None if c.position == 0 else c.accuracy_change, text_of,
                 f"{metric.label}: change vs each model's own baseline ({metric.change_unit})",
                 {"colorscale": colours, "zmin": -reach, "zmax": reach, "colorbar": {"title": metric.change_unit}},
                 height)


def front_chart(sweep: dict, axis_key: str | None = None, height: int = 440) -> go.Figure | None:
    """Every measured cell at (cost, the axis), one colour per model; filled: the Pareto front across all cells,
    joined by a dashed line; a ring: each model's recommended plan. None when no cell has both figures."""
    cells = sweep_cells(sweep)
    axis = axes(sweep)[axis_key or default_axis(cells)]
    shown = [c for c in cells if c.status == PlanState.OK and c.usd_per_1k_queries is not None
             and axis.value(c) is not None]
    if not shown:
        return None
    on_front = front(cells, axis)
    keys = {c.key for c in on_front}
    metric = sweep_metric(sweep)
    models = list(dict.fromkeys(c.model for c in cells))
    colours = style.run_colours(models)
    fig = go.Figure()
    line = sorted(on_front, key=lambda c: c.usd_per_1k_queries)
    fig.add_trace(go.Scatter(x=[c.usd_per_1k_queries for c in line], y=[axis.value(c) for c in line], mode="lines",
                             name="Pareto front", line=dict(color="#94a3b8", dash="dash", width=2), hoverinfo="skip"))
    for model in models:
        mine = [c for c in shown if c.model == model]
        if not mine:
            continue
        colour = colours[model]
        fig.add_trace(go.Scatter(
            x=[c.usd_per_1k_queries for c in mine], y=[axis.value(c) for c in mine], mode="markers+text",
            name=plain(mine[0].row), text=[plain(c.plan) if c.key in keys else "" for c in mine],
            textposition="top center", cliponaxis=False,
            marker=dict(size=14, color=[colour if c.key in keys else "white" for c in mine],
                        line=dict(color=colour, width=3)),
            hovertext=[_hover(c, metric) + ("<br><i>on the Pareto front</i>" if c.key in keys else "<br><i>dominated"
                                            "</i>") for c in mine],
            hovertemplate="%{hovertext}<extra></extra>"))
    picked = [c for c in shown if c.recommended]
    if picked:  # a ring around each model's recommended plan, over its marker
        fig.add_trace(go.Scatter(x=[c.usd_per_1k_queries for c in picked], y=[axis.value(c) for c in picked],
                                 mode="markers", name="recommended", hoverinfo="skip",
                                 marker=dict(size=26, symbol="circle-open", color="#1f2937", line=dict(width=2))))
    if axis.key == "accuracy":
        fig.add_hline(y=0, line=dict(color="#94a3b8", width=1))
    better = "higher is better" if axis.higher_is_better else "lower is better"
    cost_axis = style.value_axis([c.usd_per_1k_queries for c in shown], METRICS["usd_per_1k_queries"])
    if cost_axis["type"] == "linear":
        cost_axis["tickformat"] = "$.2~g"
    fig.update_layout(template=TEMPLATE, height=height,
                      title=f"Cost vs {axis.label} across every cell ({better}; filled: Pareto front)",
                      xaxis=dict(title="Cost per 1,000 queries (USD)", **cost_axis), yaxis=dict(title=axis.title),
                      legend=style.LEGEND_BELOW)
    return fig
