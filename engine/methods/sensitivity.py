"""Layer sensitivity: quantize one decoder block at a time and measure the damage.

For each block, only that block's linear layers are quantized (optimum-quanto), the KL
divergence to the float model is measured on the calibration rows, and the block is put
back. The ranking drives mixed precision (keep the most sensitive blocks at 8 bits), as in
the per-layer sensitivity analyses of HAWQ (Dong et al., ICCV 2019) and llama.cpp's
importance-driven mixes, here measured directly rather than estimated.
"""

from __future__ import annotations

import copy
import json

import torch

from engine.evaluation.texts import kl_per_position, log_probs
from engine.home import subdir, write_atomic
from engine.methods.backend_quanto import quantize_quanto


def block_sensitivity(model, rows: torch.Tensor, device: str, bits: int, group: int, cache_key: str | None = None,
                      progress=None) -> list[dict]:
    """[{block, kl, params}] for every decoder block; the model is left as it was."""
    cache = subdir("sensitivity") / f"{cache_key}.json" if cache_key else None
    if cache and cache.is_file():
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError):
            pass  # a damaged cache is measured again
    reference = log_probs(model, rows, device)
    layers = model.model.layers
    ranking = []
    for index in range(len(layers)):
        original = copy.deepcopy(layers[index])
        quantize_quanto(model, bits, group, device, include=[f"model.layers.{index}.*"])
        kl = kl_per_position(reference, log_probs(model, rows, device)).mean().item()
        linears = [[m.out_features, m.in_features] for m in original.modules() if isinstance(m, torch.nn.Linear)]
        ranking.append({"block": index, "kl": kl, "params": sum(o * i for o, i in linears), "linears": linears})
        layers[index] = original
        if progress:
            progress(index + 1, len(layers))
    if cache:
        write_atomic(cache, json.dumps(ranking))
    return ranking


def effective_group(in_features: int, group: int) -> int:
    """The group quanto ends up using: ours where it divides the input size, else quanto's own
    choice (128, stepping down by 32 until it divides)."""
    if in_features % group == 0:
        return group
    fallback = 128
    while in_features % fallback and fallback > 32:
        fallback -= 32
    return fallback if in_features % fallback == 0 else in_features


def linear_bits(out_features: int, in_features: int, bits: int, group: int) -> float:
    """Storage bits of one quanto-quantized linear layer: packed values plus fp32 scales
    (per output row at 8 bits; scale and shift per group at 4 and 2 bits)."""
    params = out_features * in_features
    if bits == 8:
        return params * 8 + out_features * 32
    return params * bits + params / effective_group(in_features, group) * 64


def _block_bits(block: dict, bits: int, group: int) -> float:
    return sum(linear_bits(o, i, bits, group) for o, i in block["linears"])


def choose_kept_blocks(ranking: list[dict], bits: int, group: int, keep: int | None,
                       budget_bpw: float | None) -> list[int]:
    """Most sensitive blocks first, kept at 8 bits: the first `keep`, or as many as fit the budget."""
    ordered = sorted(ranking, key=lambda r: -r["kl"])
    if keep is not None:
        return sorted(r["block"] for r in ordered[:keep])
    total = sum(r["params"] for r in ranking)
    spent = sum(_block_bits(r, bits, group) for r in ranking)
    kept = []
    for block in ordered:
        extra = _block_bits(block, 8, group) - _block_bits(block, bits, group)
        if (spent + extra) / total > budget_bpw:
            break
        spent += extra
        kept.append(block["block"])
    return sorted(kept)
