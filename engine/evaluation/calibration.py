"""Calibration data for calibrated methods: the user's calibration share, generic texts, or both.

Calibrated methods see only this data, never the evaluation share of the prompts nor the
evaluation texts, so a plan is never scored on what it was fitted to. Sequences are packed
to one length because some libraries (torchao's SmoothQuant observer) concatenate batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from engine.evaluation.forward import chat_prompt_ids
from engine.evaluation.texts import CALIBRATION_TEXTS, load_texts
from engine.registry import CALIBRATION_SOURCES as SOURCES


@dataclass(frozen=True)
class Calibration:
    """Token rows of equal length, and where they came from."""

    source: str  # prompts | texts | both
    rows: torch.Tensor  # [sequences, length]

    def describe(self) -> dict:
        digest = hashlib.sha256(self.rows.numpy().tobytes()).hexdigest()[:16]
        return {"source": self.source, "sequences": int(self.rows.shape[0]),
                "tokens": int(self.rows.numel()), "sha256": digest}

    def batches(self, size: int = 4):
        return self.rows.split(size)


def _pack(token_lists: list[list[int]], length: int, max_rows: int) -> torch.Tensor:
    flat = [t for ids in token_lists for t in ids]
    rows = min(len(flat) // length, max_rows)
    if rows == 0:
        raise ValueError(f"calibration data too small: {len(flat)} tokens, need at least {length}")
    return torch.tensor(flat[: rows * length]).reshape(rows, length)


def build_calibration(tokenizer, source: str, prompt_items=(), length: int = 128,
                      max_rows: int = 512) -> Calibration:
    """`prompt_items` is the calibration share of the user's prompts (possibly empty)."""
    if source not in SOURCES:
        raise ValueError(f"unknown calibration source '{source}'; choose from {', '.join(SOURCES)}")
    if source == "auto":
        source = "prompts" if prompt_items else "texts"
    if source in ("prompts", "both") and not prompt_items:
        raise ValueError("calibration from prompts needs a prompt file and --calibration-share above 0")
    lists: list[list[int]] = []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if source in ("prompts", "both"):
        for item in prompt_items:
            answer = tokenizer(item.reference, add_special_tokens=False).input_ids if item.reference else []
            lists.append(chat_prompt_ids(tokenizer, item.prompt) + answer + eos)
    if source in ("texts", "both"):
        lists += [tokenizer(text, add_special_tokens=False).input_ids + eos for text in load_texts(CALIBRATION_TEXTS)]
    return Calibration(source, _pack(lists, length, max_rows))

