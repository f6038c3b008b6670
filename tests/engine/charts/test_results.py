"""Chart builders on hand-made run records: the Pareto front, log axes, colours, empty states,
throughput by batch size, and the "why is it slower" explanation."""

from engine.charts import results as charts
from engine.charts.style import BASELINE_COLOUR, value_axis
from engine.metrics import METRICS
from engine.reports.explain import slower_than_baseline


def plan(name, weight_mb, tpot, cost, acc, within=True, batches=((1, 10.0),)):
    return {
        "plan": name, "status": "ok", "backend": "torch", "kernel_path": f"{name} kernel",
        "size": {"weight_bytes": weight_mb * 1e6, "compression_ratio": 500 / weight_mb, "bits_per_weight": 8.0},
        "latency": {"ttft_ms": 100.0, "tpot_ms": tpot, "batch_size": 1, "roofline_efficiency": 0.2,
                    "roofline_tpot_ms": tpot * 0.2, "decode_path": "eager loop", "kernel_path": f"{name} kernel",
                    "by_batch": [{"batch_size": b, "tokens_per_s": t, "ttft_ms": 1, "tpot_ms": 1} for b, t in batches]},
        "cost": {"usd_per_1k_queries": cost}, "memory": {"peak_bytes": 1e8},
        "accuracy": {"applicable": True, "task_accuracy": acc, "accuracy_delta_pts": None, "ppl_delta_pct": 1.0,
                     "diverged": False},
        "slices": {"numbers": {"prompts": 3, "task_accuracy": acc, "accuracy_delta_pts": 0.0}},
        "verdict": {"within": within, "value": acc, "baseline": 0.8, "limit": 0.792},
    }


def record(*plans):
    return {"run_id": "r1", "model": {"name": "m"}, "device": {"type": "cpu", "name": "test CPU"},
            "settings": {"verdict": {"metric": "task_accuracy"}}, "plans": list(plans)}


RUN = record(plan("fp32", 500, 50.0, 1.0, 0.8), plan("int8", 250, 80.0, 1.6, 0.8),
             plan("int4", 150, 40.0, 0.8, 0.7, within=False), plan("int2", 90, 45.0, 0.9, 0.3, within=False))


def test_pareto_front_keeps_only_undominated_plans():
    points = [("a", 1.0, 0.8), ("b", 1.6, 0.8), ("c", 0.8, 0.7), ("d", 0.9, 0.3)]
    assert charts.pareto_front(points) == ["a", "c"]
    assert sorted(charts.pareto_front([("x", 1, 5.0), ("y", 2, 4.0)], higher_is_better=False)) == ["x", "y"]


def test_scatter_draws_the_front_through_the_cheapest_accurate_plans():
    fig = charts.cost_accuracy_scatter(RUN)
    front = fig.data[0]
    assert front.name == "Pareto front" and list(front.x) == [0.8, 1.0]
    assert fig.layout.xaxis.title.text == "Cost per 1,000 queries (USD)"
    assert fig.layout.yaxis.title.text == "Task accuracy (%)"


def test_each_plan_keeps_its_colour_and_the_baseline_is_grey():
    size, cost = charts.size_chart(RUN), charts.cost_chart(RUN)
    assert list(size.data[0].marker.color) == list(cost.data[0].marker.color)
    assert size.data[0].marker.color[0] == BASELINE_COLOUR
    assert len(set(size.data[0].marker.color)) == 4


def test_log_scale_only_when_values_span_a_decade():
    assert value_axis([1.0, 5.0], METRICS["usd_per_1k_queries"]) == {"type": "linear"}
    axis = value_axis([0.5, 20.0], METRICS["usd_per_1k_queries"])
    assert axis["type"] == "log" and "$1" in axis["ticktext"] and "$10" in axis["ticktext"]


def test_throughput_chart_needs_several_batch_sizes():
    assert charts.throughput_chart(RUN) is None
    several = record(plan("fp32", 500, 50, 1, 0.8, batches=((1, 10.0), (8, 60.0))),
                     plan("int8", 250, 80, 1, 0.8, batches=((1, 8.0), (8, 50.0))))
    fig = charts.throughput_chart(several)
    assert [t.name for t in fig.data] == ["fp32", "int8"] and list(fig.data[0].x) == [1, 8]
    assert fig.layout.yaxis.title.text == "Throughput (tokens/s)"


