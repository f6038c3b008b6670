"""Calibrated and error-minimising steps on the tiny path: they run, they store what they did."""

import copy

import pytest
import torch

from engine.evaluation.calibration import Calibration
from engine.measure.size import plain_tensors
from engine.methods.layers import quantizable_linears
from engine.methods.sensitivity import linear_bits
from engine.plan import PlanError, parse
from engine.registry import STEPS
from engine.settings import StepContext


def _ctx(vocab=512):
    rows = torch.randint(0, vocab, (8, 32), generator=torch.Generator().manual_seed(1))
    return StepContext("cpu", None, lambda source: Calibration("texts", rows), "tiny")


def _apply(model, text, ctx=None):
    ctx = ctx or _ctx()
    outcome = None
    for plan_step in parse(text).steps:
        outcome = STEPS[plan_step.name].fn(model if outcome is None else outcome.model, plan_step, ctx)
    return outcome


def _rel_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_smoothquant_w8a8_runs_and_stays_close(tiny_model):
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = tiny_model(input_ids=ids).logits
    outcome = _apply(copy.deepcopy(tiny_model), "smoothquant:alpha=0.5+w8a8")
    assert "SmoothQuant alpha=0.5" in outcome.kernel_path
    weight = outcome.model.model.layers[0].mlp.down_proj.weight
    assert any(t.dtype == torch.int8 for t in plain_tensors(weight))
    with torch.no_grad():
        assert _rel_error(outcome.model(input_ids=ids).logits, reference) < 0.05


def test_smoothquant_alpha_search_picks_from_the_grid(tiny_model):
    outcome = _apply(tiny_model, "smoothquant:alpha=auto+w8a8")
    assert any("alpha search" in n for n in outcome.notes)


def test_smoothquant_needs_a_following_quantizer():
    with pytest.raises(PlanError, match="must follow it"):
        parse("smoothquant:alpha=0.5")
    with pytest.raises(PlanError, match="number or auto"):
        parse("smoothquant:alpha=high+w8a8")


@pytest.mark.parametrize("text", ["hqq4:group=32", "hqq2:group=32"])
def test_hqq_steps_run(tiny_model, text):
    outcome = _apply(tiny_model, text)
    assert "HQQ" in outcome.kernel_path
    with torch.no_grad():
        assert torch.isfinite(outcome.model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_mixed_keeps_the_most_sensitive_block_at_int8(tiny_model):
    outcome = _apply(tiny_model, "mixed:bits=4,group=32,keep=1")
    ranking = outcome.extras["sensitivity"]
    assert [r["block"] for r in ranking] == [0, 1] and all(r["kl"] >= 0 for r in ranking)
    most = max(ranking, key=lambda r: r["kl"])["block"]
    assert outcome.extras["kept_blocks"] == [most]


def _linear_state_bits(model) -> int:
    bits = 0
    for name in quantizable_linears(model):
        for value in model.get_submodule(name).state_dict().values():
            bits += sum(t.nbytes * 8 for t in plain_tensors(value))
    return bits


def test_mixed_meets_its_budget_by_an_independent_count(tiny_model):
    params = sum(m.weight.numel() for m in quantizable_linears(tiny_model).values())
    outcome = _apply(tiny_model, "mixed:bits=4,group=32,budget_bpw=7.5")
    counted = _linear_state_bits(outcome.model) / params  # bytes actually held, from the state dict
    assert counted <= 7.5 + 0.05  # scalar input/output scales of quanto modules are the 0.05 slack
    assert outcome.extras["kept_blocks"]  # int4 g32 is 6 bpw: 7.5 leaves room for one int8 block
    # The planner's formula by hand: 4-bit values plus a 64-bit scale+shift per group; quanto's
    # own fallback group (96) where 128 does not divide 576.
    assert linear_bits(10, 100, 4, 20) == 1000 * 4 + 1000 / 20 * 64
    assert linear_bits(1536, 576, 4, 128) == 1536 * 576 * 4 + 1536 * 576 / 96 * 64


def test_calibration_check_doubles_calibrated_plans_only():
    from engine.settings import calibration_variants

    plans = [parse("fp32"), parse("int8"), parse("smoothquant:alpha=0.5+w8a8")]
    out = [str(p) for p in calibration_variants(plans)]
    assert out == ["fp32", "int8", "smoothquant:alpha=0.5,calib=texts+w8a8:calib=texts",
                   "smoothquant:alpha=0.5,calib=prompts+w8a8:calib=prompts"]


def test_calibration_never_sees_the_evaluation_share():
    from engine.evaluation.calibration import build_calibration
    from engine.evaluation.prompts import load_prompts
    from engine.evaluation.texts import CALIBRATION_TEXTS, load_eval_texts, load_texts
    from engine.models import load_model

    tokenizer = load_model("smollm2-135m", progress=lambda *a: None).tokenizer
    prompts = load_prompts("sample_data/prompts.jsonl")
    calibration, evaluation = prompts.split(0.2, seed=0)
    assert {i.index for i in calibration.items}.isdisjoint({i.index for i in evaluation.items})
    rows = build_calibration(tokenizer, "prompts", calibration.items).rows
    calib_text = tokenizer.decode(rows.flatten().tolist())
    assert all(item.prompt not in calib_text for item in evaluation.items)
    assert any(item.prompt in calib_text for item in calibration.items)
    # Generic calibration texts share no five-word run with the evaluation texts.
    def grams(texts):
        words = " ".join(texts).lower().split()
        return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}
    assert not grams(load_texts(CALIBRATION_TEXTS)) & grams(load_eval_texts())
