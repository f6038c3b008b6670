"""A sweep's grid and Pareto front, checked against figures worked out by hand from hand-made records: two models
with accuracy, one random-weight shape, a failed cell and a model still waiting for its baseline."""

import math

import pytest

from engine.charts.sweep import accuracy_grid, axes, cost_grid, front, front_chart
from engine.records import sweep_cells

PLANS = ["fp32", "int8", "int4"]


def _plan(name, cost, top1=None, mb=100.0, tpot=10.0, status="ok", verdict=None):
    if status != "ok":
        return {"plan": name, "status": status, "error": "out of memory <oops>"}
    return {"plan": name, "status": "ok", "size": {"weight_bytes": int(mb * 1e6)},
            "latency": {"tpot_ms": tpot}, "cost": {"usd_per_1k_queries": cost},
            "accuracy": {"top1_agreement": top1, "applicable": top1 is not None},
            "verdict": {"state": verdict} if verdict else None, "worker": {"host": "node-1", "pid": 1},
            "attempts": 1}


def _run(spec, plans, recommended=None, shape=False):
    return {"run_id": f"run-{spec[-1]}", "status": "done", "plans": plans,
            "model": {"name": spec, "source": "shape" if shape else "folder"},
            "settings": {"verdict": {"metric": "top1_agreement"}, "sweep": {"id": "sw", "model_spec": spec}},
            "recommendation": {"plan": recommended, "reason": "why"}}


A, B, C = "/models/a", "/models/b", "shape:c"
RUNS = [
    _run(A, [_plan("fp32", 1.0, 1.0, 400), _plan("int8", 0.6, 0.98, 200, verdict="outside"),
             _plan("int4", 0.4, 0.90, 100, verdict="outside")], recommended="fp32"),
    _run(B, [_plan("fp32", 2.0, 1.0, 800), _plan("int8", 0.5, 0.99, 400, verdict="within"),
             _plan("int4", 0.3, 0.80, 200, verdict="outside")], recommended="int8"),
    _run(C, [_plan("fp32", 0.2, None, 500), _plan("int8", 0.25, None, 250), _plan("int4", None, status="failed")],
         shape=True),
]
SWEEP = {"sweep_id": "sw", "status": "done", "spec": {"models": [A, B, C], "plans": PLANS}, "runs": RUNS}


def _brute_front(points):
    """Pareto front by definition: no other point is at least as good on both and better on one."""
    return {n for n, x, y in points
            if not any(x2 <= x and y2 <= y and (x2, y2) != (x, y) for m, x2, y2 in points if m != n)}


def test_cells_read_each_model_against_its_own_baseline():
    cells = {c.key: c for c in sweep_cells(SWEEP)}
    assert list(cells)[:3] == ["a × fp32", "a × int8", "a × int4"]  # paths shortened, sweep order, baseline first
    assert cells["b × int8"].accuracy_change == pytest.approx((0.99 - 1.0) * 100)  # points vs b's own baseline
    assert cells["a × int8"].accuracy_change == pytest.approx((0.98 - 1.0) * 100)
    assert cells["b × int8"].cost_change_pct == pytest.approx((0.5 - 2.0) / 2.0 * 100)
    assert cells["b × int8"].recommended and cells["a × fp32"].recommended and not cells["a × int8"].recommended
    assert cells["shape:c × fp32"].accuracy_change is None  # a shape: n/a
    assert not cells["shape:c × int8"].accuracy_applicable
    assert cells["shape:c × int4"].status == "failed" and cells["shape:c × int4"].usd_per_1k_queries is None


def test_the_pareto_front_on_accuracy_is_the_one_worked_out_by_hand():
    cells = sweep_cells(SWEEP)
    on = {c.key for c in front(cells, axes(SWEEP)["accuracy"])}
    # (cost, change): a (1.0, 0) (0.6, -2) (0.4, -10); b (2.0, 0) (0.5, -1) (0.3, -20); the shape has no accuracy.
    # a×int8 loses to b×int8 (cheaper, smaller loss); b×fp32 to a×fp32 (cheaper, same change)
    assert on == {"b × int4", "a × int4", "b × int8", "a × fp32"}
    points = [(c.key, c.usd_per_1k_queries, -c.accuracy_change) for c in cells if c.accuracy_change is not None]
    assert on == _brute_front(points)


def test_where_accuracy_is_na_the_front_trades_cost_against_size():
    cells = sweep_cells(SWEEP)
    on = {c.key for c in front(cells, axes(SWEEP)["size"])}
    # (cost, MB): shape:c (0.2, 500) (0.25, 250); b×int4 (0.3, 200); a×int4 (0.4, 100); every other cell is beaten
    assert on == {"shape:c × fp32", "shape:c × int8", "b × int4", "a × int4"}
    points = [(c.key, c.usd_per_1k_queries, c.weight_bytes) for c in cells if c.status == "ok"]
    assert on == _brute_front(points)


