import pytest

from engine.evaluation.verdict import Tolerance, default_metric, judge, recommend


def _plan(name, usd, value, within):
    return {"plan": name, "status": "ok", "cost": {"usd_per_1k_queries": usd},
            "verdict": {"within": within, "value": value, "baseline": 0.5}}


def test_relative_tolerance_both_directions():
    tol = Tolerance("task_accuracy", 1.0)
    assert judge(0.494, 0.5, tol)["within"] is False  # more than 1% relative below (limit 0.495)
    assert judge(0.4951, 0.5, tol)["within"] is True
    ppl = Tolerance("perplexity", 2.0)
    assert judge(10.19, 10.0, ppl)["within"] is True and judge(10.21, 10.0, ppl)["within"] is False
    kl = Tolerance("kl_divergence", 0.05)  # absolute nats
    assert judge(0.04, 0.0, kl)["within"] is True and judge(0.06, 0.0, kl)["within"] is False


def test_defaults_and_bad_metric():
    assert default_metric(True) == "task_accuracy" and default_metric(False) == "top1_agreement"
    with pytest.raises(ValueError, match="unknown primary metric"):
        Tolerance("bleu")


def test_recommendation_is_the_cheapest_within_tolerance():
    plans = [_plan("fp32", 1.0, 0.5, True), _plan("int8", 0.6, 0.499, True), _plan("int4", 0.3, 0.40, False)]
    rec = recommend(plans, Tolerance("task_accuracy"))
    assert rec["plan"] == "int8"
    assert "40% less than fp32" in rec["reason"]


def test_keep_the_baseline_when_nothing_cheaper_holds():
    plans = [_plan("fp32", 0.2, 0.5, True), _plan("int8", 0.3, 0.5, True)]
    rec = recommend(plans, Tolerance("task_accuracy"))
    assert rec["plan"] == "fp32" and "no compressed plan is cheaper" in rec["reason"]
    plans = [_plan("fp32", 0.2, 0.5, True), _plan("int4", 0.1, 0.3, False)]
    assert "every cheaper plan falls outside" in recommend(plans, Tolerance("task_accuracy"))["reason"]


def test_a_cheaper_llama_cpp_plan_within_tolerance_is_recommended():
    """On a CPU the GGUF files are what is cheap to serve: the recommendation names one when it holds."""
    from engine.store import Store

    runtime = {"name": "llama.cpp", "version": "0.3.36", "threads": 2}
    plans = [_plan("fp32", 1.0, 0.5, True), {**_plan("int8", 1.9, 0.5, True), "runtime": {"name": "torch"}},
             {**_plan("gguf:type=q8_0", 0.45, 0.499, True), "runtime": runtime},
             {**_plan("gguf:type=q4_k_m", 0.38, 0.46, False), "runtime": runtime}]
    store = Store()
    run_id = store.create_run({"name": "m"}, {"type": "cpu", "name": "cpu"}, {}, [p["plan"] for p in plans])
    for position, plan in enumerate(plans):
        store.add_plan_result(run_id, position, plan)
    stored = store.get_run(run_id)["plans"]  # the verdict logic on a run as the store gives it back
    rec = recommend(stored, Tolerance("task_accuracy"))
    assert rec["plan"] == "gguf:type=q8_0" and "55% less than fp32" in rec["reason"]
    store.delete_run(run_id)


def test_a_cheaper_undecided_plan_is_named_with_its_interval_and_the_prompts_that_would_decide_it():
    tol = Tolerance("task_accuracy")
    undecided = {"plan": "gguf:type=q4_0", "status": "ok", "cost": {"usd_per_1k_queries": 0.2},
                 "verdict": {"within": False, "state": "inconclusive", "metric": "task_accuracy", "value": 0.5,
                             "baseline": 0.5, "delta": 0.0, "delta_ci95": [-1.1, 1.1], "units": 320,
                             "prompts_needed": 1800}}
    plans = [_plan("fp32", 1.0, 0.5, True), _plan("gguf:type=q8_0", 0.6, 0.5, True), undecided]
    rec = recommend(plans, tol)
    assert rec["plan"] == "gguf:type=q8_0"
    assert "gguf:type=q4_0 is 3.0× cheaper still and changed +0.0 pts [-1.1, +1.1] on 320 prompts" in rec["reason"]
    assert "about 1,800 prompts would show whether it stays within 1%" in rec["reason"]
