"""Turn per-prompt outcomes into the run's figures (overall and per slice) via the metric modules."""

from __future__ import annotations

import math

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


def with_deltas(plan: dict, base: dict) -> dict:
    """Add ppl_delta_pct and accuracy_delta_pts against the baseline's figures."""
    out = dict(plan)
    out["ppl_delta_pct"] = pct_change(plan.get("perplexity"), base.get("perplexity"))
    if plan.get("task_accuracy") is not None and base.get("task_accuracy") is not None:
        out["accuracy_delta_pts"] = 100.0 * (plan["task_accuracy"] - base["task_accuracy"])
    else:
        out["accuracy_delta_pts"] = None
    return out
