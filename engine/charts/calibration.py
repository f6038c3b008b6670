"""The calibration check, side by side: each calibrated plan run once on generic texts and once
on the user's own prompts (`--calibration-check`), scored on the same held-out prompts, so a
user sees whether their data helps (pure plotly, shared by the dashboard and reports)."""

from __future__ import annotations

import plotly.graph_objects as go

from engine.charts.style import TEMPLATE, plain
from engine.records import ok_plans

SOURCES = {"texts": ("generic texts", "#8c8c8c"), "prompts": ("your prompts", "#1f77b4")}


def _without_calib(plan: dict) -> str:
    steps = []
    for s in plan.get("steps") or []:
        params = {k: v for k, v in (s.get("params") or {}).items() if k != "calib"}
        steps.append(s["name"] + (":" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) if params else ""))
    return "+".join(steps)


def _calib(plan: dict) -> str | None:
    values = {(s.get("params") or {}).get("calib") for s in plan.get("steps") or []} - {None}
    return values.pop() if len(values) == 1 else None


def calibration_pairs(record: dict) -> list[tuple[str, dict, dict]]:
    """(plan without its calibration, plan calibrated on texts, plan calibrated on prompts)."""
    by_key: dict[str, dict[str, dict]] = {}
    for plan in ok_plans(record):
        source = _calib(plan)
        if source in SOURCES:
            by_key.setdefault(_without_calib(plan), {})[source] = plan
    return [(key, pair["texts"], pair["prompts"]) for key, pair in by_key.items() if len(pair) == 2]


def calibration_chart(record: dict, height: int = 340) -> go.Figure | None:
    """KL against the baseline on the held-out prompts, generic vs own calibration; None without pairs."""
    pairs = calibration_pairs(record)
    if not pairs:
        return None
    fig = go.Figure()
    for index, source in enumerate(SOURCES):
        label, colour = SOURCES[source]
        plans = [pair[1 + index] for pair in pairs]
        fig.add_trace(go.Bar(
            x=[plain(pair[0]) for pair in pairs], y=[p["accuracy"].get("kl_divergence") for p in plans], name=label,
            marker_color=colour, text=[f"{p['accuracy'].get('kl_divergence') or 0:.4f}" for p in plans],
            textposition="outside", cliponaxis=False,
            customdata=[[(p["accuracy"].get("top1_agreement") or 0) * 100] for p in plans],
            hovertemplate="%{x}<br>calibrated on " + label + ": KL %{y:.4f} nats, top-1 %{customdata[0]:.1f}%"
                          "<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=height, barmode="group",
                      title="Calibration check: KL vs baseline on your held-out prompts (lower is better)",
                      xaxis=dict(title="plan"), yaxis=dict(title="KL divergence (nats)"))
    return fig


def calibration_findings(record: dict) -> list[str]:
    """One sentence per pair: did the user's own prompts calibrate better than generic text?"""
    out = []
    for key, texts, prompts in calibration_pairs(record):
        kl_t, kl_p = texts["accuracy"].get("kl_divergence"), prompts["accuracy"].get("kl_divergence")
        if kl_t is None or kl_p is None:
            continue
        change = (kl_p - kl_t) / kl_t * 100 if kl_t else 0.0
        verb = "helps" if kl_p < kl_t else "does not help"
        sentence = (f"{key}: calibrating on your prompts {verb} — KL {kl_p:.4f} vs {kl_t:.4f} on generic texts "
                    f"({change:+.1f}%)")
        acc_t, acc_p = texts["accuracy"].get("task_accuracy"), prompts["accuracy"].get("task_accuracy")
        if acc_t is not None and acc_p is not None:
            sentence += f"; task accuracy {acc_p:.1%} vs {acc_t:.1%}"
        out.append(sentence + ".")
    return out
