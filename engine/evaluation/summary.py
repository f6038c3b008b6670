"""Turn per-prompt outcomes into the run's figures (overall and per slice) via the metric modules."""

from __future__ import annotations

import math
from dataclasses import replace

from engine.evaluation import paired
from engine.evaluation.metric_modules import compute
from engine.evaluation.prompts import PromptSet
from engine.evaluation.scoring import BaselineRows, ItemOutcome
from engine.metrics import pct_change


def _tokens(outcome: ItemOutcome) -> str:
    return " ".join(map(str, outcome.output_tokens))


def answer(item, outcome: ItemOutcome) -> str:
    return outcome.chosen if item.choices else outcome.output


def correctness(prompts: PromptSet, outcomes: list[ItemOutcome]) -> dict[int, bool]:
    """Per prompt (those with a reference): did the answer match? From the task_accuracy module."""
    scored = [i for i, item in enumerate(prompts.items) if item.reference is not None]
    if not scored:
        return {}
    result = compute("task_accuracy",
                     predictions=[answer(prompts.items[i], outcomes[i]) or "" for i in scored],
                     references=[prompts.items[i].reference for i in scored],
                     exact=[1 if prompts.items[i].choices else 0 for i in scored])
    return dict(zip(scored, result["correct"]))


def figures(subset: list[int], outcomes: list[ItemOutcome], baseline: list[ItemOutcome],
            base_rows: dict[int, BaselineRows], correct: dict[int, bool]) -> dict:
    """The prompt metrics over `subset` (indices into the evaluated set)."""
    nll = [v for i in subset for v in outcomes[i].nll]
    kl = [v for i in subset for v in outcomes[i].kl]
    picks = [v for i in subset for v in outcomes[i].argmax]
    base_picks = [v for i in subset for v in base_rows[i].argmax.tolist()]
    ppl = compute("perplexity", predictions=nll)["perplexity"] if nll else None
    scored = [correct[i] for i in subset if i in correct]
    return {
        "prompts": len(subset),
        "perplexity": ppl if ppl is None or math.isfinite(ppl) else None,
        "kl_divergence": compute("kl_divergence", predictions=kl)["kl_divergence"],
        "top1_agreement": compute("top1_agreement", predictions=picks, references=base_picks)["top1_agreement"],
        "generation_agreement": compute(
            "generation_agreement", predictions=[_tokens(outcomes[i]) for i in subset],
            references=[_tokens(baseline[i]) for i in subset])["generation_agreement"],
        "task_accuracy": sum(scored) / len(scored) if scored else None,
        "scored_prompts": len(scored),
    }


def changes(subset: list[int], outcomes: list[ItemOutcome], baseline: list[ItemOutcome],
            base_rows: dict[int, BaselineRows], correct: dict[int, bool],
            base_correct: dict[int, bool]) -> dict[str, paired.Change]:
    """Each prompt metric's change against the baseline over `subset`, with its paired 95% interval."""
    out: dict[str, paired.Change] = {}
    scored = [i for i in subset if i in correct and i in base_correct]
    if scored:
        plan_right, base_right = [correct[i] for i in scored], [base_correct[i] for i in scored]
        change = paired.mean_difference(list(map(float, plan_right)), list(map(float, base_right)), scale=100)
        out["task_accuracy"] = replace(change, p_value=paired.mcnemar(base_right, plan_right))
    with_kl = [i for i in subset if outcomes[i].kl]
    if with_kl:
        out["kl_divergence"] = paired.ratio([sum(outcomes[i].kl) for i in with_kl],
                                            [len(outcomes[i].kl) for i in with_kl])
    agree = sum(sum(a == b for a, b in zip(outcomes[i].argmax, base_rows[i].argmax.tolist())) for i in subset)
    out["top1_agreement"] = paired.share_change(agree, sum(len(outcomes[i].argmax) for i in subset))
    same = sum(outcomes[i].output_tokens == baseline[i].output_tokens for i in subset)
    out["generation_agreement"] = paired.share_change(same, len(subset))
    with_nll = [i for i in subset if outcomes[i].nll and baseline[i].nll]
    if with_nll:
        out["perplexity"] = paired.perplexity_change([sum(outcomes[i].nll) for i in with_nll],
                                                     [sum(baseline[i].nll) for i in with_nll],
                                                     [len(outcomes[i].nll) for i in with_nll])
    return out


def with_deltas(plan: dict, base: dict) -> dict:
    """Add ppl_delta_pct and accuracy_delta_pts against the baseline's figures."""
    out = dict(plan)
    out["ppl_delta_pct"] = pct_change(plan.get("perplexity"), base.get("perplexity"))
    if plan.get("task_accuracy") is not None and base.get("task_accuracy") is not None:
        out["accuracy_delta_pts"] = 100.0 * (plan["task_accuracy"] - base["task_accuracy"])
    else:
        out["accuracy_delta_pts"] = None
    return out
