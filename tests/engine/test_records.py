"""Record readers: the typed round trip of a stored plan, and one order for the prompts a plan broke."""

from engine.records import (
    AccuracyResult,
    CostResult,
    LatencyResult,
    PlanResult,
    SizeResult,
    baseline,
    broke_first,
    cost_sentence,
    ok_plans,
)


def test_a_plan_result_round_trips_through_its_stored_dict():
    result = PlanResult(
        plan="int8", status="ok", backend="torchao", kernel_path="k", notes=("a note",),
        size=SizeResult(100, 120, 2.0, 8.0, 100),
        latency=LatencyResult(1.0, 2.0, 500.0, 1, 0.5, 1.0, "plain", "k", "measured",
                              by_batch=({"batch_size": 1, "tpot_ms": 2.0},)),
        cost=CostResult(0.01, "cpu-2vcpu", 0.1, 8, 8, 0.6, 1, 0.02),
        accuracy=AccuracyResult(perplexity=20.0, kl_divergence=0.01), steps=({"name": "int8", "params": {}},))
    stored = result.to_dict()
    assert PlanResult.from_dict(stored) == result
    assert PlanResult.from_dict({**stored, "added_by_a_later_version": 1}).to_dict() == stored


def test_broken_answers_come_first_then_changed_outputs_by_kl():
    rows = [
        {"index": 0, "baseline_correct": True, "correct": True, "output": "a", "baseline_output": "a", "kl": 0.9},
        {"index": 1, "baseline_correct": True, "correct": False, "output": "b", "baseline_output": "a", "kl": 0.1},
        {"index": 2, "baseline_correct": None, "correct": None, "output": "c", "baseline_output": "a", "kl": 0.2},
        {"index": 3, "baseline_correct": None, "correct": None, "output": "d", "baseline_output": "a", "kl": 0.5},
    ]
    assert [r["index"] for r in broke_first(rows)] == [1, 3, 2, 0]


def test_readers_of_a_run_with_a_failed_baseline():
    record = {"plans": [{"plan": "fp32", "status": "failed"}, {"plan": "int8", "status": "ok"}],
              "settings": {"cost": {"hardware": "h", "price_per_hour": 1.5, "prompt_tokens": 8, "output_tokens": 4,
                                    "batch_size": 2, "utilisation": 0.5}}}
    assert baseline(record) is None and [p["plan"] for p in ok_plans(record)] == ["int8"]
    assert cost_sentence(record) == "h at $1.5/h, 8 prompt + 4 output tokens per query, batch 2, 50% utilisation"
