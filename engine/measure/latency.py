"""Prefill (ttft) and decode (tpot) latency through the plain transformers path.

The decode loop is the one `generate()` runs (a DynamicCache, one greedy token per step),
written out so each step can be timed alone. Medians over repeats after a warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.measure.energy import measure_energy
from engine.measure.timing import Timer, median

DECODE_PATH = "transformers eager forward, DynamicCache (plain generate loop)"


@dataclass(frozen=True)
class LatencyFigures:
    batch_size: int
    ttft_ms: float
    tpot_ms: float  # the median decode step
    tpot_ms_p10: float | None = None  # the spread of the timed steps: how much the figure wobbles
    tpot_ms_p90: float | None = None
    energy: dict | None = None  # measure_energy's figures (or why energy was not measured)

    @classmethod
    def of(cls, batch_size: int, prefill_ms: list[float], decode_ms: list[float]) -> LatencyFigures:
        """Medians of the timed samples, with the decode steps' 10th and 90th percentiles."""
        p10, p90 = np.percentile(decode_ms, [10, 90])
        return cls(batch_size, median(prefill_ms), median(decode_ms), float(p10), float(p90))

    @property
    def tokens_per_s(self) -> float:
        return self.batch_size * 1000.0 / self.tpot_ms

    def row(self) -> dict:
        """The latency row's figures."""
        return {"batch_size": self.batch_size, "ttft_ms": self.ttft_ms, "tpot_ms": self.tpot_ms,
                "tpot_ms_p10": self.tpot_ms_p10, "tpot_ms_p90": self.tpot_ms_p90, "tokens_per_s": self.tokens_per_s,
                **(self.energy or {})}


def cache_of(out):
    """The KV cache a forward pass returned: `cache` in transformers 5.x, `past_key_values` before (the GPU image's
    transformers is older than ours)."""
    return out.cache if hasattr(out, "cache") else out.past_key_values


def repeat_prompt(prompt_ids: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """The same prompt for every row of the batch, on the device."""
    return prompt_ids.reshape(1, -1).repeat(batch_size, 1).to(device)


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def measure_latency(model, prompt_ids: torch.Tensor, batch_size: int, decode_steps: int,
                    repeats: int, device: str, energy_s: float = 0.0) -> LatencyFigures:
    timer = Timer(device)
    ids = repeat_prompt(prompt_ids, batch_size, device)
    state = {}

    def prefill():
        out = model(input_ids=ids, use_cache=True)
        state["cache"] = cache_of(out)
        state["next"] = out.logits[:, -1:].argmax(-1)

    def decode_step():
        out = model(input_ids=state["next"], past_key_values=state["cache"], use_cache=True)
        state["cache"] = cache_of(out)
        state["next"] = out.logits[:, -1:].argmax(-1)

    prefill()  # warm-up: first-call allocations and kernel selection
    decode_step()
    prefill_ms, decode_ms = [], []
    for _ in range(repeats):
        prefill_ms.append(timer.time_ms(prefill))
        for _ in range(decode_steps):
            decode_ms.append(timer.time_ms(decode_step))
    figures = LatencyFigures.of(batch_size, prefill_ms, decode_ms)
    return replace(figures, energy=measure_energy(device, prefill, decode_step, decode_steps, batch_size, energy_s))

