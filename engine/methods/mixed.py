"""Mixed precision driven by measured layer sensitivity: the most sensitive decoder blocks
stay at 8 bits, the rest go to `bits`, chosen by count (`keep=`) or to meet a budget in
bits per linear weight (`budget_bpw=`, counting packed values, scales and shifts). The low-bit
blocks are HQQ-rounded by default (engine/methods/hqq.py): measured on the embedded model, that is
what lets the mix beat uniform int4 at a smaller size (bench/RESULTS.md)."""

from __future__ import annotations

from engine.methods.backend_quanto import quantize_quanto
from engine.methods.sensitivity import block_sensitivity, choose_kept_blocks
from engine.registry import Param, StepOutcome, calib_param, group_param, resolved_params, step


@step("mixed", "Keep the most KL-sensitive blocks at int8, the rest at int4/int2 (quanto); keep=N or budget_bpw=X.",
      params={
          "bits": Param(int, 4, (4, 2), "bits of the other blocks"),
          "group": group_param(64),
          "keep": Param(int, None, (), "blocks kept at 8 bits"),
          "budget_bpw": Param(float, None, (), "bits per linear weight to stay within"),
          "method": Param(str, "hqq", ("hqq", "plain"), "rounding of the low-bit blocks (HQQ: lower error)"),
          "calib": calib_param(),
      })
def mixed(model, plan_step, ctx) -> StepOutcome:
    from optimum.quanto.tensor.optimizers import HqqOptimizer

    p = resolved_params(plan_step)
    if (p["keep"] is None) == (p["budget_bpw"] is None):
        raise ValueError("mixed needs exactly one of keep=N or budget_bpw=X")
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
