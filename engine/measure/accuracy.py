"""Teacher-forced accuracy against the baseline on evaluation texts.

perplexity = exp(mean NLL of each next token); kl_divergence = mean over positions of
KL(baseline || plan) in nats; top1_agreement = share of positions where both models pick
the same next token. The baseline's log-probabilities are computed once per run and reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
EVAL_TEXTS = SAMPLE_DATA / "eval_texts.txt"


@dataclass(frozen=True)
class EvalWindows:
    """Token windows of equal length, batched for teacher-forced passes."""

    input_ids: torch.Tensor  # [windows, length]

    @property
    def tokens(self) -> int:
        return self.input_ids.shape[0] * (self.input_ids.shape[1] - 1)


def load_eval_texts(path: Path = EVAL_TEXTS) -> list[str]:
    return [part.strip() for part in path.read_text(encoding="utf-8").split("\n---\n") if part.strip()]


def make_windows(tokenizer, texts: list[str], window: int = 256, max_tokens: int = 2048) -> EvalWindows:
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    count = max(1, min(len(ids) // window, max_tokens // window))
    if len(ids) < window:
        window = len(ids)
    return EvalWindows(torch.tensor(ids[: count * window]).reshape(count, window))


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def log_probs(model, windows: EvalWindows, device: str, batch: int = 4) -> torch.Tensor:
    """log softmax of next-token logits, float32 on the CPU: [windows, length-1, vocab]."""
    parts = []
    for start in range(0, windows.input_ids.shape[0], batch):
        ids = windows.input_ids[start : start + batch].to(device)
        logits = model(input_ids=ids).logits[:, :-1].float()
        parts.append(torch.log_softmax(logits, dim=-1).cpu())
    return torch.cat(parts)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compare(plan_logp: torch.Tensor, base_logp: torch.Tensor, targets: torch.Tensor) -> dict:
    """Perplexity of the plan and its agreement with the baseline, position by position."""
    nll = -plan_logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    kl = (base_logp.exp() * (base_logp - plan_logp)).sum(-1)
    top1 = (plan_logp.argmax(-1) == base_logp.argmax(-1)).float()
    mean_nll = nll.mean().item()
    ppl = math.exp(mean_nll) if mean_nll < 700 else math.inf
    return {
        "perplexity": _finite_or_none(ppl),
        "diverged": not math.isfinite(ppl) or ppl > 1e4,
        "kl_divergence": _finite_or_none(kl.mean().item()),
        "top1_agreement": top1.mean().item(),
        "eval_tokens": int(targets.numel()),
    }


def ppl_delta_pct(plan_ppl: float | None, base_ppl: float | None) -> float | None:
    if plan_ppl is None or base_ppl is None:
        return None
    return 100.0 * (plan_ppl - base_ppl) / base_ppl
