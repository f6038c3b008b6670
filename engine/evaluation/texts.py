"""Evaluation and calibration texts, and the teacher-forced figures measured on them.

perplexity = exp(mean NLL of each next token); kl_divergence = mean over positions of
KL(baseline || plan) in nats; top1_agreement = share of positions where both models pick
the same next token. The baseline's log-probabilities are computed once per run and reused.
`log_probs` and `kl_per_position` are the one batched log-softmax pass and the one KL that
the methods reuse too (SmoothQuant's alpha search, layer sensitivity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.evaluation import paired
from engine.home import SAMPLE_DATA

EVAL_TEXTS = SAMPLE_DATA / "eval_texts.txt"
CALIBRATION_TEXTS = SAMPLE_DATA / "calibration_texts.txt"  # generic text, disjoint from the evaluation texts


def load_texts(path: Path) -> list[str]:
    """A text file of passages separated by lines holding only `---`."""
    return [part.strip() for part in path.read_text(encoding="utf-8").split("\n---\n") if part.strip()]


def load_eval_texts(path: Path = EVAL_TEXTS) -> list[str]:
    return load_texts(path)


@dataclass(frozen=True)
class EvalWindows:
    """Token windows of equal length, batched for teacher-forced passes."""

    input_ids: torch.Tensor  # [windows, length]

    @property
    def tokens(self) -> int:
        return self.input_ids.shape[0] * (self.input_ids.shape[1] - 1)


def make_windows(tokenizer, texts: list[str], window: int = 256, max_tokens: int = 2048) -> EvalWindows:
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    count = max(1, min(len(ids) // window, max_tokens // window))
    if len(ids) < window:
        window = len(ids)
    return EvalWindows(torch.tensor(ids[: count * window]).reshape(count, window))


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def log_probs(model, rows: torch.Tensor, device: str, batch: int = 4, next_token: bool = False) -> torch.Tensor:
    """log softmax of the logits of token rows, float32 on the CPU: [rows, length, vocab]. With
    `next_token`, the last position (which predicts nothing in the rows) is dropped. A model of another
    runtime (a GGUF in llama.cpp) gives its own log-probabilities; every figure is computed from them alike."""
    if not isinstance(model, torch.nn.Module):
        return model.log_probs(rows, next_token)
    parts = []
    for start in range(0, rows.shape[0], batch):
        logits = model(input_ids=rows[start : start + batch].to(device)).logits
        logits = logits[:, :-1] if next_token else logits
        parts.append(torch.log_softmax(logits.float(), dim=-1).cpu())
    return torch.cat(parts)


def kl_per_position(base_logp: torch.Tensor, plan_logp: torch.Tensor) -> torch.Tensor:
    """KL(baseline || plan) in nats at every position."""
    return (base_logp.exp() * (base_logp - plan_logp)).sum(-1)


def window_log_probs(model, windows: EvalWindows, device: str) -> torch.Tensor:
    """Next-token log-probabilities over the evaluation windows: [windows, length-1, vocab]."""
    return log_probs(model, windows.input_ids, device, next_token=True)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compare(plan_logp: torch.Tensor, base_logp: torch.Tensor, targets: torch.Tensor) -> dict:
    """Perplexity of the plan and its agreement with the baseline, position by position."""
    nll = -plan_logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    kl = kl_per_position(base_logp, plan_logp)
    top1 = (plan_logp.argmax(-1) == base_logp.argmax(-1)).float()
    mean_nll = nll.mean().item()
    ppl = math.exp(mean_nll) if mean_nll < 700 else math.inf
    base_nll = -base_logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    counts = [targets.shape[-1]] * targets.shape[0]
    changes = {"kl_divergence": paired.ratio(kl.sum(-1).tolist(), counts),  # by window
               "top1_agreement": paired.share_change(int(top1.sum().item()), int(top1.numel()))}
    if math.isfinite(ppl):
        changes["perplexity"] = paired.perplexity_change(nll.sum(-1).tolist(), base_nll.sum(-1).tolist(), counts)
    return {
        "perplexity": _finite_or_none(ppl),
        "diverged": not math.isfinite(ppl) or ppl > 1e4,
        "kl_divergence": _finite_or_none(kl.mean().item()),
        "top1_agreement": top1.mean().item(),
        "eval_tokens": int(targets.numel()),
        "changes": changes,
    }
