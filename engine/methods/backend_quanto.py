"""optimum-quanto weight-only quantization (int8 per channel; int4/int2 grouped, with shift), of the
whole model or of the layers matching `include` (mixed precision and layer sensitivity)."""

from __future__ import annotations

from engine.methods.layers import SKIP_MODULES, group_misfits, misfit_note
from engine.registry import StepOutcome


def quantize_quanto(model, bits: int, group: int | None, device: str, optimizer=None, include=None,
                    freeze: bool = True) -> StepOutcome:
    from optimum.quanto import qint2, qint4, qint8, quantize
    from optimum.quanto.nn import QModuleMixin

    def quantized() -> dict:
        return {name: m for name, m in model.named_modules() if isinstance(m, QModuleMixin)}

    before = set(quantized())
    quantize(model, weights={8: qint8, 4: qint4, 2: qint2}[bits], optimizer=optimizer, include=include,
             exclude=list(SKIP_MODULES))
    fresh = {name: m for name, m in quantized().items() if name not in before}
    notes = []
    if bits < 8 and group:
        misfits = set(group_misfits(model, group))
        # quanto hard-codes group 128 (stepping down by 32 until it divides); the
        # group size the user asked for is set on each module before freezing.
        for name, module in fresh.items():
            if name not in misfits:
                module.weight_group_size = group
        notes += misfit_note(sorted(misfits & set(fresh)), group, "quanto's own group size was kept for those")
    if freeze:  # outside inference mode (quanto cannot freeze inference tensors)
        for module in fresh.values():
            module.freeze()
    kernel = "quanto int8 per-channel matmul" if bits == 8 else f"quanto int{bits} grouped (dequantize + matmul)"
    return StepOutcome(model, backend="optimum-quanto", kernel_path=f"{kernel} on {device}", notes=notes)
