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

from engine.evaluation.forward import chat_prompt_ids, generate, pad_id, score
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
        self.baseline: list[ItemOutcome] | None = None
        self.base_rows: dict[int, BaselineRows] = {}

    def _encode(self, text: str) -> list[int]:
        """A continuation as the model would write it: after a chat template's newline no space is
        prepended; after a plain prompt the answer is a new word."""
        chat = bool(getattr(self.tokenizer, "chat_template", None))
        return self.tokenizer(text if chat else " " + text, add_special_tokens=False).input_ids

    def _targets(self, outputs: list[list[int]]) -> list[tuple[str, list[int]]]:
        """The continuation each prompt is teacher-forced on: its reference, else the baseline's output."""
        targets = []
        for item, output in zip(self.prompts.items, outputs):
            if item.reference is not None:
                targets.append(("choice" if item.choices else "reference", self._encode(item.reference)))
            else:
                targets.append(("baseline_output", output or [self.tokenizer.eos_token_id]))
        return targets

    def evaluate(self, model) -> list[ItemOutcome]:
        """Generate, then one teacher-forced pass over every target and choice."""
        outputs = generate(model, self.tokenizer, self.prompt_ids, self.max_new_tokens, self.device,
                           self.batch_size, lambda d, t: self.progress("generating", d, t))
        is_baseline = self.baseline is None
        source = outputs if is_baseline else [o.output_tokens for o in self.baseline]
        targets = self._targets(source)
        results = [ItemOutcome(out, self.tokenizer.decode(out, skip_special_tokens=True).strip(), kind)
                   for out, (kind, _) in zip(outputs, targets)]
        sequences, owners = [], []  # owner: (item, choice number or None for the target)
        for i, (item, (_kind, ids)) in enumerate(zip(self.prompts.items, targets)):
            sequences.append((self.prompt_ids[i], ids))
            owners.append((i, None))
            for c, choice in enumerate(item.choices or ()):
                if choice != item.reference:
                    sequences.append((self.prompt_ids[i], self._encode(choice)))
                    owners.append((i, c))
        choice_scores: dict[int, dict[str, float]] = {}

        def on_rows(k: int, logp: torch.Tensor) -> None:
            i, c = owners[k]
            item, ids = self.prompts.items[i], sequences[k][1]
            token_logp = logp.gather(-1, torch.tensor(ids).unsqueeze(-1)).squeeze(-1)
            if item.choices:
                name = item.reference if c is None else item.choices[c]
                choice_scores.setdefault(i, {})[name] = token_logp.sum().item()
            if c is not None:
                return
            if is_baseline:
                top = logp.topk(min(TOP_K, logp.shape[-1]), dim=-1)
                self.base_rows[i] = BaselineRows(top.indices, top.values, logp.argmax(-1))
            outcome = results[i]
            outcome.nll = (-token_logp).tolist() if outcome.target != "baseline_output" else []
            outcome.kl = coarse_kl(self.base_rows[i], logp).tolist()
            outcome.argmax = logp.argmax(-1).tolist()

        score(model, sequences, self.device, on_rows, pad_id(self.tokenizer), self.batch_size,
              lambda d, t: self.progress("scoring", d, t))
        for i, scores in choice_scores.items():
            results[i].chosen = max(scores, key=scores.get)
        if is_baseline:
            self.baseline = results
        return results
