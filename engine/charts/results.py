"""The results charts of a run record (pure plotly, no streamlit): size, cost, latency, accuracy,
cost against accuracy with its Pareto front, slices, throughput, and runs side by side. Every
figure colours a plan the same way and puts units in its axis titles; a builder returns None
when there is nothing to draw (engine/charts/catalogue.py says why in its place)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.charts import style
from engine.charts.style import BATCH_AXIS, LEGEND_BELOW, TEMPLATE, hover, plain, record_colours
from engine.metrics import METRICS, Metric
from engine.records import interval_text, ok_plans, verdict_label, verdict_metric


def metric_bars(record: dict, metric_key: str, title: str | None = None, height: int = 340) -> go.Figure | None:
    """One bar per finished plan for one metric, labelled with its value."""
    metric = METRICS[metric_key]
    plans = ok_plans(record)
    values = [metric.value(p) for p in plans]
    if not plans or all(v is None for v in values):
        return None
    colours = record_colours(record)
    fig = go.Figure(go.Bar(
        x=[plain(p["plan"]) for p in plans], y=values, marker_color=[colours[p["plan"]] for p in plans],
        text=[metric.format(v) for v in values], textposition="outside", cliponaxis=False,
        hovertext=[hover(p) for p in plans], hovertemplate="%{hovertext}<extra></extra>",
    ))
    fig.update_layout(template=TEMPLATE, title=title or metric.label, height=height, showlegend=False,
                      yaxis=dict(title=metric.title, **style.value_axis(values, metric)), xaxis=dict(title="plan"))
    return fig


def size_chart(record: dict) -> go.Figure | None:
    return metric_bars(record, "weight_bytes", "Size: weights held in memory")


def cost_chart(record: dict) -> go.Figure | None:
    return metric_bars(record, "usd_per_1k_queries", "Cost per 1,000 queries")


def energy_chart(record: dict) -> go.Figure | None:
    return metric_bars(record, "kwh_per_1k_queries", "Energy per 1,000 queries")


def latency_chart(record: dict, height: int = 340) -> go.Figure | None:
    """ttft and tpot side by side (different scales), one colour per plan."""
    plans = ok_plans(record)
    if not plans:
        return None
    colours = record_colours(record)
    batch = plans[0]["latency"]["batch_size"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("Time to first token", "Time per output token"))
    for col, key in ((1, "ttft_ms"), (2, "tpot_ms")):
        metric = METRICS[key]
        values = [metric.value(p) for p in plans]
        fig.add_trace(go.Bar(
            x=[plain(p["plan"]) for p in plans], y=values, marker_color=[colours[p["plan"]] for p in plans],
            text=[metric.format(v) for v in values], textposition="outside", cliponaxis=False,
            hovertext=[hover(p) for p in plans], hovertemplate="%{hovertext}<extra></extra>", showlegend=False,
        ), row=1, col=col)
        fig.update_yaxes(title_text=f"ms at batch {batch}" if col == 1 else None, row=1, col=col,
                         **style.value_axis(values, metric))
    fig.update_layout(template=TEMPLATE, height=height)
    fig.update_annotations(font_size=14)
    return fig


def accuracy_metric(record: dict) -> Metric:
    """Task-accuracy change where answers were scored, else the perplexity change."""
    has_task = any(p["accuracy"].get("accuracy_delta_pts") is not None for p in ok_plans(record))
    return METRICS["accuracy_delta_pts" if has_task else "ppl_delta_pct"]


# the verdict metric whose paired interval a chart's value carries, and how the change maps to the value
_INTERVAL_OF = {"accuracy_delta_pts": "task_accuracy", "ppl_delta_pct": "perplexity", "task_accuracy": "task_accuracy",
                "top1_agreement": "top1_agreement", "generation_agreement": "generation_agreement",
                "perplexity": "perplexity", "kl_divergence": "kl_divergence"}


def interval_error(plan: dict, metric: Metric, base_value: float | None = None) -> tuple[float, float] | None:
    """(below, above) the plotted value: the verdict's paired 95% interval, where the plotted metric is the
    verdict's (points for shares, percent for perplexity changes, nats for KL)."""
    verdict = plan.get("verdict") or {}
    if not verdict.get("delta_ci95") or verdict.get("metric") != _INTERVAL_OF.get(metric.name):
        return None
    lo, hi = verdict["delta_ci95"]
    estimate = verdict["delta"]
    if metric.name == "perplexity" and base_value:  # a relative change on the baseline's perplexity
        return base_value * (estimate - lo) / 100, base_value * (hi - estimate) / 100
    return estimate - lo, hi - estimate


def _error_bars(errors: list) -> dict | None:
    if not any(errors):
        return None
    return dict(type="data", symmetric=False, array=[e[1] if e else 0 for e in errors],
                arrayminus=[e[0] if e else 0 for e in errors], color="#334155", thickness=1.5, width=6)


