"""optimum-quanto weight-only quantization (int8 per channel; int4/int2 grouped, with shift)."""

from __future__ import annotations

from engine.methods.layers import SKIP_MODULES, group_misfits, misfit_note
from engine.registry import StepOutcome


def quantize_quanto(model, bits: int, group: int | None, ctx, optimizer=None, include=None) -> StepOutcome:
    from optimum.quanto import freeze, qint2, qint4, qint8, quantize
    from optimum.quanto.nn import QModuleMixin

    qtype = {8: qint8, 4: qint4, 2: qint2}[bits]
    quantize(model, weights=qtype, optimizer=optimizer, include=include, exclude=list(SKIP_MODULES))
    notes = []
    if bits < 8 and group:
        misfits = set(group_misfits(model, group))
        # quanto hard-codes group 128 (stepping down by 32 until it divides); the
        # group size the user asked for is set on each module before freezing.
        for name, module in model.named_modules():
            if isinstance(module, QModuleMixin) and name not in misfits:
                module.weight_group_size = group
        notes += misfit_note(sorted(misfits), group, "quanto's own group size was kept for those")
    # Freeze outside inference mode (quanto cannot freeze inference tensors).
    freeze(model)
    kernel = "quanto int8 per-channel matmul" if bits == 8 else f"quanto int{bits} grouped (dequantize + matmul)"
    return StepOutcome(model, backend="optimum-quanto", kernel_path=f"{kernel} on {ctx.device}", notes=notes)