def test_shape_runs_and_unfinished_runs_get_explained_missing_charts():
    from engine.charts.catalogue import run_charts

    shape = record(plan("fp32", 500, 50, 1, None))
    shape["plans"][0]["accuracy"] = {"applicable": False}
    assert charts.accuracy_chart(shape) is None
    missing = {c.key: c.caption for c in run_charts(shape) if c.fig is None}
    assert "not applicable" in missing["accuracy"]
    pending = record({"plan": "fp32", "status": "pending"})
    assert charts.size_chart(pending) is None
    assert "no finished plan" in {c.key: c.caption for c in run_charts(pending)}["size"]


def test_slower_plans_get_an_explanation_naming_the_kernel():
    notes = dict(slower_than_baseline(RUN))
    assert set(notes) == {"int8"}  # int4 and int2 decode faster than fp32 here
    assert "int8 kernel" in notes["int8"] and "test CPU" in notes["int8"] and "Roofline efficiency" in notes["int8"]


def _gpu_run(capture_failed: bool):
    def gpu_plan(name, serving_tpot, plain_tpot, label):
        p = plan(name, 500, serving_tpot, 1.0, 0.8)
        p["latency"]["decode_path"] = label
        p["latency"]["by_batch"] = [
            {"path": "plain", "decode_path": "plain loop", "batch_size": 1, "tpot_ms": plain_tpot, "ttft_ms": 1,
             "tokens_per_s": 1000 / plain_tpot},
            {"path": "serving", "decode_path": label, "batch_size": 1, "tpot_ms": serving_tpot, "ttft_ms": 1,
             "tokens_per_s": 1000 / serving_tpot}]
        return p

    failed = "static KV cache, eager forward; CUDA graph capture failed: operation not permitted when capturing"
    run = record(gpu_plan("bf16", 5.0, 20.0, "graph"),
                 gpu_plan("int8:backend=bnb", 9.0, 30.0, failed if capture_failed else "graph"))
    run["device"] = {"type": "cuda", "name": "NVIDIA H200"}
    return run


def test_gpu_slowdown_names_the_failed_capture_or_the_kernel():
    failed = dict(slower_than_baseline(_gpu_run(True)))["int8:backend=bnb"]
    assert "could not be captured as a CUDA graph (operation not permitted" in failed and "NVIDIA H200" in failed
    kernel = dict(slower_than_baseline(_gpu_run(False)))["int8:backend=bnb"]
    assert "unpacks low-bit weights" in kernel


def test_throughput_chart_draws_each_decode_path():
    run = _gpu_run(False)
    for p in run["plans"]:
        p["latency"]["by_batch"] += [{**r, "batch_size": 8} for r in p["latency"]["by_batch"]]
    fig = charts.throughput_chart(run)
    names = [t.name for t in fig.data]
    assert "bf16 · plain" in names and "bf16 · serving" in names
    assert {t.line.dash for t in fig.data if t.name and t.name.endswith("plain")} == {"dot"}


def test_cost_by_batch_follows_the_headline_path_and_rings_the_best_batch():
    from engine.charts.speed import cost_by_batch_chart

    run = _gpu_run(False)
    for p in run["plans"]:
        rows = p["latency"]["by_batch"]
        rows += [{**r, "batch_size": 8, "tpot_ms": r["tpot_ms"] * 1.5} for r in list(rows)]
        for r in rows:
            r["usd_per_1k_queries"] = r["tpot_ms"] / r["batch_size"]
        p["latency"]["best_batch"] = {"batch_size": 8, "usd_per_1k_queries": rows[-1]["usd_per_1k_queries"],
                                      "max_tpot_ms": 100.0}
    fig = cost_by_batch_chart(run)
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == ["bf16", "int8:backend=bnb"]
    assert list(lines[0].x) == [1, 8] and list(lines[0].y) == [5.0, 7.5 / 8]  # serving rows only, not plain
    assert fig.layout.yaxis.type == "log"
    assert cost_by_batch_chart(RUN) is None  # one batch size: nothing to draw
