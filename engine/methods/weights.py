"""Weight-only quantization steps: int8, int4, int2, nf4, each through a real library.

Round-to-nearest weight quantization with per-channel (int8) or per-group (int4/int2)
scales; the backend decides the storage format and the kernel that serves it.
"""

from __future__ import annotations

from engine.methods.backend_bnb import quantize_bnb
from engine.methods.backend_quanto import quantize_quanto
from engine.methods.backend_torchao import quantize_torchao
from engine.registry import Param, StepOutcome, group_param, resolved_params, step

# Per-device default backend for each bit width: what measured fastest and most accurate
# on that device here (DESIGN.md, "facts seen").
DEFAULT_BACKENDS = {
    ("cpu", 8): "torchao",
    ("cuda", 8): "torchao",
    ("cpu", 4): "quanto",
    ("cuda", 4): "torchao",
    ("cpu", 2): "quanto",
    ("cuda", 2): "quanto",
}


def _quantize(model, bits: int, plan_step, ctx) -> StepOutcome:
    params = resolved_params(plan_step)
    backend = params["backend"]
    if backend == "auto":
        backend = DEFAULT_BACKENDS[(ctx.device, bits)]
    group = params.get("group")
    if backend == "quanto":
        return quantize_quanto(model, bits, group, ctx.device)
    if backend == "torchao":
        return quantize_torchao(model, bits, group, ctx.device)
    if backend == "bnb":
        if bits == 8:
            return quantize_bnb(model, 8, "", ctx.device)
        return quantize_bnb(model, 4, "fp4", ctx.device)
    raise RuntimeError(f"unknown backend {backend}")


@step(
    "int8",
    "8-bit integer weights, per-channel scales (torchao, quanto or bitsandbytes LLM.int8).",
    params={"backend": Param(str, "auto", ("auto", "torchao", "quanto", "bnb"), "library")},
    split=True,  # swaps each Linear's weight where it sits
)
def int8(model, plan_step, ctx):
    return _quantize(model, 8, plan_step, ctx)


@step(
    "int4",
    "4-bit integer weights with per-group scales (quanto on CPU, torchao tinygemm on CUDA, bnb fp4).",
    params={
        "backend": Param(str, "auto", ("auto", "torchao", "quanto", "bnb"), "library"),
        "group": group_param(64),
    },
    split=True,
)
def int4(model, plan_step, ctx):
    return _quantize(model, 4, plan_step, ctx)


@step(
    "int2",
    "2-bit integer weights with per-group scales (quanto); expect plain rounding to collapse.",
    params={"backend": Param(str, "auto", ("auto", "quanto"), "library"), "group": group_param(64)},
)
def int2(model, plan_step, ctx):
    return _quantize(model, 2, plan_step, ctx)


@step(
    "nf4",
    "4-bit NormalFloat weights, blocks of 64 (bitsandbytes, QLoRA).",
    params={"backend": Param(str, "bnb", ("bnb",), "library")},
)
def nf4(model, plan_step, ctx):
    return quantize_bnb(model, 4, "nf4", ctx.device)
