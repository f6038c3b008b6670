"""Within or outside the user's tolerance, and the cheapest plan that stays within it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.evaluation import paired
from engine.metrics import METRICS, verdict_metrics
from engine.records import interval_text, is_ok, verdict_label


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


def change_limit(metric: str, base_value: float, tol: Tolerance) -> float:
    """The tolerance as a limit on the change, in the unit of the metric's interval: points for shares
    (relative to the baseline's value), percent for perplexity, nats for KL."""
    if metric in ("kl_divergence", "perplexity"):
        return tol.pct
    return -base_value * tol.pct  # a share in points: pct% of the baseline's share


def judge(value, base_value, tol: Tolerance, change: paired.Change | None = None) -> dict:
    """One plan's verdict: `state` within / outside / inconclusive from the paired interval of its change
    (from the point values where no interval exists, e.g. the baseline itself), with the interval, the
    McNemar p-value and the prompts that would decide an inconclusive one."""
    if value is None or base_value is None:
        return {"within": None, "state": None, "value": value, "baseline": base_value, "limit": None,
                "metric": tol.metric, "reason": "metric not available for this plan"}
    higher = METRICS[tol.metric].higher_is_better
    if tol.metric == "kl_divergence":  # judged in absolute nats (its baseline is 0)
        limit = tol.pct
        point_within = value <= limit
    elif higher:
        limit = base_value * (1 - tol.pct / 100)
        point_within = value >= limit - 1e-12
    else:
        limit = base_value * (1 + tol.pct / 100)
        point_within = value <= limit + 1e-12
    out = {"value": value, "baseline": base_value, "limit": limit, "metric": tol.metric,
           "delta_ci95": None, "p_value": None, "prompts_needed": None}
    if change is None or change.lo != change.lo:  # no interval (nan): the point values decide
        state = "within" if point_within else "outside"
    else:
        bound = change_limit(tol.metric, base_value, tol)
        state = paired.state(change, bound, higher)
        out.update(delta=change.estimate, delta_ci95=[change.lo, change.hi], p_value=change.p_value,
                   units=change.units, change_limit=bound,
                   prompts_needed=paired.prompts_needed(change, bound) if state == "inconclusive" else None)
    return {"within": state == "within", "state": state, **out}


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1%}" if METRICS[metric].share else f"{value:.3g}"


def failed_plans(plans: list[dict]) -> str:
    """The compressed plans that did not finish, with why: said beside any recommendation, so a run whose plans
    failed never reads as a comparison."""
    failed = [f"{p['plan']} ({p.get('error') or p['status']})" for p in plans[1:] if not is_ok(p)]
    return f" Not compared, {len(failed)} plan{'s' * (len(failed) > 1)} did not finish: {'; '.join(failed)}." \
        if failed else ""


def recommend(plans: list[dict], tol: Tolerance) -> dict:
    """The cheapest ok plan whose verdict is `within` (the baseline counts), with a one-sentence reason that
    names its interval, and says so when a cheaper plan could not be decided on these prompts, or did not
    finish. With no compressed plan finished there is no comparison and no recommendation."""
    if len(plans) > 1 and not any(is_ok(p) for p in plans[1:]):
        return {"plan": None, "reason": "No comparison: no compressed plan finished, only the baseline was measured."
                                        + failed_plans(plans) + " Fix what failed and run again."}
    recommendation = _recommend(plans, tol)
    return {**recommendation, "reason": recommendation["reason"] + failed_plans(plans)}


def _recommend(plans: list[dict], tol: Tolerance) -> dict:
    ok = [p for p in plans if is_ok(p) and verdict_label(p) == "within"]
    if not ok:
        return {"plan": None, "reason": "No plan finished within tolerance, not even the baseline."}
    best = min(ok, key=lambda p: p["cost"]["usd_per_1k_queries"])
    base = plans[0]
    cost, base_cost = best["cost"]["usd_per_1k_queries"], base["cost"]["usd_per_1k_queries"]
    metric = tol.metric.replace("_", " ")
    if best is base:
        cheaper = [p for p in plans[1:] if is_ok(p) and p["cost"]["usd_per_1k_queries"] < base_cost]
        why = ("every cheaper plan falls outside the tolerance or is undecided" if cheaper
               else "no compressed plan is cheaper to serve on this hardware")
        reason = (f"Keep {base['plan']}: {why} ({tol.describe()}); it costs ${base_cost:.4f} per 1,000 queries.")
    else:
        saving = 100 * (1 - cost / base_cost)
        interval = interval_text(best)
        reason = (f"{best['plan']} is the cheapest plan within tolerance: ${cost:.4f} per 1,000 queries, "
                  f"{saving:.0f}% less than {base['plan']}, with {metric} "
                  f"{_fmt(tol.metric, best['verdict']['value'])} vs {_fmt(tol.metric, best['verdict']['baseline'])}"
                  + (f" (change {interval}, paired 95% interval)." if interval else "."))
    undecided = [p for p in plans[1:] if is_ok(p) and verdict_label(p) == "inconclusive"
                 and p["cost"]["usd_per_1k_queries"] < cost]
    if undecided:
        cheapest = min(undecided, key=lambda p: p["cost"]["usd_per_1k_queries"])
        verdict = cheapest["verdict"]
        times = cost / cheapest["cost"]["usd_per_1k_queries"]
        needed = verdict.get("prompts_needed")
        still = " still" if best is not base else ""
        reason += (f" {cheapest['plan']} is {times:.1f}× cheaper{still} and changed {interval_text(cheapest)} on "
                   f"{verdict.get('units', 0):,} prompts: undecided"
                   + (f"; about {needed:,} prompts would show whether it stays {tol.describe()}." if needed
                      else "."))
    return {"plan": best["plan"], "reason": reason, "metric": tol.metric, "tolerance_pct": tol.pct}
