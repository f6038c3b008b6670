"""Wanda pruning (issue 19): the stored model's zeros counted straight from its safetensors file, group by group,
without the library; unstructured shares; pruning composed before int4 with accuracy deltas; bad patterns
refused when the plan is parsed."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.pipeline import run
from engine.plan import PlanError, parse
from engine.settings import RunSettings, plans_for
from engine.store import Store

SETTINGS = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8, eval_tokens=64,
                       max_new_tokens=4, calibration="texts")


def _weights(record: dict, position: int) -> dict[str, torch.Tensor]:
    artifact = record["plans"][position]["runtime"]["artifact"]
    return load_file(artifact)


def _pruned(tensors: dict) -> dict[str, torch.Tensor]:
    """The decoder's linear weights (2-D, in a layer), the ones a pruning step touches."""
    return {name: t for name, t in tensors.items() if ".layers." in name and name.endswith("proj.weight")}


def test_two_of_every_four_weights_are_zero_in_the_stored_file_and_composes_with_int4(tiny_llama, tmp_path):
    plans = plans_for(["fp32", "prune:sparsity=2:4", "prune:sparsity=0.5", "prune:sparsity=2:4+int4"], None, "cpu")
    record = run(str(tiny_llama), plans, SETTINGS, store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok"] * 4, [p["error"] for p in record["plans"]]

    baseline = _pruned(_weights(record, 0))
    semi = _pruned(_weights(record, 1))
    assert semi.keys() == baseline.keys() and len(semi) == 2 * 7  # q, k, v, o, gate, up, down per layer
    for name, weight in semi.items():
        groups = weight.reshape(weight.shape[0], -1, 4)  # four consecutive weights along the input
        assert bool(((groups == 0).sum(-1) >= 2).all()), name
        kept = weight != 0
        assert torch.equal(weight[kept], baseline[name][kept])  # what is not pruned is untouched
    for name, weight in _pruned(_weights(record, 2)).items():
        assert (weight == 0).float().mean().item() == pytest.approx(0.5, abs=1 / weight.numel()), name

    for plan in record["plans"][1:]:
        assert plan["accuracy"]["kl_divergence"] > 0 and plan["accuracy"]["top1_agreement"] is not None
        assert plan["extras"]["sparsity"]["zero_share"] == pytest.approx(0.5, abs=0.01)
    composed = record["plans"][3]
    assert composed["backend"] == "optimum-quanto" and composed["size"]["weight_bytes"] < record["plans"][1]["size"][
        "weight_bytes"]


@pytest.mark.parametrize("bad", ["prune:sparsity=3:4", "prune:sparsity=1.5", "prune:sparsity=0", "prune:calib=x"])
def test_a_pattern_that_cannot_run_is_refused_when_parsed(bad):
    with pytest.raises(PlanError, match="sparsity|calib"):
        parse(bad)


@pytest.mark.gpu
def test_a_plan_ending_in_2_4_runs_on_the_semi_structured_sparse_kernels_on_cuda(tiny_llama, tmp_path):
    settings = RunSettings(device="cuda", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8,
                           eval_tokens=64, max_new_tokens=4, calibration="texts")
    plans = plans_for(["bf16", "prune:sparsity=2:4", "prune:sparsity=2:4+int4"], None, "cuda")
    record = run(str(tiny_llama), plans, settings, store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok"] * 3, [p["error"] for p in record["plans"]]
    assert "semi-structured" in record["plans"][1]["kernel_path"], record["plans"][1]["notes"]
    assert "semi-structured" not in record["plans"][2]["kernel_path"]  # int4 follows: its kernel serves
