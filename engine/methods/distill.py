"""Distillation steps: a smaller student trained on the teacher (`distill`), and a quantized
student trained against the full-precision teacher (`qad`).

`distill:keep=0.5,steps=500` keeps half the decoder blocks (initialised from the teacher)
and distils on the calibration data; it composes with later steps (`distill:keep=0.5+int4`).
`qad:bits=2,group=32` is quantization-aware distillation in the spirit of BitDistiller (Du et
al., "BitDistiller: Unleashing the Potential of Sub-4-Bit LLMs via Self-Distillation", ACL
2024): weights are fake-quantized on the target grid with a straight-through estimator while
the student matches the teacher, then quantized for real with optimum-quanto.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import torch

from engine.methods.backend_quanto import quantize_quanto
from engine.methods.layers import quantizable_linears
from engine.methods.training import Checkpoints, DistillConfig, distill, layer_student
from engine.registry import (
    AT_LEAST_0,
    SHARE,
    Bounds,
    Param,
    StepOutcome,
    calib_param,
    group_param,
    resolved_params,
    step,
)

TRAINING = {
    "steps": Param(int, 200, (), "optimizer steps", AT_LEAST_0),
    "lr": Param(float, 1e-4, (), "learning rate", Bounds(0, 1, low_open=True)),
    "temperature": Param(float, 2.0, (), "softmax temperature of the distillation loss", Bounds(0, 100, low_open=True)),
    "batch": Param(int, 8, (), "sequences per step", Bounds(1, 4096)),
    "calib": calib_param("training data"),
}


def _config(p: dict) -> DistillConfig:
    return DistillConfig(steps=p["steps"], lr=float(p["lr"]), temperature=float(p["temperature"]),
                         batch=p["batch"], ce_weight=float(p.get("ce", 0.0)),
                         hidden_weight=float(p.get("hidden", 0.0)))


def _checkpoints(ctx, plan_step, rows: torch.Tensor) -> Checkpoints:
    digest = hashlib.sha256(f"{ctx.model_name}|{plan_step}|{ctx.device}".encode() + rows.numpy().tobytes())
    return Checkpoints(Path(ctx.checkpoint_root) / digest.hexdigest()[:16])


def _train(teacher, student, plan_step, ctx, p: dict) -> dict:
    calibration = ctx.calibrate(p["calib"])
    report = None
    if ctx.progress:
        def report(done, total, loss, eta):
            ctx.progress("distilling", done, total, {"loss": loss, "eta_s": round(eta, 1)})
    training = distill(teacher, student, calibration.rows, _config(p), ctx.device,
                       _checkpoints(ctx, plan_step, calibration.rows), report)
    training["calibration"] = calibration.describe()
    return training


@step("distill", "Smaller student keeping a share of the teacher's blocks, distilled on calibration data (KD).",
      kind="student", params={"keep": Param(float, 0.5, (), "share of decoder blocks kept", SHARE), **TRAINING,
                              "ce": Param(float, 0.0, (), "weight of cross-entropy on the data", AT_LEAST_0),
                              "hidden": Param(float, 0.0, (), "weight of last hidden-state MSE", AT_LEAST_0)})
def distill_step(model, plan_step, ctx) -> StepOutcome:
    p = resolved_params(plan_step)
    student, kept = layer_student(model, p["keep"])
    with torch.enable_grad():
        training = _train(model, student, plan_step, ctx, p)
    del model
    params = sum(q.numel() for q in student.parameters())
    notes = [f"student keeps blocks {kept} ({params / 1e6:.1f} M parameters); "
             f"{training['steps']} distillation steps in {training['seconds']:.0f} s"]
    return StepOutcome(student, backend="transformers + torch", kernel_path=f"torch eager student ({ctx.device})",
                       notes=notes, extras={"training": {**training, "kept_blocks": kept, "student_params": params}})


class FakeQuant(torch.nn.Module):
    """Affine per-group quantize-dequantize with a straight-through gradient (training only)."""

    def __init__(self, bits: int, group: int):
        super().__init__()
        self.levels, self.group = 2**bits - 1, group

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        grouped = weight.reshape(-1, self.group)
        low, high = grouped.amin(-1, keepdim=True), grouped.amax(-1, keepdim=True)
        scale = (high - low).clamp_min(1e-8) / self.levels
        quantized = ((grouped - low) / scale).round().clamp(0, self.levels) * scale + low
        return weight + (quantized.reshape(weight.shape) - weight).detach()


@step("qad", "Quantization-aware distillation to 4 or 2 bits (fake-quant + STE vs the float teacher), then quanto.",
      params={"bits": Param(int, 2, (2, 4), "target bits"),
              "group": group_param(32, sizes=(16, 32, 64, 128)), **TRAINING})
def qad(model, plan_step, ctx) -> StepOutcome:
    from torch.nn.utils import parametrize

    p = resolved_params(plan_step)
    teacher = copy.deepcopy(model).eval()
    targets = {n: m for n, m in quantizable_linears(model).items() if m.in_features % p["group"] == 0}
    for module in targets.values():
        parametrize.register_parametrization(module, "weight", FakeQuant(p["bits"], p["group"]))
    with torch.enable_grad():
        training = _train(teacher, model, plan_step, ctx, p)
    for module in targets.values():
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    del teacher
    outcome = quantize_quanto(model, p["bits"], p["group"], ctx.device)
    outcome.notes.append(f"{training['steps']} quantization-aware distillation steps in {training['seconds']:.0f} s")
    outcome.extras = {"training": training}
    outcome.kernel_path = outcome.kernel_path.replace("grouped", "grouped, QAD-trained")
    return outcome
