"""One plan's behaviour on the user's prompts, against the run's baseline.

The baseline is evaluated first: its greedy outputs are generated once, become the
teacher-forcing targets of prompts without a reference, and its top-k next-token
distribution at every target position is kept (not the full vocabulary, so 10,000
prompts fit in memory). Every later plan reuses all of it.

KL is computed over the baseline's top-k tokens plus one bucket for the rest of the
vocabulary: an exact KL between those coarse-grained distributions, a lower bound of the
full KL that is tight when the tail mass is small (checked against the full KL in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.evaluation.forward import answer, chat_prompt_ids
from engine.evaluation.prompts import PromptSet

TOP_K = 256


@dataclass
class BaselineRows:
    """The baseline's view of one target: top-k log-probs and argmax at each position."""

    topk_ids: torch.Tensor  # [positions, k]
    topk_logp: torch.Tensor  # [positions, k]
    argmax: torch.Tensor  # [positions]


@dataclass
class ItemOutcome:
    """What one model did on one prompt."""

    output_tokens: list[int]
    output: str
    target: str  # reference | choice | baseline_output
    nll: list[float] = field(default_factory=list)  # per target token
    kl: list[float] = field(default_factory=list)  # per target position
    argmax: list[int] = field(default_factory=list)  # plan's next-token pick per position
    chosen: str | None = None  # multiple choice: the choice with the highest log-likelihood


def coarse_kl(base: BaselineRows, plan_logp: torch.Tensor) -> torch.Tensor:
    """KL(baseline || plan) per position over {baseline top-k tokens, everything else}."""
    p_top = base.topk_logp.exp()
    q_top = plan_logp.gather(-1, base.topk_ids)
    tail_p = (1.0 - p_top.sum(-1)).clamp_min(0.0)
    tail_q = (1.0 - q_top.exp().sum(-1)).clamp_min(1e-12)
    kl = (p_top * (base.topk_logp - q_top)).sum(-1)
    tail = torch.where(tail_p > 0, tail_p * (tail_p.clamp_min(1e-12).log() - tail_q.log()), torch.zeros_like(tail_p))
    return (kl + tail).clamp_min(0.0)


class PromptEvaluator:
    def __init__(self, tokenizer, prompts: PromptSet, device: str, max_new_tokens: int = 16,
                 batch_size: int = 16, progress=None):
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.progress = progress or (lambda stage, done, total: None)
        self.prompt_ids = [chat_prompt_ids(tokenizer, item.prompt) for item in prompts.items]
        self.reference_tokens = sum(len(self.encode_answer(item.reference)) for item in prompts.items
                                    if item.reference is not None)
        self.baseline: list[ItemOutcome] | None = None
        self.base_rows: dict[int, BaselineRows] = {}

    def encode_answer(self, text: str) -> list[int]:
        """A continuation as the model would write it: after a chat template's newline no space is
        prepended; after a plain prompt the answer is a new word."""
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        return self.tokenizer(text if chat else " " + text, add_special_tokens=False).input_ids

    def _continuations(self, i: int, source: list[int]) -> list[tuple[str | None, list[int]]]:
        """What prompt i is teacher-forced on, as (choice name, tokens): first its target (the reference,
        else the baseline's output `source`), then every other choice."""
        item = self.prompts.items[i]
        if item.reference is None:
            target = (None, source or [self.tokenizer.eos_token_id])
        else:
            target = (item.reference if item.choices else None, self.encode_answer(item.reference))
        return [target] + [(c, self.encode_answer(c)) for c in item.choices or () if c != item.reference]

    def evaluate(self, model) -> list[ItemOutcome]:
        """Generate and teacher-force every target and choice, each prompt prefilled once."""
        is_baseline = self.baseline is None
        results: list[ItemOutcome | None] = [None] * len(self.prompt_ids)
        asked: dict[int, list[tuple[str | None, list[int]]]] = {}
        choice_scores: dict[int, dict[str, float]] = {}

        def continuations(i: int, output: list[int]) -> list[list[int]]:
            source = output if is_baseline else self.baseline[i].output_tokens
            asked[i] = self._continuations(i, source)
            item = self.prompts.items[i]
            kind = "baseline_output" if item.reference is None else "choice" if item.choices else "reference"
            results[i] = ItemOutcome(output, self.tokenizer.decode(output, skip_special_tokens=True).strip(), kind)
            return [ids for _name, ids in asked[i]]

        def on_rows(i: int, j: int, logp: torch.Tensor) -> None:
            name, ids = asked[i][j]
            token_logp = logp.gather(-1, torch.tensor(ids).unsqueeze(-1)).squeeze(-1)
            if name is not None:
                choice_scores.setdefault(i, {})[name] = token_logp.sum().item()
            if j > 0:
                return
            if is_baseline:
                top = logp.topk(min(TOP_K, logp.shape[-1]), dim=-1)
                self.base_rows[i] = BaselineRows(top.indices, top.values, logp.argmax(-1))
            outcome = results[i]
            outcome.nll = (-token_logp).tolist() if outcome.target != "baseline_output" else []
            outcome.kl = coarse_kl(self.base_rows[i], logp).tolist()
            outcome.argmax = logp.argmax(-1).tolist()

        answer(model, self.tokenizer, self.prompt_ids, self.max_new_tokens, self.device, continuations, on_rows,
               self.batch_size, lambda d, t: self.progress("answering", d, t))
        for i, scores in choice_scores.items():
            results[i].chosen = max(scores, key=scores.get)
        if is_baseline:
            self.baseline = results
        return results