def accuracy_chart(record: dict, height: int = 340) -> go.Figure | None:
    plans = [p for p in ok_plans(record) if p["accuracy"].get("applicable", True)]
    if not plans:
        return None
    metric = accuracy_metric(record)
    colours = record_colours(record)
    values, labels = [], []
    for p in plans:
        diverged = metric.name == "ppl_delta_pct" and p["accuracy"].get("diverged")
        values.append(None if diverged else metric.value(p))
        labels.append("diverged" if diverged else metric.format(metric.value(p)))
    fig = go.Figure(go.Bar(
        x=[plain(p["plan"]) for p in plans], y=[v or 0 for v in values],
        marker_color=[colours[p["plan"]] for p in plans],
        text=labels, textposition="outside", cliponaxis=False,
        error_y=_error_bars([interval_error(p, metric) for p in plans]),
        hovertext=[hover(p) + (f"<br>paired 95% interval: {interval_text(p)}" if interval_text(p) else "")
                   for p in plans], hovertemplate="%{hovertext}<extra></extra>",
    ))
    fig.add_hline(y=0, line_color="#94a3b8")
    better = "higher is better" if metric.higher_is_better else "lower is better"
    fig.update_layout(template=TEMPLATE, height=height, showlegend=False,
                      title=f"{metric.label} vs baseline ({better})", yaxis=dict(title=metric.title),
                      xaxis=dict(title="plan"))
    return fig


def primary_metric(record: dict) -> Metric:
    return METRICS.get(verdict_metric(record), METRICS["top1_agreement"])


def pareto_front(points: list[tuple[str, float, float]], higher_is_better: bool = True) -> list[str]:
    """Names of the non-dominated points (cost, accuracy): nothing else is cheaper and at least as accurate."""
    def better_or_equal(a, b):
        return a >= b if higher_is_better else a <= b

    front = []
    for name, cost, acc in points:
        dominated = any(c <= cost and better_or_equal(a, acc) and (c < cost or a != acc)
                        for other, c, a in points if other != name)
        if not dominated:
            front.append(name)
    return front


