"""Within or outside the user's tolerance, and the cheapest plan that stays within it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.metrics import METRICS, verdict_metrics
from engine.records import is_ok


@dataclass(frozen=True)
class Tolerance:
    metric: str
    pct: float = 1.0  # relative, in percent (for kl_divergence: absolute nats)

    def __post_init__(self):
        if self.metric not in verdict_metrics():
            raise ValueError(f"unknown primary metric '{self.metric}'; choose from {', '.join(verdict_metrics())}")
        if self.pct < 0:
            raise ValueError("tolerance cannot be negative")

    def describe(self) -> str:
        if self.metric == "kl_divergence":
            return f"KL divergence at most {self.pct:g} nats"
        return f"within {self.pct:g}% (relative) of the baseline's {self.metric.replace('_', ' ')}"


def default_metric(has_references: bool) -> str:
    return "task_accuracy" if has_references else "top1_agreement"


def judge(value, base_value, tol: Tolerance) -> dict:
    """{'within': bool | None, 'value', 'baseline', 'limit'} for one plan."""
    if value is None or base_value is None:
        return {"within": None, "value": value, "baseline": base_value, "limit": None,
                "metric": tol.metric, "reason": "metric not available for this plan"}
    if tol.metric == "kl_divergence":  # judged in absolute nats (its baseline is 0)
        limit = tol.pct
        within = value <= limit
    elif METRICS[tol.metric].higher_is_better:
        limit = base_value * (1 - tol.pct / 100)
        within = value >= limit - 1e-12
    else:
        limit = base_value * (1 + tol.pct / 100)
        within = value <= limit + 1e-12
    return {"within": within, "value": value, "baseline": base_value, "limit": limit, "metric": tol.metric}


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1%}" if METRICS[metric].share else f"{value:.3g}"


def recommend(plans: list[dict], tol: Tolerance) -> dict:
    """The cheapest ok plan within tolerance (the baseline counts), with a one-sentence reason."""
    ok = [p for p in plans if is_ok(p) and p.get("verdict", {}).get("within")]
    if not ok:
        return {"plan": None, "reason": "No plan finished within tolerance, not even the baseline."}
    best = min(ok, key=lambda p: p["cost"]["usd_per_1k_queries"])
    base = plans[0]
    cost, base_cost = best["cost"]["usd_per_1k_queries"], base["cost"]["usd_per_1k_queries"]
    metric = tol.metric.replace("_", " ")
    if best is base:
        cheaper = [p for p in plans[1:] if is_ok(p) and p["cost"]["usd_per_1k_queries"] < base_cost]
        why = ("every cheaper plan falls outside the tolerance" if cheaper
               else "no compressed plan is cheaper to serve on this hardware")
        reason = (f"Keep {base['plan']}: {why} ({tol.describe()}); it costs ${base_cost:.4f} per 1,000 queries.")
    else:
        saving = 100 * (1 - cost / base_cost)
        reason = (f"{best['plan']} is the cheapest plan within tolerance: ${cost:.4f} per 1,000 queries, "
                  f"{saving:.0f}% less than {base['plan']}, with {metric} "
                  f"{_fmt(tol.metric, best['verdict']['value'])} vs {_fmt(tol.metric, best['verdict']['baseline'])}.")
    return {"plan": best["plan"], "reason": reason, "metric": tol.metric, "tolerance_pct": tol.pct}
