"""SmoothQuant W8A8: int8 weights and int8 activations, with activation outliers migrated
into the weights first.

Xiao et al., "SmoothQuant: Accurate and Efficient Post-Training Quantization for Large
Language Models" (ICML 2023): per input channel j, s_j = max|X_j|^alpha / max|W_j|^(1-alpha);
X/s and W*s compute the same product but both quantize well. Implemented with torchao's
SmoothQuant (observers during calibration, then the smoothed W8A8 conversion).
`smoothquant:alpha=0.5+w8a8` smooths then quantizes; `alpha=auto` searches alpha on the
calibration data; a plain `w8a8` quantizes without smoothing.
"""

from __future__ import annotations

import copy

import torch

from engine.evaluation.texts import kl_per_position, log_probs
from engine.methods.layers import quantizable_linears
from engine.registry import Bounds, Param, StepOutcome, calib_param, resolved_params, step

ALPHA_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SMOOTHQUANT_ROWS = 32  # the observers keep every input on the CPU: 32 x 128 tokens is plenty for max|X|


@step("smoothquant", "Migrate activation outliers into weights before w8a8 (SmoothQuant); alpha 0..1 or auto.",
      kind="transform", params={"alpha": Param(object, 0.5, (), "migration strength or auto", Bounds(0, 1)),
                                "calib": calib_param()})
def smoothquant(model, plan_step, ctx) -> StepOutcome:
    ctx.handoff["smoothquant"] = dict(resolved_params(plan_step))  # read by the w8a8 step that follows
    return StepOutcome(model, backend="torchao", kernel_path="(smoothing applied by the w8a8 step)")


def _convert(model, alpha, rows: torch.Tensor, device: str):
    from torchao.prototype.smoothquant import SmoothQuantConfig
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    names = set(quantizable_linears(model))
    base = Int8DynamicActivationInt8WeightConfig()
    quantize_(model, SmoothQuantConfig(base, step="prepare", alpha=alpha), filter_fn=lambda m, n: n in names)
    with torch.no_grad():
        for batch in rows.split(4):
            model(input_ids=batch.to(device))
    quantize_(model, SmoothQuantConfig(base, step="convert", alpha=alpha), filter_fn=lambda m, n: n in names)
    return model


def _kl_on(model, reference_logp: torch.Tensor, rows: torch.Tensor, device: str) -> float:
    return kl_per_position(reference_logp, log_probs(model, rows, device)).mean().item()


def search_alpha(model, rows: torch.Tensor, device: str) -> tuple[float, dict]:
    """The alpha with the lowest KL to the float model on half the calibration rows
    (smoothing is fitted on the other half, so the search does not score its own fit)."""
    fit, held = rows[: max(1, len(rows) // 2)], rows[max(1, len(rows) // 2):] if len(rows) > 1 else rows
    reference = log_probs(model, held, device)
    scores = {a: _kl_on(_convert(copy.deepcopy(model), a, fit, device), reference, held, device) for a in ALPHA_GRID}
    return min(scores, key=scores.get), scores


@step("w8a8", "Int8 weights and dynamic per-token int8 activations (torchao); after smoothquant, smoothed.",
      params={"calib": calib_param()})
def w8a8(model, plan_step, ctx) -> StepOutcome:
    settings = ctx.handoff.pop("smoothquant", None)
    notes = []
    alpha = None  # None: conventional W8A8, no smoothing
    if settings is not None:
        calibration = ctx.calibrate(settings["calib"])
        rows = calibration.rows[:SMOOTHQUANT_ROWS]
        notes.append(f"calibrated on {len(rows)} rows of {calibration.describe()}")
        alpha = settings["alpha"]
        if alpha == "auto":
            alpha, scores = search_alpha(model, rows, ctx.device)
            notes.append("alpha search (KL on held-out calibration rows): "
                         + ", ".join(f"{a}: {kl:.4f}" for a, kl in scores.items()) + f"; chose {alpha}")
        model = _convert(model, alpha, rows, ctx.device)
    else:
        model = _convert(model, None, ctx.calibrate(resolved_params(plan_step)["calib"]).rows[:1], ctx.device)
    label = f"SmoothQuant alpha={alpha}" if alpha is not None else "no smoothing"
    return StepOutcome(model, backend="torchao",
                       kernel_path=f"torchao int8 dynamic-activation int8 weight ({label}) on {ctx.device}",
                       notes=notes)
