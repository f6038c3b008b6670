"""Pruning before quantization: Wanda (Sun et al., "A Simple and Effective Pruning Approach for Large Language
Models", ICLR 2024) scores every weight by |W| times the norm of its input channel's activations on calibration
data and zeroes the lowest, through torchao's WandaSparsifier. `sparsity=2:4` zeroes two of every four
consecutive input weights (the pattern NVIDIA's sparse tensor cores run); a share such as `sparsity=0.5` zeroes
that share of each layer, unstructured. `prune:sparsity=2:4+int4` prunes, then quantizes ("prune first, then
quantize").

On a CPU the weights stay dense: zeros are stored like any value, so size changes only when a later step packs
them; the record says so rather than promise it. On CUDA a plan that ends in 2:4 pruning is served by torch's
semi-structured sparse kernels, and its speed is measured there.
"""

from __future__ import annotations

import torch

from engine.methods.layers import quantizable_linears
from engine.registry import Param, StepOutcome, calib_param, resolved_params, step

CALIBRATION_ROWS = 16  # 16 x 128 tokens: Wanda's activation norms settle on a few thousand tokens


def _share(value) -> float | None:
    """The unstructured share a `sparsity` value asks for (None for 2:4 or a value out of range)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    return None


def _check(params: dict) -> str | None:
    if params["sparsity"] == "2:4" or _share(params["sparsity"]) is not None:
        return None
    return f"sparsity={params['sparsity']} is neither 2:4 nor a share between 0 and 1 (e.g. 0.5)"


def zero_share(model) -> float:
    """Zeroed share of the weights of the layers a pruning step touches."""
    layers = quantizable_linears(model).values()
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    return zeros / max(1, sum(layer.weight.numel() for layer in layers))


def _semi_structured(model) -> tuple[str, str]:
    """On CUDA, 2:4-pruned weights into torch's semi-structured sparse format (cuSPARSELt or CUTLASS kernels on
    sparse tensor cores): half the values plus 2-bit indices. Speed-ups are reported only at large shapes or
    batches (Mishra et al., "Accelerating Sparse Deep Neural Networks", 2021; PyTorch's own tutorial), so batch-1
    decode is measured, not assumed. A layer the format refuses stays dense, named."""
    from torch.sparse import to_sparse_semi_structured

    dense = []
    for name, layer in quantizable_linears(model).items():
        try:
            layer.weight = torch.nn.Parameter(to_sparse_semi_structured(layer.weight.detach()), requires_grad=False)
        except (RuntimeError, ValueError) as error:
            dense.append(f"{name} ({str(error).splitlines()[0][:80]})")
    kernel = "torch semi-structured 2:4 sparse matmul (sparse tensor cores) on cuda"
    note = "2:4 weights stored in torch's semi-structured sparse format"
    if dense:
        note += f"; {len(dense)} layers stayed dense: {', '.join(dense[:3])}"
    return kernel, note


@step("prune", "Zero weights by Wanda's |W|·‖X‖ score on calibration data (torchao): sparsity=2:4 or a share "
               "like 0.5; compose before quantization (prune+int4).",
      kind="prune", params={"sparsity": Param(str, "2:4", (), "2:4 (semi-structured) or a share 0..1 (unstructured)"),
                            "calib": calib_param()}, check=_check)
def prune(model, plan_step, ctx) -> StepOutcome:
    from torchao.sparsity import WandaSparsifier

    p = resolved_params(plan_step)
    semi = p["sparsity"] == "2:4"
    calibration = ctx.calibrate(p["calib"])
    sparsifier = WandaSparsifier(sparsity_level=0.5 if semi else _share(p["sparsity"]),
                                 semi_structured_block_size=4 if semi else None)
    sparsifier.prepare(model, [{"tensor_fqn": f"{name}.weight"} for name in quantizable_linears(model)])
    with torch.no_grad():
        for rows in calibration.rows[:CALIBRATION_ROWS].split(4):
            model(input_ids=rows.to(ctx.device))
    sparsifier.step()
    sparsifier.squash_mask()
    share = zero_share(model)
    pattern = "2:4 semi-structured" if semi else f"{_share(p['sparsity']):.0%} unstructured"
    notes = [f"Wanda pruning, {pattern}: {share:.1%} of the linear layers' weights are zero (lm_head kept)",
             f"activation norms from {calibration.describe()}"]
    kernel = f"torch dense matmul over pruned weights ({ctx.device})"
    if semi and ctx.device == "cuda" and ctx.steps_after == 0:  # the pruned model is the one served
        kernel, note = _semi_structured(model)
        notes.append(note)
    else:
        notes.append("stored dense, so size and speed change only through a later quantization or a sparse kernel")
    return StepOutcome(model, backend="torchao", kernel_path=kernel,
                       notes=notes, extras={"sparsity": {"pattern": pattern, "zero_share": share},
                                            "calibration": calibration.describe()})
