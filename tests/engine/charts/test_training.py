"""Break-even and sensitivity charts, on records shaped like the store's."""

import pytest

from engine.charts.training import break_even_chart, sensitivity_chart


def _plan(name, usd, economics=None, extras=None):
    return {"plan": name, "status": "ok", "cost": {"usd_per_1k_queries": usd}, "economics": economics,
            "extras": extras or {}}


def test_lines_cross_at_the_break_even_point():
    record = {"plans": [_plan("fp32", 5.0), _plan("distill", 3.0, {"training_usd": 0.2, "break_even_queries": 100.0})]}
    fig = break_even_chart(record)
    base, trained = fig.data[0], fig.data[1]
    # Independent check: 0.2 + 0.003 q = 0.005 q at q = 100.
    assert trained.y[0] == pytest.approx(0.2) and base.y[0] == 0
    marker = fig.data[2]
    assert marker.x[0] == 100.0 and marker.y[0] == pytest.approx(0.2 + 0.003 * 100) == pytest.approx(0.005 * 100)


def test_no_chart_without_training_or_sensitivity():
    record = {"plans": [_plan("fp32", 5.0), _plan("int8", 4.0)]}
    assert break_even_chart(record) is None and all(sensitivity_chart(p) is None for p in record["plans"])


def test_sensitivity_bars_mark_kept_blocks():
    ranking = [{"block": 0, "kl": 0.1}, {"block": 1, "kl": 0.3}]
    record = {"plans": [_plan("fp32", 1.0), _plan("mixed", 1.0, extras={"sensitivity": ranking, "kept_blocks": [1]})]}
    bars = sensitivity_chart(record["plans"][1]).data[0]
    assert list(bars.y) == [0.1, 0.3] and bars.marker.color[1] != bars.marker.color[0]
