"""Baselines: the model in a plain float dtype, the reference every delta is taken against."""

from __future__ import annotations

import torch

from engine.registry import StepOutcome, step

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _cast(name: str):
    def apply(model, plan_step, ctx) -> StepOutcome:
        model = model.to(_DTYPES[name])
        return StepOutcome(model, backend="torch", kernel_path=f"torch eager matmul ({name}, {ctx.device})")

    return apply


step("fp32", "Float32 weights (the CPU default baseline).", kind="baseline", split=True)(_cast("fp32"))
step("bf16", "BFloat16 weights (the GPU default baseline).", kind="baseline", split=True)(_cast("bf16"))
step("fp16", "Float16 weights.", kind="baseline", split=True)(_cast("fp16"))
