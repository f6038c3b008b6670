"""torchao weight-only quantization through `quantize_(model, Config())`."""

from __future__ import annotations

import torch

from engine.methods.layers import group_misfits, misfit_note, quantizable_linears
from engine.registry import StepOutcome


def quantize_torchao(model, bits: int, group: int | None, device: str) -> StepOutcome:
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    targets = set(quantizable_linears(model))
    notes: list[str] = []
    if bits == 8:
        config = Int8WeightOnlyConfig()
        kernel = "torchao int8 weight-only (Int8Tensor)"
    elif bits == 4:
        if device != "cuda":
            raise RuntimeError(
                "torchao int4 weight-only has no CPU kernel in this build; use int4:backend=quanto on the CPU"
            )
        # The default packing needs the `mslk` kernels, which are not installed; tile_packed_to_4d
        # is torch's own tinygemm kernel (bf16 activations, CUDA).
        config = Int4WeightOnlyConfig(group_size=group, int4_packing_format="tile_packed_to_4d")
        misfits = group_misfits(model, group)
        targets -= set(misfits)
        notes += misfit_note(misfits, group, "they were left in float")
        model = model.to(torch.bfloat16)
        kernel = f"torchao int4 weight-only tinygemm (group {group})"
    else:
        raise RuntimeError(f"torchao has no {bits}-bit weight-only path here; use backend=quanto")
    quantize_(model, config, filter_fn=lambda module, name: name in targets)
    return StepOutcome(model, backend="torchao", kernel_path=f"{kernel} on {device}", notes=notes)