def cost_accuracy_scatter(record: dict, height: int = 420) -> go.Figure | None:
    """Each plan at (cost, primary metric); the Pareto front joins the plans nothing beats on both."""
    metric = primary_metric(record)
    plans = [p for p in ok_plans(record) if p["accuracy"].get("applicable", True) and metric.value(p) is not None]
    if not plans:
        return None
    colours = record_colours(record)
    points = [(p["plan"], p["cost"]["usd_per_1k_queries"], metric.value(p)) for p in plans]
    front = pareto_front(points, metric.higher_is_better is not False)
    fig = go.Figure()
    line = sorted((pt for pt in points if pt[0] in front), key=lambda pt: pt[1])
    fig.add_trace(go.Scatter(x=[pt[1] for pt in line], y=[pt[2] for pt in line], mode="lines", name="Pareto front",
                             line=dict(color="#94a3b8", dash="dash", width=2), hoverinfo="skip"))
    base_value = (plans[0].get("accuracy") or {}).get(metric.name)
    for p, (name, cost, acc) in zip(plans, points):
        on_front = name in front
        error = interval_error(p, metric, base_value)
        fig.add_trace(go.Scatter(
            x=[cost], y=[acc], mode="markers+text", name=plain(name), text=[plain(name)], textposition="top center",
            error_y=_error_bars([error]),
            marker=dict(size=16, color=colours[name] if on_front else "white", line=dict(color=colours[name], width=3),
                        symbol="circle"),
            hovertext=[hover(p) + f"<br>{metric.label}: {metric.format(acc)}"
                       + ("<br><i>on the Pareto front</i>" if on_front else "<br><i>dominated</i>")],
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    limit = (plans[0].get("verdict") or {}).get("limit")
    if limit is not None and metric.name != "kl_divergence":
        fig.add_hline(y=limit * metric.scale, line=dict(color=style.OUTSIDE, dash="dot", width=1),
                      annotation_text="tolerance limit", annotation_position="bottom left")
    fig.update_layout(template=TEMPLATE, height=height, title="Cost vs accuracy (filled: Pareto front)",
                      xaxis=dict(title="Cost per 1,000 queries (USD)",
                                 **style.value_axis([pt[1] for pt in points], METRICS["usd_per_1k_queries"])),
                      yaxis=dict(title=metric.title), showlegend=False)
    return fig


def slice_delta(plan_slice: dict, base_slice: dict, metric: Metric):
    """The primary metric's change on one slice, in the unit the heatmap shows."""
    if metric.name == "task_accuracy":
        return plan_slice.get("accuracy_delta_pts")
    if metric.name == "perplexity":
        return plan_slice.get("ppl_delta_pct")
    value, base = plan_slice.get(metric.name), base_slice.get(metric.name)
    if value is None or base is None:
        return None
    return (value - base) * (100 if metric.share else 1)


def slice_heatmap(record: dict, height: int | None = None) -> go.Figure | None:
    """Rows: slices (numbers, rare words, categories); columns: compressed plans; cells: change vs baseline."""
    plans = ok_plans(record)
    metric = primary_metric(record)
    if len(plans) < 2 or not plans[0].get("slices"):
        return None
    base = plans[0]["slices"]
    names = list(base)
    z = [[slice_delta((p.get("slices") or {}).get(s, {}), base[s], metric) for p in plans[1:]] for s in names]
    unit = {"task_accuracy": "pts", "perplexity": "%", "kl_divergence": "nats"}.get(metric.name, "pts")
    scale = "RdBu" if metric.higher_is_better is not False else "RdBu_r"
    fig = go.Figure(go.Heatmap(
        z=z, x=[plain(p["plan"]) for p in plans[1:]], y=[f"{plain(s)} ({base[s].get('prompts', '?')})" for s in names],
        colorscale=scale, zmid=0, text=[[("n/a" if v is None else f"{v:+.2f}") for v in row] for row in z],
        texttemplate="%{text}", colorbar=dict(title=unit),
        hovertemplate="slice %{y}<br>plan %{x}<br>change %{text} " + unit + "<extra></extra>",
    ))
    fig.update_layout(template=TEMPLATE, height=height or max(260, 60 + 34 * len(names)),
                      title=f"Change per slice vs baseline ({unit})",
                      xaxis=dict(title="plan", side="bottom"),
                      yaxis=dict(title="slice (prompts)", autorange="reversed"))
    return fig


def throughput_chart(record: dict, height: int = 340) -> go.Figure | None:
    """Tokens per second against batch size, one line per plan and decode path (plain dashed);
    a ring marks each plan's cheapest acceptable batch. None when one batch size was measured."""
    plans = [p for p in ok_plans(record) if len({r["batch_size"] for r in p["latency"].get("by_batch") or []}) > 1]
    if not plans:
        return None
    colours = record_colours(record)
    fig = go.Figure()
    for p in plans:
        rows = p["latency"]["by_batch"]
        paths = list(dict.fromkeys(r.get("path", "plain") for r in rows))
        for path in paths:
            mine = [r for r in rows if r.get("path", "plain") == path]
            name = plain(p["plan"] if len(paths) == 1 else f"{p['plan']} · {path}")
            fig.add_trace(go.Scatter(
                x=[r["batch_size"] for r in mine], y=[r["tokens_per_s"] for r in mine], mode="lines+markers",
                name=name, line=dict(color=colours[p["plan"]], width=3, dash="dot" if path == "plain" else "solid"),
                customdata=[[r.get("usd_per_1k_queries") or 0, r["tpot_ms"]] for r in mine],
                hovertemplate="%{fullData.name}<br>batch %{x}: %{y:,.1f} tokens/s, %{customdata[1]:,.1f} ms/token, "
                "$%{customdata[0]:,.4f} per 1,000 queries<extra></extra>"))
        ring = best_batch_ring(p, "tokens_per_s", colours[p["plan"]])
        if ring is not None:
            fig.add_trace(ring)
    fig.update_layout(template=TEMPLATE, height=height + 20 * (len(fig.data) // 3),
                      title="Throughput vs batch size (ring: cheapest acceptable)", legend=LEGEND_BELOW,
                      xaxis=BATCH_AXIS, yaxis=dict(title="Throughput (tokens/s)"))
    return fig


def best_batch_ring(plan: dict, y_key: str, colour: str) -> go.Scatter | None:
    """An open ring on the plan's cheapest batch within the acceptable time per token."""
    best = plan["latency"].get("best_batch")
    if not best:
        return None
    return go.Scatter(
        x=[best["batch_size"]], y=[best[y_key]], mode="markers", showlegend=False, name=plain(plan["plan"]),
        marker=dict(size=16, symbol="circle-open", color=colour, line=dict(width=3)),
        hovertemplate=f"%{{fullData.name}}: cheapest batch within {best['max_tpot_ms']:,.0f} ms/token<extra></extra>")


def verdict_colour(plan: dict) -> str | None:
    return {"within": style.WITHIN, "outside": style.OUTSIDE, "inconclusive": style.UNDECIDED}.get(
        verdict_label(plan))


def compare_runs(records: list[dict], metric_key: str, height: int = 380) -> go.Figure | None:
    """One bar group per plan, one colour per run: the same metric across runs."""
    metric = METRICS[metric_key]
    colours = style.run_colours([r["run_id"] for r in records])
    fig = go.Figure()
    values = []
    for r in records:
        plans = ok_plans(r)
        ys = [metric.value(p) for p in plans]
        values += ys
        fig.add_trace(go.Bar(x=[plain(p["plan"]) for p in plans], y=ys,
                             name=plain(f"{r['run_id'][:8]} · {r['model']['name']}"),
                             marker_color=colours[r["run_id"]], text=[metric.format(v) for v in ys],
                             textposition="outside", cliponaxis=False,
                             hovertemplate=f"run {plain(r['run_id'])}<br>%{{x}}: %{{text}}<extra></extra>"))
    if all(v is None for v in values):
        return None
    fig.update_layout(template=TEMPLATE, height=height, barmode="group", title=f"{metric.label} by run",
                      yaxis=dict(title=metric.title, **style.value_axis(values, metric)), xaxis=dict(title="plan"))
    return fig
