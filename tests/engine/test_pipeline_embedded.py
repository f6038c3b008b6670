"""End to end on the embedded SmolLM2-135M: real weights, real libraries, the CPU."""

import math

import pytest
import torch

from engine.evaluation import texts
from engine.pipeline import run
from engine.settings import RunSettings, plans_for
from engine.store import Store

QUICK = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, eval_tokens=512,
                    keep_artifacts=False)
CONTRACT = {
    "size": {"weight_bytes", "disk_bytes", "compression_ratio", "bits_per_weight"},
    "latency": {"ttft_ms", "tpot_ms", "tokens_per_s", "batch_size", "roofline_efficiency"},
    "memory": {"peak_bytes"},
    "cost": {"usd_per_1k_queries", "hardware", "price_per_hour", "prompt_tokens", "output_tokens", "utilisation"},
    "accuracy": {"perplexity", "ppl_delta_pct", "kl_divergence", "top1_agreement"},
}


@pytest.fixture(scope="module")
def record():
    return run("smollm2-135m", plans_for(["int8"], None, "cpu"), QUICK, progress=lambda m: None)


def test_record_follows_the_contract(record):
    assert {"run_id", "created", "model", "device", "plans"} <= set(record)
    assert {"name", "source", "params"} <= set(record["model"])
    assert {"type", "name"} <= set(record["device"])
    import torchao
    import transformers

    assert record["device"]["libraries"]["torch"] == torch.__version__  # the record names the stack it ran on
    assert record["device"]["libraries"]["transformers"] == transformers.__version__
    assert record["device"]["libraries"]["torchao"] == torchao.__version__
    for plan in record["plans"]:
        assert plan["status"] == "ok", plan.get("error")
        assert {"plan", "status", "error", "backend"} <= set(plan)
        for section, keys in CONTRACT.items():
            assert keys <= set(plan[section]), section
    assert Store().get_run(record["run_id"])["plans"] == record["plans"]


def test_baseline_agrees_with_itself_and_int8_is_close(record):
    base, int8 = record["plans"]
    assert base["plan"] == "fp32"
    assert base["accuracy"]["kl_divergence"] == 0.0 and base["accuracy"]["top1_agreement"] == 1.0
    assert base["size"]["compression_ratio"] == 1.0 and base["size"]["bits_per_weight"] == 32.0
    assert int8["size"]["weight_bytes"] < base["size"]["weight_bytes"]
    assert abs(int8["accuracy"]["ppl_delta_pct"]) < 1.5
    assert 0 < int8["accuracy"]["kl_divergence"] < 0.05


def test_baseline_perplexity_matches_a_direct_forward_pass(record):
    """Independent check: transformers' own loss on the same windows gives the same perplexity."""
    from engine.models import load_model

    loaded = load_model("smollm2-135m")
    windows = texts.make_windows(loaded.tokenizer, texts.load_eval_texts(), max_tokens=QUICK.eval_tokens)
    with torch.no_grad():
        losses = [loaded.base(input_ids=w[None], labels=w[None]).loss.item() for w in windows.input_ids]
    assert record["plans"][0]["accuracy"]["perplexity"] == pytest.approx(math.exp(sum(losses) / len(losses)),
                                                                         rel=1e-4)


@pytest.mark.slow
def test_all_weights_preset_acceptance():
    """The issue's acceptance run (about a minute on 2 cores): sizes fall, int8 holds, int2 collapses."""
    full = run("smollm2-135m", plans_for(None, "all-weights", "cpu"), RunSettings(device="cpu"),
               progress=lambda m: None)
    plans = {p["plan"]: p for p in full["plans"]}
    sizes = [plans[p]["size"]["weight_bytes"] for p in ("fp32", "int8", "int4", "int2")]
    assert sizes == sorted(sizes, reverse=True)
    assert plans["int8"]["accuracy"]["ppl_delta_pct"] < 1.5
    assert plans["int2"]["accuracy"]["diverged"]
