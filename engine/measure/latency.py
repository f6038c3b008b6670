"""Prefill (ttft) and decode (tpot) latency through the plain transformers path.

The decode loop is the one `generate()` runs (a DynamicCache, one greedy token per step),
written out so each step can be timed alone. Medians over repeats after a warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.measure.timing import Timer, median

DECODE_PATH = "transformers eager forward, DynamicCache (plain generate loop)"


@dataclass(frozen=True)
class LatencyFigures:
    batch_size: int
    ttft_ms: float
    tpot_ms: float

    @property
    def tokens_per_s(self) -> float:
        return self.batch_size * 1000.0 / self.tpot_ms


def repeat_prompt(prompt_ids: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """The same prompt for every row of the batch, on the device."""
    return prompt_ids.reshape(1, -1).repeat(batch_size, 1).to(device)


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def measure_latency(model, prompt_ids: torch.Tensor, batch_size: int, decode_steps: int,
                    repeats: int, device: str) -> LatencyFigures:
    timer = Timer(device)
    ids = repeat_prompt(prompt_ids, batch_size, device)
    state = {}

    def prefill():
        out = model(input_ids=ids, use_cache=True)
        state["cache"] = out.past_key_values
        state["next"] = out.logits[:, -1:].argmax(-1)

    def decode_step():
        out = model(input_ids=state["next"], past_key_values=state["cache"], use_cache=True)
        state["cache"] = out.past_key_values
        state["next"] = out.logits[:, -1:].argmax(-1)

    prefill()  # warm-up: first-call allocations and kernel selection
    decode_step()
    prefill_ms, decode_ms = [], []
    for _ in range(repeats):
        prefill_ms.append(timer.time_ms(prefill))
        for _ in range(decode_steps):
            decode_ms.append(timer.time_ms(decode_step))
    return LatencyFigures(batch_size, median(prefill_ms), median(decode_ms))


def latency_result(rows: list[dict], held_bytes: int, kernel_path: str, bandwidth: dict,
                   max_tpot_ms: float):
    """The record's latency section. Headline figures: the last path measured (serving when it
    ran) at the first batch size; roofline for every batch-1 row; the cheapest acceptable batch."""
    from engine.measure.decode_paths import best_batch
    from engine.measure.roofline import roofline_efficiency, roofline_tpot_ms
    from engine.records import LatencyResult

    bw = bandwidth["bytes_per_s"]
    rows = [{**r, "roofline_efficiency": roofline_efficiency(held_bytes, bw, r["tpot_ms"]) if r["batch_size"] == 1
             else None} for r in rows]
    headline_path = rows[-1]["path"]
    headline_rows = [r for r in rows if r["path"] == headline_path]
    first = headline_rows[0]
    return LatencyResult(
        ttft_ms=first["ttft_ms"], tpot_ms=first["tpot_ms"], tokens_per_s=first["tokens_per_s"],
        batch_size=first["batch_size"], roofline_efficiency=first["roofline_efficiency"],
        roofline_tpot_ms=roofline_tpot_ms(held_bytes, bw), decode_path=first["decode_path"], kernel_path=kernel_path,
        bandwidth_source=bandwidth["source"], by_batch=tuple(rows),
        best_batch=best_batch(headline_rows, max_tpot_ms) if "usd_per_1k_queries" in first else None,
    )
