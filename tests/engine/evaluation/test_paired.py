"""Paired statistics and the three-way verdict, against independent computations."""

import math

import numpy as np
import pytest
from scipy import stats

from engine.evaluation import paired
from engine.evaluation.verdict import Tolerance, judge


def _table(both: int, lost: int, gained: int, neither: int):
    """Paired right/wrong outcomes: (baseline right, plan right) per prompt."""
    pairs = [(1, 1)] * both + [(1, 0)] * lost + [(0, 1)] * gained + [(0, 0)] * neither
    return [b for b, _ in pairs], [p for _, p in pairs]


def test_mcnemar_and_the_interval_against_a_worked_example():
    base, plan = _table(50, 15, 5, 30)  # 100 prompts: the plan loses 15, gains 5
    # Exact McNemar by hand: two-sided binomial tail of 5 or fewer of 20 discordant pairs at p = 1/2.
    by_hand = 2 * sum(math.comb(20, k) for k in range(6)) / 2**20
    assert paired.mcnemar([bool(b) for b in base], [bool(p) for p in plan]) == pytest.approx(by_hand, rel=1e-9)
    change = paired.mean_difference(list(map(float, plan)), list(map(float, base)), scale=100)
    assert change.estimate == pytest.approx(-10.0)
    # The paired bootstrap's percentile interval is close to the normal one from the differences' own spread.
    d = 100 * (np.array(plan) - np.array(base))
    half = stats.norm.ppf(0.975) * d.std(ddof=1) / math.sqrt(len(d))
    assert change.lo == pytest.approx(-10 - half, abs=1.0) and change.hi == pytest.approx(-10 + half, abs=1.0)
    assert change.standard_error == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)), rel=0.1)


def test_wilson_interval_by_its_formula():
    k, n, z = 90, 100, stats.norm.ppf(0.975)
    p = k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    change = paired.share_change(k, n)
    assert change.estimate == pytest.approx(-10.0)
    assert change.lo == pytest.approx(100 * (centre - half - 1), abs=1e-6)
    assert change.hi == pytest.approx(100 * (centre + half - 1), abs=1e-6)


TOL = Tolerance("task_accuracy", 1.0)


def _verdict(base, plan):
    change = paired.mean_difference(list(map(float, plan)), list(map(float, base)), scale=100)
    change = paired.Change(change.estimate, change.lo, change.hi, change.units, change.standard_error,
                           paired.mcnemar(list(map(bool, base)), list(map(bool, plan))))
    return judge(sum(plan) / len(plan), sum(base) / len(base), TOL, change)


def test_a_planted_loss_is_outside_an_identical_copy_within_and_a_tiny_sample_inconclusive():
    base = [1] * 70 + [0] * 30
    lossy = [0] * 30 + [1] * 40 + [0] * 30  # wrong on 30 more prompts of 100
    outside = _verdict(base, lossy)
    assert outside["state"] == "outside" and outside["delta_ci95"][1] < -0.7 and outside["p_value"] < 1e-6
    same = _verdict(base, list(base))
    assert same["state"] == "within" and same["delta_ci95"] == [0.0, 0.0] and same["p_value"] == 1.0
    small = list(base)
    small[0] = small[1] = 0  # two lost, one gained: a net change of -1 point on 100 prompts
    small[70] = 1
    tiny = _verdict(base, small)
    assert tiny["delta"] == pytest.approx(-1.0)
    assert tiny["state"] == "inconclusive" and tiny["prompts_needed"] > len(base)


def test_min_detectable_delta_shrinks_with_the_square_root_of_the_prompts():
    assert paired.min_detectable_delta_pts(64) == pytest.approx(2 * paired.min_detectable_delta_pts(256))
    assert paired.min_detectable_delta_pts(100) == pytest.approx(100 * 1.959964 * math.sqrt(0.1 / 100), rel=1e-5)
