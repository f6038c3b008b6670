"""A whole run with the user's prompts on the embedded model: verdicts, slices, recommendation."""

import json

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.evaluation.prompts import load_prompts
from engine.pipeline import run
from engine.settings import RunSettings, plans_for
from engine.store import Store

SAMPLE = "sample_data/prompts.jsonl"
QUICK = dict(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, keep_artifacts=False, max_new_tokens=8)


@pytest.fixture(scope="module")
def record():
    prompts = load_prompts(SAMPLE)
    # A short, varied subset: every 16th prompt covers all categories.
    subset = type(prompts).of("sample-subset", [i for n, i in enumerate(prompts.items) if n % 16 == 0])
    settings = RunSettings(**QUICK, calibration_share=0.25)
    return run("smollm2-135m", plans_for(["int8", "int2"], None, "cpu"), settings, progress=lambda e: None,
               prompts=subset)


def test_every_plan_has_metrics_slices_and_a_verdict(record):
    for plan in record["plans"]:
        acc = plan["accuracy"]
        for key in ("task_accuracy", "accuracy_delta_pts", "generation_agreement", "kl_divergence",
                    "top1_agreement", "perplexity"):
            assert acc[key] is not None, (plan["plan"], key)
        assert plan["slices"] and "numbers" in plan["slices"]
        assert plan["verdict"]["within"] in (True, False)
    assert record["recommendation"]["plan"] and record["recommendation"]["reason"]
    assert record["settings"]["verdict"]["metric"] == "task_accuracy"


def test_baseline_is_exact_and_int2_is_far_below_int8(record):
    base, int8, int2 = (p["accuracy"] for p in record["plans"])
    assert base["kl_divergence"] == 0.0 and base["top1_agreement"] == 1.0
    assert base["generation_agreement"] == 1.0
    assert int2["top1_agreement"] < int8["top1_agreement"] - 0.3
    assert int2["generation_agreement"] < int8["generation_agreement"]


def test_perplexity_on_a_few_answer_tokens_falls_back_to_the_evaluation_texts(record):
    """A dozen short references hold far fewer tokens than a stable perplexity needs: the run measures it on
    the evaluation texts, counts both, and the report says why."""
    from engine.evaluation.plan_eval import MIN_REFERENCE_TOKENS
    from engine.reports import facts

    acc = record["plans"][0]["accuracy"]
    assert 0 < acc["reference_tokens"] < MIN_REFERENCE_TOKENS and acc["perplexity_source"] == "eval_texts"
    assert acc["eval_tokens"] > acc["reference_tokens"]
    assert "too few for a stable perplexity" in str(facts.evaluation_data(record, None))


def test_cost_comes_from_the_prompt_sets_own_lengths_unless_a_flag_says_otherwise(record):
    """--prompt-tokens 16 was given, --output-tokens was not: answers are priced at the evaluated prompts'
    median answer (reference tokens, else the generation budget), and again at their 90th percentile."""
    import math

    import numpy as np

    from engine.models import load_model

    tok = load_model("smollm2-135m", progress=lambda *a: None).tokenizer
    scored = {r["index"] for r in Store().prompt_records(record["run_id"], position=0)}
    evaluated = [i for i in load_prompts(SAMPLE).items if i.index in scored]
    answers = [len(tok(i.reference, add_special_tokens=False).input_ids) if i.reference is not None
               else QUICK["max_new_tokens"] for i in evaluated]
    assert record["settings"]["lengths_from"] == "prompts"
    cost = record["plans"][1]["cost"]
    assert cost["prompt_tokens"] == 16 and cost["output_tokens"] == math.ceil(np.percentile(answers, 50))
    p90 = math.ceil(np.percentile(answers, 90))
    row = record["plans"][1]["latency"]["by_batch"][0]  # prompt length is the flag's at p90 too: no scaling
    by_hand = cost["price_per_hour"] / 3600 * (row["ttft_ms"] + row["tpot_ms"] * p90) / cost["utilisation"]
    assert cost["usd_per_1k_queries_p90"] == pytest.approx(by_hand, rel=1e-9)


def test_calibration_prompts_never_score_themselves(record):
    info = record["settings"]["prompts"]
    assert info["calibration"] + info["evaluation"] == info["size"] and info["calibration"] > 0
    scored = {r["index"] for r in Store().prompt_records(record["run_id"], position=1)}
    assert len(scored) == info["evaluation"]
    stored = Store().get_prompt_set(info["sha256"])
    assert len(stored["items"]) == info["size"]


def test_show_lists_worst_prompts(record):
    out = CliRunner().invoke(app, ["show", record["run_id"], "--prompts"]).output
    assert "int2: worst" in out and "baseline:" in out


def test_bad_prompt_file_is_refused_and_nothing_is_stored(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": "missing brace"\n')
    before = len(Store().list_runs())
    result = CliRunner().invoke(app, ["run", "--plan", "int8", "--prompts", str(bad)])
    assert result.exit_code == 2 and "line 2" in result.output
    assert len(Store().list_runs()) == before


def test_ten_thousand_prompts_are_accepted_and_a_quick_look_runs(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"prompt": f"What is {n} plus 1?", "reference": str(n + 1)}) + "\n"
                           for n in range(10_000)))
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["run", "--plan", "int8", "--prompts", str(big), "--limit", "4",
                                      "--decode-steps", "2", "--repeats", "1", "--max-new-tokens", "4",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["settings"]["prompts"]["size"] == 4
    assert "answering" in result.output  # the progress bar
