"""Error-minimising low-bit weights: HQQ through optimum-quanto's HqqOptimizer.

Badri & Shaji, "Half-Quadratic Quantization of Large Machine Learning Models" (2023): the
zero-point (and scale) of each group are optimised to minimise an lp-norm (p<1) of the
weight error with a half-quadratic solver, so outlier weights no longer set the grid.
Needs no calibration data, which makes it the error-minimising method that runs on a CPU
here in seconds (GPTQ and AWQ need calibrated Hessians/activations and a GPU to be quick).
"""

from __future__ import annotations

import torch

from engine.methods.backend_quanto import quantize_quanto
from engine.registry import StepOutcome, group_param, resolved_params, step


def _hqq(model, bits: int, plan_step, ctx) -> StepOutcome:
    from optimum.quanto.tensor.optimizers import HqqOptimizer

    group = resolved_params(plan_step)["group"]
    with torch.no_grad():  # the solver's iterations need no autograd graph
        outcome = quantize_quanto(model, bits, group, ctx.device, optimizer=HqqOptimizer())
    outcome.kernel_path = outcome.kernel_path.replace("grouped", "grouped, HQQ-optimised")
    return outcome


@step("hqq4", "4-bit weights with HQQ-optimised scales and zero-points (quanto); no calibration data.",
      params={"group": group_param(64)})
def hqq4(model, plan_step, ctx) -> StepOutcome:
    return _hqq(model, 4, plan_step, ctx)


@step("hqq2", "2-bit weights with HQQ-optimised scales and zero-points (quanto); no calibration data.",
      params={"group": group_param(16, "weights per scale group (16: HQQ helps at 2 bits)")})
def hqq2(model, plan_step, ctx) -> StepOutcome:
    return _hqq(model, 2, plan_step, ctx)
