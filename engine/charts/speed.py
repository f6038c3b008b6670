"""Cost per 1,000 queries against batch size, on the path that sets each plan's headline:
where serving more queries together stops paying, and which batch a latency limit allows."""

from __future__ import annotations

import plotly.graph_objects as go

from engine.charts.results import best_batch_ring
from engine.charts.style import BATCH_AXIS, LEGEND_BELOW, TEMPLATE, plain, record_colours
from engine.records import headline_rows, ok_plans


def cost_by_batch_chart(record: dict, height: int = 340) -> go.Figure | None:
    """One line per plan; a ring marks the cheapest batch within the acceptable time per token.
    None when no plan was measured at more than one batch size or rows carry no cost."""
    plans = [p for p in ok_plans(record) if len(headline_rows(p)) > 1
             and all(r.get("usd_per_1k_queries") is not None for r in headline_rows(p))]
    if not plans:
        return None
    colours = record_colours(record)
    fig = go.Figure()
    for p in plans:
        rows = headline_rows(p)
        fig.add_trace(go.Scatter(
            x=[r["batch_size"] for r in rows], y=[r["usd_per_1k_queries"] for r in rows], mode="lines+markers",
            name=plain(p["plan"]), line=dict(color=colours[p["plan"]], width=3),
            customdata=[[r["tpot_ms"]] for r in rows],
            hovertemplate="%{fullData.name}<br>batch %{x}: $%{y:,.4f} per 1,000 queries, "
                          "%{customdata[0]:,.1f} ms/token<extra></extra>"))
        ring = best_batch_ring(p, "usd_per_1k_queries", colours[p["plan"]])
        if ring is not None:
            fig.add_trace(ring)
    fig.update_layout(template=TEMPLATE, height=height, title="Cost per 1,000 queries vs batch size",
                      xaxis=BATCH_AXIS, legend=LEGEND_BELOW,
                      yaxis=dict(title="USD per 1,000 queries", type="log", dtick=1, tickformat="$~g"))
    return fig
