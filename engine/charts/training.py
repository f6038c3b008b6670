"""Charts for what trained and calibrated plans add: the break-even of paying for training up
front, and the per-block sensitivity ranking behind mixed precision (pure plotly)."""

from __future__ import annotations

import plotly.graph_objects as go

from engine.charts import style
from engine.charts.style import TEMPLATE, plain, record_colours
from engine.records import ok_plans


def break_even_chart(record: dict, height: int = 380) -> go.Figure | None:
    """Cumulative cost against queries served: baseline vs every plan that paid for training.
    A trained plan starts at its training cost and grows more slowly; the lines cross at break-even."""
    plans = ok_plans(record)
    trained = [p for p in plans if p.get("economics")]
    if not trained or not plans:
        return None
    base = plans[0]
    horizon = max([p["economics"]["break_even_queries"] or 0 for p in trained] + [1000]) * 3
    xs = [horizon * i / 50 for i in range(51)]
    colours = record_colours(record)
    fig = go.Figure()
    for p in [base, *trained]:
        upfront = (p.get("economics") or {}).get("training_usd", 0.0)
        per_query = p["cost"]["usd_per_1k_queries"] / 1000.0
        fig.add_trace(go.Scatter(
            x=xs, y=[upfront + per_query * x for x in xs], mode="lines", name=plain(p["plan"]),
            line=dict(color=colours[p["plan"]], width=3),
            hovertemplate="%{fullData.name}<br>%{x:,.0f} queries: $%{y:,.4f}<extra></extra>"))
        even = (p.get("economics") or {}).get("break_even_queries")
        if even:
            fig.add_trace(go.Scatter(x=[even], y=[upfront + per_query * even], mode="markers+text",
                                     marker=dict(size=11, color=colours[p["plan"]], symbol="diamond"),
                                     text=[f"break-even {even:,.0f}"], textposition="top right", showlegend=False,
                                     hoverinfo="skip"))
    fig.update_layout(template=TEMPLATE, height=height,
                      title="Cumulative cost vs queries served (training or calibration paid up front)",
                      xaxis=dict(title="queries served"), yaxis=dict(title="cumulative cost (USD)"))
    return fig


def sensitivity_chart(plan: dict, height: int = 320) -> go.Figure | None:
    """KL of quantizing each decoder block alone (bars), the blocks kept at higher precision highlighted;
    None for a plan that measured no sensitivity."""
    ranking = sorted((plan.get("extras") or {}).get("sensitivity") or (), key=lambda r: r["block"])
    if not ranking:
        return None
    kept = set(plan["extras"].get("kept_blocks") or ())
    colours = [style.OUTSIDE if r["block"] in kept else style.BASELINE_COLOUR for r in ranking]
    fig = go.Figure(go.Bar(
        x=[str(r["block"]) for r in ranking], y=[r["kl"] for r in ranking], marker_color=colours,
        hovertemplate="block %{x}<br>KL %{y:.4f} nats<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=height, showlegend=False,
                      title=f"Layer sensitivity measured by {plain(plan['plan'])} (red: kept at 8 bits)",
                      xaxis=dict(title="decoder block", type="category"),
                      yaxis=dict(title="KL divergence when quantized alone (nats)"))
    return fig
