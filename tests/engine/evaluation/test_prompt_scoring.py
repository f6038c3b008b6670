"""Prompt metrics on the embedded model against independent transformers computations."""

import copy

import pytest
import torch

from engine.evaluation.forward import chat_prompt_ids
from engine.evaluation.plan_eval import PromptAccuracy
from engine.evaluation.prompts import PromptItem, PromptSet
from engine.evaluation.slices import slice_members
from engine.models import load_model
from engine.plan import parse
from engine.registry import STEPS
from engine.settings import StepContext

ITEMS = [
    PromptItem(0, "What is 3 plus 4? Answer with a number only.", "7", category="arithmetic"),
    PromptItem(1, "Which animal says moo?", "cow", ("cat", "cow", "dog"), "multiple_choice"),
    PromptItem(2, "Write one sentence about the sea.", category="instructions"),
    PromptItem(3, "What is the capital of France? Answer with one word.", "Paris", category="factual"),
    PromptItem(4, "Explain idempotent operations briefly.", category="technical_words"),
]
PROMPTS = PromptSet.of("tiny", ITEMS)


@pytest.fixture(scope="module")
def loaded():
    return load_model("smollm2-135m", progress=lambda *a: None)


@pytest.fixture(scope="module")
def int8_model(loaded):
    model = loaded.fresh_copy("cpu")
    step = parse("int8").steps[0]
    return STEPS["int8"].fn(model, step, StepContext("cpu", loaded.tokenizer)).model


@pytest.fixture(scope="module")
def evaluated(loaded, int8_model):
    acc = PromptAccuracy(loaded.tokenizer, PROMPTS, "cpu", max_new_tokens=8, batch_size=4)
    base = acc.measure(loaded.base)
    again = acc.measure(copy.deepcopy(loaded.base))
    plan = acc.measure(int8_model)
    return acc, base, again, plan


def test_baseline_scores_exactly_itself(evaluated):
    _acc, base, again, _plan = evaluated
    # A deep copy's weights sit at other addresses, where the CPU GEMM may take another code path for
    # one-row inputs: its KL is float rounding (1e-8), not a difference; every pick is the same.
    for (overall, _slices, records), kl in ((base, 0.0), (again, 1e-6)):
        assert overall["kl_divergence"] <= kl
        assert overall["top1_agreement"] == 1.0 and overall["generation_agreement"] == 1.0
        assert overall["accuracy_delta_pts"] == 0.0 and abs(overall["ppl_delta_pct"]) < 1e-4
        assert all(r["same_generation"] for r in records)


def _direct_logp(model, tokenizer, prompt, continuation):
    ids = chat_prompt_ids(tokenizer, prompt)
    cont = tokenizer(continuation, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids + cont])).logits[0, len(ids) - 1 : len(ids) - 1 + len(cont)]
    return torch.log_softmax(logits.float(), -1), cont


def test_kl_top1_and_perplexity_match_a_direct_forward_pass(loaded, int8_model, evaluated):
    acc, _base, _again, (overall, _slices, records) = evaluated
    tok = loaded.tokenizer
    kls, agree, nll = [], [], []
    for item, outcome in zip(ITEMS, acc.evaluator.baseline):
        target = item.reference if item.reference is not None else outcome.output
        if item.reference is None:
            target_ids = outcome.output_tokens
        base_lp, cont = _direct_logp(loaded.base, tok, item.prompt, target)
        plan_lp, _ = _direct_logp(int8_model, tok, item.prompt, target)
        if item.reference is None:
            assert cont == target_ids  # decoding then encoding the output gives the same tokens here
        kls += (base_lp.exp() * (base_lp - plan_lp)).sum(-1).tolist()
        agree += (base_lp.argmax(-1) == plan_lp.argmax(-1)).tolist()
        if item.reference is not None:
            nll += (-plan_lp.gather(-1, torch.tensor(cont)[:, None]).squeeze(-1)).tolist()
    assert overall["kl_divergence"] == pytest.approx(sum(kls) / len(kls), rel=0.05, abs=1e-4)
    assert overall["top1_agreement"] == pytest.approx(sum(agree) / len(agree), abs=1e-9)
    assert overall["perplexity"] == pytest.approx(torch.tensor(nll).mean().exp().item(), rel=1e-3)


def test_generation_and_multiple_choice_match_direct_calls(loaded, evaluated):
    acc, (_o, _s, records), _again, _plan = evaluated
    tok = loaded.tokenizer
    ids = chat_prompt_ids(tok, ITEMS[3].prompt)
    with torch.no_grad():
        out = loaded.base.generate(input_ids=torch.tensor([ids]), max_new_tokens=8, do_sample=False)
    direct = out[0, len(ids):].tolist()
    if tok.eos_token_id in direct:
        direct = direct[: direct.index(tok.eos_token_id)]
    assert acc.evaluator.baseline[3].output_tokens == direct
    scores = {c: _direct_logp(loaded.base, tok, ITEMS[1].prompt, c)[0]
              .gather(-1, torch.tensor(tok(c, add_special_tokens=False).input_ids)[:, None]).sum().item()
              for c in ITEMS[1].choices}
    assert records[1]["baseline_output"] == max(scores, key=scores.get)


def test_slices_and_records(loaded, evaluated):
    _acc, _base, _again, (overall, slices, records) = evaluated
    members = slice_members(PROMPTS, loaded.tokenizer)
    assert members["numbers"] == [0]
    assert members["category:multiple_choice"] == [1]
    assert "rare_words" in members  # "idempotent" is made of late-merge tokens
    assert set(slices) == set(members)
    assert {"kl_divergence", "top1_agreement", "task_accuracy", "generation_agreement"} <= set(slices["numbers"])
    assert len(records) == len(ITEMS)
    assert {"baseline_output", "output", "correct", "kl"} <= set(records[0])
    assert records[2]["correct"] is None  # no reference, nothing to score
