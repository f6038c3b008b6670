"""Paired statistics of a plan against the baseline on the same prompts (or evaluation windows), and
the three-way verdict they support.

Every interval is of the *change* (plan minus baseline) in the verdict's unit, taken over units both
models saw: a paired bootstrap over prompts or windows (Efron & Tibshirani, An Introduction to the
Bootstrap, 1993; scipy.stats.bootstrap, percentile, 2,000 resamples, seed 0) for task accuracy, KL and
perplexity; the Wilson score interval (Wilson 1927; scipy.stats.binomtest) for the agreement shares,
whose baseline value is 1 by definition; an exact McNemar test (McNemar 1947: a binomial test on the
discordant pairs) for right/wrong outcomes. The verdict is non-inferiority: `within` when the whole
interval clears the tolerance, `outside` when the whole interval misses it, else `inconclusive`, with
the number of prompts that would decide it at the observed spread.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

RESAMPLES, SEED, LEVEL = 2000, 0, 0.95
Z = stats.norm.ppf(0.5 + LEVEL / 2)
METHOD = f"paired bootstrap over prompts, {RESAMPLES:,} resamples, seed {SEED}; Wilson for agreement shares; " \
         "exact McNemar for right/wrong"
# The form's and the run's `min_detectable_delta_pts` assume this share of prompts flips between a plan and
# its baseline (right <-> wrong): typical of an 8-bit plan on the sample prompts.
ASSUMED_DISCORDANCE = 0.10


@dataclass(frozen=True)
class Change:
    """A plan's change against the baseline, with its 95% interval, in the verdict's unit."""

    estimate: float
    lo: float
    hi: float
    units: int  # prompts (or windows, or positions for a share) behind it
    standard_error: float
    p_value: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _bootstrap(statistic, samples: tuple[np.ndarray, ...]) -> Change:
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    estimate = float(statistic(*samples, axis=-1))
    n = len(samples[0])
    if n < 2 or all(np.all(s == s[0]) for s in samples):  # nothing varies: the interval is the point
        return Change(estimate, estimate, estimate, n, 0.0)
    result = stats.bootstrap(samples, statistic, paired=True, vectorized=True, n_resamples=RESAMPLES,
                             confidence_level=LEVEL, method="percentile", random_state=np.random.default_rng(SEED))
    low, high = result.confidence_interval
    return Change(estimate, float(low), float(high), n, float(result.standard_error))


def mean_difference(plan: list[float], base: list[float], scale: float = 1.0) -> Change:
    """Mean of the per-unit differences (right/wrong as 1/0 with scale 100: points)."""
    return _bootstrap(lambda p, b, axis: scale * np.mean(p - b, axis=axis), (plan, base))


def ratio(sums: list[float], counts: list[float]) -> Change:
    """Σ sums / Σ counts over units (a mean over positions, resampled by prompt), e.g. KL."""
    return _bootstrap(lambda s, c, axis: np.sum(s, axis=axis) / np.sum(c, axis=axis), (sums, counts))


def perplexity_change(plan_nll: list[float], base_nll: list[float], counts: list[float]) -> Change:
    """Relative perplexity change in percent, exp(mean NLL) of the plan over the baseline's, by unit."""
    def statistic(p, b, c, axis):
        return 100 * np.expm1((np.sum(p, axis=axis) - np.sum(b, axis=axis)) / np.sum(c, axis=axis))

    return _bootstrap(statistic, (plan_nll, base_nll, counts))


def share_change(successes: int, trials: int, scale: float = 100.0) -> Change:
    """An agreement share (the baseline's is 1): its change from 1, Wilson interval, in points."""
    if trials == 0:
        return Change(math.nan, math.nan, math.nan, 0, math.nan)
    low, high = stats.binomtest(successes, trials).proportion_ci(LEVEL, method="wilson")
    share = successes / trials
    se = math.sqrt(max(share * (1 - share), 1 / trials) / trials)
    return Change(scale * (share - 1), scale * (low - 1), scale * (high - 1), trials, scale * se)


def mcnemar(base_right: list[bool], plan_right: list[bool]) -> float:
    """Exact McNemar p-value: a two-sided binomial test on the pairs where exactly one model is right."""
    lost = sum(b and not p for b, p in zip(base_right, plan_right))
    gained = sum(p and not b for b, p in zip(base_right, plan_right))
    return 1.0 if lost + gained == 0 else float(stats.binomtest(lost, lost + gained, 0.5).pvalue)


def state(change: Change, limit: float, higher_is_better: bool) -> str:
    """within / outside / inconclusive: where the whole interval lies against the limit of the change
    (-margin for a metric that must not fall, +margin for one that must not rise)."""
    if math.isnan(change.lo):
        return "inconclusive"
    good, bad = (change.lo >= limit, change.hi < limit) if higher_is_better else (change.hi <= limit,
                                                                                 change.lo > limit)
    return "within" if good else "outside" if bad else "inconclusive"


def prompts_needed(change: Change, limit: float) -> int | None:
    """Units at which the interval, at the observed spread, would no longer straddle the limit."""
    room = abs(change.estimate - limit)
    if change.standard_error == 0 or math.isnan(change.standard_error):
        return None
    if room == 0:
        return None  # right on the limit: no sample size decides it
    return math.ceil(change.units * (Z * change.standard_error / room) ** 2)


def min_detectable_delta_pts(prompts: int, discordance: float = ASSUMED_DISCORDANCE) -> float | None:
    """The smallest change in task accuracy (points) a 95% paired interval on `prompts` scored prompts tells
    from none, when `discordance` of them flip: a difference of ±1 on that share has variance ≈ discordance."""
    if prompts <= 0:
        return None
    return 100 * Z * math.sqrt(discordance / prompts)
