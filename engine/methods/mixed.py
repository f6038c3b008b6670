"""Mixed precision driven by measured layer sensitivity: the most sensitive decoder blocks
stay at 8 bits, the rest go to `bits`, chosen by count (`keep=`) or to meet a budget in
bits per linear weight (`budget_bpw=`, counting packed values, scales and shifts). The low-bit
blocks are HQQ-rounded by default (engine/methods/hqq.py): measured on the embedded model, that is
what lets the mix beat uniform int4 at a smaller size (bench/RESULTS.md)."""

from __future__ import annotations

from engine.methods.backend_quanto import quantize_quanto
from engine.methods.sensitivity import block_sensitivity, choose_kept_blocks, linear_bits
from engine.registry import AT_LEAST_0, Bounds, Param, StepOutcome, calib_param, group_param, resolved_params, step


def budget_floor(bits: int, group: int) -> float:
    """Bits per linear weight with every block at `bits` (packed values plus a scale and shift per group):
    the smallest budget a mix can meet, for layers whose width the group divides."""
    return linear_bits(1, group, bits, group) / group


def _check(p: dict) -> str | None:
    if (p["keep"] is None) == (p["budget_bpw"] is None):
        return "give exactly one of keep=N (blocks kept at int8) or budget_bpw=X (bits per weight)"
    floor = budget_floor(p["bits"], p["group"])
    if p["budget_bpw"] is not None and p["budget_bpw"] < floor:
        return (f"budget_bpw={p['budget_bpw']:g} is below {floor:g}, the size of every block at int{p['bits']} "
                f"with groups of {p['group']}; raise it, or lower bits")
    return None


@step("mixed", "Keep the most KL-sensitive blocks at int8, the rest at int4/int2 (quanto); keep=N or budget_bpw=X.",
      params={
          "bits": Param(int, 4, (4, 2), "bits of the other blocks"),
          "group": group_param(64),
          "keep": Param(int, None, (), "blocks kept at 8 bits", AT_LEAST_0),
          "budget_bpw": Param(float, None, (), "bits per linear weight to stay within", Bounds(2, 32)),
          "method": Param(str, "hqq", ("hqq", "plain"), "rounding of the low-bit blocks (HQQ: lower error)"),
          "calib": calib_param(),
      }, check=_check)
def mixed(model, plan_step, ctx) -> StepOutcome:
    from optimum.quanto.tensor.optimizers import HqqOptimizer

    p = resolved_params(plan_step)
    calibration = ctx.calibrate(p["calib"])
    rows = calibration.rows[:8]
    key = f"v2-{ctx.model_name}-{p['bits']}b-g{p['group']}-{calibration.describe()['sha256']}-{len(rows)}"
    ranking = block_sensitivity(model, rows, ctx.device, p["bits"], p["group"], key.replace("/", "_"))
    layers = model.model.layers
    kept = choose_kept_blocks(ranking, p["bits"], p["group"], p["keep"], p["budget_bpw"])
    rest = [i for i in range(len(layers)) if i not in kept]
    optimizer = HqqOptimizer() if p["method"] == "hqq" else None
    for blocks, bits, rounding in ((kept, 8, None), (rest, p["bits"], optimizer)):
        if blocks:
            quantize_quanto(model, bits, p["group"], ctx.device, rounding, [f"model.layers.{i}.*" for i in blocks])
    notes = [f"blocks kept at int8 (most sensitive first by KL): {kept or 'none'}",
             f"sensitivity measured on {calibration.describe()}"]
    return StepOutcome(model, backend="optimum-quanto",
                       kernel_path=f"quanto int8 + int{p['bits']} grouped{' (HQQ-optimised)' if optimizer else ''} mix "
                                   f"on {ctx.device}", notes=notes,
                       extras={"sensitivity": ranking, "kept_blocks": kept, "calibration": calibration.describe()})
