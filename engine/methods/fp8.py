"""FP8 (e4m3) through torchao: Hopper and Ada GPUs have fp8 tensor cores.

`fp8` (default mode=dynamic) scales weights per output row and activations per token at run
time and multiplies in fp8 (`torch._scaled_mm`), the W8A8 of fp8; `fp8:mode=weight` keeps
fp8 weights and bf16 activations. There is no CPU kernel: on a CPU the step refuses clearly.
Micikevicius et al., "FP8 Formats for Deep Learning", 2022.
"""

from __future__ import annotations

import torch

from engine.methods.layers import quantizable_linears
from engine.registry import Param, StepOutcome, resolved_params, step

MIN_CAPABILITY = (8, 9)  # Ada Lovelace and Hopper


def fp8_supported(device: str) -> str | None:
    """None when fp8 can run here, else the reason it cannot."""
    if device != "cuda" or not torch.cuda.is_available():
        return "fp8 needs a CUDA GPU with fp8 tensor cores (Ada or Hopper); this run is on the CPU"
    capability = torch.cuda.get_device_capability()
    if capability < MIN_CAPABILITY:
        return (f"fp8 needs compute capability 8.9 or newer (Ada or Hopper); "
                f"{torch.cuda.get_device_name()} is {capability[0]}.{capability[1]}")
    return None


@step("fp8", "FP8 e4m3 weights (torchao); mode=dynamic also quantizes activations per token (Hopper/Ada GPUs).",
      params={"mode": Param(str, "dynamic", ("dynamic", "weight"), "dynamic: fp8 activations too")}, split=True)
def fp8(model, plan_step, ctx) -> StepOutcome:
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        PerRow,
        quantize_,
    )

    reason = fp8_supported(ctx.device)
    if reason:
        raise RuntimeError(reason)
    mode = resolved_params(plan_step)["mode"]
    targets = set(quantizable_linears(model))
    model = model.to(torch.bfloat16)
    if mode == "dynamic":
        config, kernel = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()), \
            "torchao fp8 dynamic-activation fp8 weight, per-row scales (torch._scaled_mm)"
    else:
        config, kernel = Float8WeightOnlyConfig(), "torchao fp8 weight-only, bf16 activations"
    quantize_(model, config, filter_fn=lambda module, name: name in targets)
    return StepOutcome(model, backend="torchao", kernel_path=f"{kernel} on {ctx.device}")