def test_front_chart_fills_the_front_and_rings_each_recommendation():
    fig = front_chart(SWEEP)
    assert fig.layout.yaxis.title.text == "Δ vs own baseline (pts)"
    assert fig.layout.title.text.startswith("Cost vs change in top-1 agreement with baseline across every cell")
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"Pareto front", "a", "b", "recommended"}  # the shape has no point on this axis
    a = by_name["a"]
    filled = {x for x, colour in zip(a.x, a.marker.color) if colour != "white"}
    assert filled == {1.0, 0.4}  # a×fp32 and a×int4 are on the front; a×int8 is not
    assert sorted(by_name["Pareto front"].x) == [0.3, 0.4, 0.5, 1.0]
    assert sorted(by_name["recommended"].x) == [0.5, 1.0]
    size = front_chart(SWEEP, "size")
    assert {t.name for t in size.data} >= {"shape:c"} and size.layout.yaxis.title.text == "Weights in memory (MB)"


def test_cost_grid_colours_by_cost_and_says_each_change():
    fig = cost_grid(SWEEP)
    _, heat, words = fig.data
    assert list(heat.x) == PLANS and list(heat.y) == ["a", "b", "shape:c"]
    assert heat.z[1][1] == pytest.approx(math.log10(0.5))  # costs span a decade: log colours
    assert heat.z[2][2] is None  # the failed cell stays grey
    labels = dict(zip(zip(words.y, words.x), words.text))
    assert labels[("a", "fp32")] == "★ $1.0000<br>baseline"
    assert labels[("b", "int8")] == "★ $0.5000<br>-75.0%"
    assert labels[("shape:c", "int4")] == "failed"
    assert "out of memory &lt;oops&gt;" in heat.hovertext[2][2]  # an error is shown as text, never as markup


def test_accuracy_grid_reads_na_for_a_shape_and_none_for_shapes_only():
    _, heat, words = accuracy_grid(SWEEP).data
    labels = dict(zip(zip(words.y, words.x), words.text))
    assert labels[("b", "int8")] == "★ -1.0 pts<br>within"
    assert labels[("a", "fp32")] == "★ baseline" and labels[("shape:c", "int8")] == "n/a"
    assert heat.z[0][0] is None and heat.z[0][2] == pytest.approx(-10.0)
    assert heat.zmin == pytest.approx(-20.0) and heat.zmax == pytest.approx(20.0)
    only_shape = {**SWEEP, "spec": {"models": [C], "plans": PLANS}, "runs": [RUNS[2]]}
    assert accuracy_grid(only_shape) is None
    assert front_chart(only_shape).layout.yaxis.title.text == "Weights in memory (MB)"  # size when nothing has


def test_a_running_sweep_shows_its_pending_cells():
    running = {**SWEEP, "status": "running",
               "runs": [{**RUNS[0], "status": "running",
                         "plans": RUNS[0]["plans"][:2] + [{"plan": "int4", "status": "pending", "error": None}]}]}
    _, heat, words = cost_grid(running).data
    labels = dict(zip(zip(words.y, words.x), words.text))
    assert labels[("a", "int4")] == "pending"
    assert [labels[("b", p)] for p in PLANS] == ["pending"] * 3  # b's run opens when its baseline lands
    assert [labels[("shape:c", p)] for p in PLANS] == ["pending"] * 3
    assert list(heat.z[1]) == [None, None, None]
    ended = {**running, "status": "interrupted", "errors": {B: "its baseline fp32 failed"}}
    cells = {c.key: c for c in sweep_cells(ended)}
    assert cells["b × int8"].status == "not run" and cells["b × int8"].error == "its baseline fp32 failed"


def test_model_names_and_duplicate_short_names_are_escaped_and_kept_apart():
    evil = "/tmp/<img src=x onerror=alert(1)>"
    twin = "/other/a"
    sweep = {**SWEEP, "status": "running", "spec": {"models": [A, twin, evil], "plans": PLANS}, "runs": [RUNS[0]]}
    heat = cost_grid(sweep).data[1]
    assert list(heat.y) == ["/models/a", "/other/a", "&lt;img src=x onerror=alert(1)&gt;"]  # two "a"s: full paths
    assert "<img" not in str(cost_grid(sweep).to_dict()) and "<img" not in str(accuracy_grid(sweep).to_dict())
