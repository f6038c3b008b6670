"""Which linear layers a weight-only method touches, and which it must leave alone."""

from __future__ import annotations

import torch.nn as nn

# The output head is tied to the embedding in most small models; quantizing it would
# also quantize the embedding table, so weight-only methods keep it in float (as the
# libraries' own transformers integrations do).
SKIP_MODULES = ("lm_head",)


def quantizable_linears(model) -> dict[str, nn.Linear]:
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(name.endswith(s) for s in SKIP_MODULES)
    }


def group_misfits(model, group: int | None) -> list[str]:
    """Layers whose input size the group size does not divide (libraries may skip them silently)."""
    if not group:
        return []
    return [name for name, lin in quantizable_linears(model).items() if lin.in_features % group]


def misfit_note(misfits: list[str], group: int, action: str) -> list[str]:
    if not misfits:
        return []
    sample = ", ".join(misfits[:3]) + (" ..." if len(misfits) > 3 else "")
    return [f"{len(misfits)} layers have an input size not divisible by group={group} ({sample}); {action}"]
