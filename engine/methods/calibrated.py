"""Calibrated low-bit weights, the methods most 4-bit checkpoints on a hub were made with.

- GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
  ICLR 2023): each layer's columns are rounded one at a time and the rounding error is pushed onto the columns
  not yet rounded, through the inverse Hessian of the layer's inputs on calibration data.
- AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization", MLSys 2024): per input channel scales, searched
  on calibration activations, protect the salient channels before round-to-nearest; folded into the layer
  before, so the model's function is unchanged until rounding.
- AutoRound (Cheng et al., "Optimize Weight Rounding via Signed Gradient Descent", 2023): the rounding of each
  weight (up or down) and the clipping range are learned block by block with signed gradient descent.

AWQ and AutoRound run through Intel's auto-round library. GPTQ is written here (Algorithm 1 of the paper, with
its lazy batch updates and per-group grids), because no maintained library can run it here: torchao 0.18's
prototype GPTQ asserts CUDA and needs the `mslk` kernels for 4 bits, GPTQModel needs torch >= 2.14.1 (our pin
is 2.13.0), auto-round 0.16.1 has no GPTQ algorithm and llm-compressor does not resolve with transformers 5.24.

Every method ends in the same place: per layer, per group of `group` input weights, an asymmetric grid
(scale, integer zero-point) and weights on it. On a CPU the grid is handed to optimum-quanto as is (the file
holds exactly what the method chose, in the runtime `int4` uses there); on CUDA torchao's tinygemm packs the
weights with its own min/max grid (the record says so). The seconds spent calibrating are the plan's upfront
cost, priced like distillation's training.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
from dataclasses import dataclass

import torch

from engine.methods.backend_quanto import quantize_quanto
from engine.methods.backend_torchao import quantize_torchao
from engine.methods.layers import group_misfits, misfit_note, quantizable_linears
from engine.registry import Bounds, Param, StepOutcome, calib_param, group_param, resolved_params, step

CALIBRATION_ROWS = 32  # up to 32 x 128 tokens (the generic texts hold 30 such rows); GPTQ's paper used 128 x 2,048
GPTQ_DAMP = 0.01  # the paper's dampening: 1% of the Hessian's mean diagonal
GPTQ_BLOCK = 128  # columns per lazy batch update (the paper's B)


@dataclass(frozen=True)
class Grid:
    """One layer's quantization: weights on an asymmetric grid of 2**bits levels per group of input weights,
    w = (q - zero) * scale with q = round(w / scale + zero) in [0, 2**bits - 1] (an integer zero is quanto's
    zero-point convention; a float one, llama.cpp's Q4_1 minimum)."""

    scale: torch.Tensor  # [out, in / group], the weights' dtype
    zero: torch.Tensor  # [out, in / group], uint8 (float for llama.cpp's block styles)
    group: int
    bits: int

    def codes(self, weight: torch.Tensor) -> torch.Tensor:
        scale, zero = (x.repeat_interleave(self.group, dim=1) for x in (self.scale, self.zero))
        return _codes(weight, scale, zero, self.bits)

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        scale, zero = (x.repeat_interleave(self.group, dim=1) for x in (self.scale, self.zero))
        return (codes - zero) * scale


def _codes(weight: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """The grid's formula, once: q = round(w / scale + zero), clamped to the 2**bits levels."""
    return torch.clamp(torch.round(weight / scale + zero), 0, 2**bits - 1)


def min_max_grid(weights: torch.Tensor, bits: int, style: str = "asym") -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero of each row of `weights` (one group), w = (q - zero) * scale:
    - asym: from its range with zero kept on the grid and an integer zero-point (auto-round's and quanto's);
    - q4_0: llama.cpp's Q4_0 block, d = the largest-magnitude weight / -8, zero 8;
    - q4_1: llama.cpp's Q4_1 block, d = (max - min) / 15, the minimum as a float offset.
    With the llama.cpp styles, llama.cpp's quantizer finds the same grid again in GPTQ's output wherever a block
    still holds its extreme weight, so it keeps GPTQ's rounding."""
    levels = 2**bits - 1
    if style == "q4_0":
        peak = weights.gather(1, weights.abs().argmax(dim=1, keepdim=True)).squeeze(1)
        scale = peak / -8
        scale = torch.where(scale == 0, torch.full_like(scale, 1e-8), scale)
        return scale, torch.full_like(scale, 8.0)
    if style == "q4_1":
        low, high = weights.amin(dim=1), weights.amax(dim=1)
        scale = ((high - low) / levels).clamp(min=1e-8)
        return scale, -low / scale
    low = weights.amin(dim=1).clamp(max=0)
    high = weights.amax(dim=1).clamp(min=0)
    scale = ((high - low) / levels).clamp(min=1e-8)
    return scale, torch.clamp(torch.round(-low / scale), 0, levels)


def gptq_layer(weight: torch.Tensor, hessian: torch.Tensor, bits: int, group: int,
               style: str = "asym") -> tuple[torch.Tensor, Grid]:
    """GPTQ on one linear layer (weight [out, in], hessian [in, in] = 2 X^T X / n): its quantized weights and grid.
    Each group's grid is set from the group's weights as updated when the group is reached (the paper's
    static grid per group, no act-order); `style` as in min_max_grid."""
    w = weight.detach().clone().float()
    h = hessian.clone().float()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h.diagonal().add_(GPTQ_DAMP * torch.mean(torch.diag(h)))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    columns = w.shape[1]
    block = group * math.ceil(GPTQ_BLOCK / group)  # a block holds whole groups
    scales = torch.zeros(w.shape[0], columns // group, device=w.device)
    zeros = torch.zeros_like(scales)
    quantized = torch.zeros_like(w)
    for start in range(0, columns, block):
        end = min(start + block, columns)
        w1, h1 = w[:, start:end].clone(), hinv[start:end, start:end]
        errors = torch.zeros_like(w1)
        for i in range(end - start):
            if i % group == 0:
                g = (start + i) // group
                scales[:, g], zeros[:, g] = min_max_grid(w1[:, i:i + group], bits, style)
            scale, zero = scales[:, g], zeros[:, g]
            q = (_codes(w1[:, i], scale, zero, bits) - zero) * scale
            quantized[:, start + i] = q
            err = (w1[:, i] - q) / h1[i, i]
            w1[:, i:] -= err.unsqueeze(1) * h1[i, i:].unsqueeze(0)
            errors[:, i] = err
        w[:, end:] -= errors @ hinv[start:end, end:]
    grid = Grid(scales.to(weight.dtype), zeros if style != "asym" else zeros.to(torch.uint8), group, bits)
    return quantized.to(weight.dtype), grid


class _Reached(Exception):
    """Raised in front of the first decoder block, once its inputs for a calibration batch are captured."""


def _first_block_inputs(model, block, rows: torch.Tensor, device: str) -> list[tuple[tuple, dict]]:
    """What the first decoder block receives for each calibration batch (hidden states, position embeddings,
    mask), captured by stopping the forward there: GPTQ then runs block by block, never the whole model again
    (as the paper's reference code and GPTQModel do)."""
    captured = []

    def catch(module, args, kwargs):
        captured.append((args, kwargs))
        raise _Reached

    handle = block.register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for batch in rows.split(8):
            with contextlib.suppress(_Reached):
                model(input_ids=batch.to(device), use_cache=False)
    finally:
        handle.remove()
    return captured


def _run_block(block, inputs: list[tuple[tuple, dict]]) -> list[tuple[tuple, dict]]:
    """The block on each captured input; what the next block receives."""
    out = []
    for args, kwargs in inputs:
        result = block(*args, **kwargs)
        hidden = result[0] if isinstance(result, tuple) else result
        out.append(((hidden, *args[1:]), kwargs) if args else ((), {**kwargs, "hidden_states": hidden}))
    return out


def _block_hessians(block, layers: dict, names: list[str], inputs) -> dict[str, torch.Tensor]:
    """2 X^T X / n of each named layer's inputs, over every calibration token reaching the block."""
    sums = {name: torch.zeros(layers[name].in_features, layers[name].in_features, device=layers[name].weight.device)
            for name in names}
    counts = dict.fromkeys(names, 0)

    def hook(name):
        def record(module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            sums[name].addmm_(x.t(), x, alpha=2.0)
            counts[name] += x.shape[0]
        return record

    handles = [layers[name].register_forward_pre_hook(hook(name)) for name in names]
    try:
        _run_block(block, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: sums[name] / max(1, counts[name]) for name in names}


def gptq_model(model, rows: torch.Tensor, bits: int, group: int, device: str, progress=None,
               style: str = "asym") -> dict[str, Grid]:
    """GPTQ block by block in the order the model runs them: each decoder block's inputs come out of the blocks
    before it already quantized (the paper's sequential quantization), so later layers correct for earlier
    rounding. Weights are replaced in place by their quantized values; returns the grids."""
    layers = quantizable_linears(model)
    modules = dict(model.named_modules())
    skip = set(group_misfits(model, group))
    blocks: dict[str, list[str]] = {}
    for name in layers:
        if name not in skip:
            blocks.setdefault(name.rsplit(".", 2)[0], []).append(name)  # model.layers.3.self_attn.q_proj -> block
    grids = {}
    with torch.no_grad():
        inputs = _first_block_inputs(model, modules[next(iter(blocks))], rows, device)
        for index, (block_name, names) in enumerate(blocks.items()):
            block = modules[block_name]
            hessians = _block_hessians(block, layers, names, inputs)
            for name in names:
                quantized, grids[name] = gptq_layer(layers[name].weight, hessians[name], bits, group, style)
                layers[name].weight.copy_(quantized)
            inputs = _run_block(block, inputs)  # through the quantized block
            if progress:
                progress(index + 1, len(blocks))
    return grids


def _auto_round(model, tokenizer, rows: torch.Tensor, bits: int, group: int, algorithm: str, iters: int,
                device: str) -> tuple[object, dict[str, Grid]]:
    """AWQ or AutoRound through auto-round: the model it returns holds weights on each layer's grid (its
    `scale` and `zp`); those are read back as Grids."""
    os.environ.setdefault("AR_LOG_LEVEL", "ERROR")  # its per-layer INFO lines and warnings; the notes say what ran
    from auto_round import AutoRound

    dtype = next(model.parameters()).dtype  # auto-round works in bf16; the plan keeps the run's dtype
    loader = torch.utils.data.DataLoader([{"input_ids": r} for r in rows], batch_size=8)
    kwargs = {} if algorithm == "awq" else {"iters": iters}
    with contextlib.redirect_stdout(io.StringIO()):  # its progress bars; the run reports its own
        compressor = AutoRound(model, tokenizer, scheme={"bits": bits, "group_size": group, "sym": False,
                                                         "data_type": "int"},
                               alg_configs=algorithm, dataset=loader, nsamples=len(rows), seqlen=rows.shape[1],
                               batch_size=8, device_map="cpu" if device == "cpu" else 0, seed=0,
                               enable_torch_compile=False, **kwargs)
        compressor.quantize()
    model = compressor.model.to(dtype)  # bf16 grid values are exact in fp32
    grids = {}
    for name, layer in quantizable_linears(model).items():
        if getattr(layer, "scale", None) is not None and getattr(layer, "zp", None) is not None:
            grids[name] = Grid(layer.scale.detach().to(dtype).reshape(layer.out_features, -1),
                               layer.zp.detach().round().to(torch.uint8).reshape(layer.out_features, -1), group, bits)
    return model, grids


class _FixedGrid:
    """A quanto optimizer that returns the grid a calibrated method chose, in quanto's grouped layout
    ([out * in / group, 1], row-major), instead of searching one."""

    def __init__(self, grid: Grid):
        self.grid = grid

    def __call__(self, base, qtype, axis, group_size=None, zeropoint=False):
        if group_size != self.grid.group or qtype.bits != self.grid.bits:
            raise RuntimeError(f"quanto asked for {qtype.bits} bits in groups of {group_size}; the grid is "
                               f"{self.grid.bits} bits in groups of {self.grid.group}")
        return self.grid.scale.reshape(-1, 1).to(base.dtype), self.grid.zero.reshape(-1, 1)


def _store(model, grids: dict[str, Grid], bits: int, group: int, device: str) -> StepOutcome:
    """The grid-bound weights into the runtime that serves them (see the module's docstring)."""
    if device == "cuda":
        if bits != 4:
            raise RuntimeError("on CUDA the calibrated methods store through torchao's 4-bit tinygemm; use bits=4")
        outcome = quantize_torchao(model, 4, group, device)
        outcome.notes.append("tinygemm re-derives each group's grid from the calibrated weights' own range "
                             "(a float zero-point), so a group whose values miss the grid's ends is re-rounded")
        return outcome
    names = list(grids)
    outcome = quantize_quanto(model, bits, group, device, include=names, freeze=False)
    layers = dict(model.named_modules())
    for name, grid in grids.items():
        layers[name].optimizer = _FixedGrid(grid)
        layers[name].freeze()
    outcome.kernel_path = outcome.kernel_path.replace("grouped", "grouped, calibrated grid")
    return outcome


def _params(iters: bool = False, grid: bool = False) -> dict:
    params = {"bits": Param(int, 4, (4, 2), "weight bits"), "group": group_param(64), "calib": calib_param()}
    if grid:
        params["grid"] = Param(str, "asym", ("asym", "q4_0", "q4_1"),
                               "asym (quanto, tinygemm) or llama.cpp's block (with group=32, before gguf:type=...)")
    if iters:
        params["iters"] = Param(int, 200, (), "signed-gradient steps per block (0: round-to-nearest)",
                                Bounds(0, 10_000))
    return params


def _check_grid(params: dict) -> str | None:
    if params["grid"] != "asym" and (params["bits"], params["group"]) != (4, 32):
        return f"grid={params['grid']} is llama.cpp's 4-bit block of 32 weights: use bits=4,group=32"
    return None


def _exported(model, grids: dict[str, Grid], style: str, group: int) -> StepOutcome:
    """GPTQ's weights left in float on their grid for the runtime step that follows (gguf)."""
    if style == "asym":
        note = ("llama.cpp re-derives its own block grid from these weights, so some of GPTQ's rounding is redone; "
                "gptq:group=32,grid=q4_0 (or q4_1) with the same gguf type keeps it")
    else:
        layers, held, blocks = quantizable_linears(model), 0, 0
        for name, grid in grids.items():
            codes = grid.codes(layers[name].weight).reshape(-1, group)  # one block per row
            kept = (codes == 0).any(-1)  # Q4_0: the largest-magnitude weight sits at code 0; Q4_1: the minimum
            if style == "q4_1":
                kept &= (codes == 15).any(-1)  # ... and the maximum at 15
            held, blocks = held + int(kept.sum()), blocks + len(codes)
        note = (f"weights left on llama.cpp's {style.upper()} block grid; {held / max(1, blocks):.1%} of the blocks "
                "still hold the weights that set their grid, where llama.cpp's quantizer keeps GPTQ's codes exactly")
    return StepOutcome(model, backend="gptq", kernel_path="(float weights on the grid, for the next step)",
                       notes=[note])


def _calibrated(model, plan_step, ctx, method: str) -> StepOutcome:
    p = resolved_params(plan_step)
    bits, group = p["bits"], p["group"]
    style = p.get("grid", "asym")
    calibration = ctx.calibrate(p["calib"])
    rows = calibration.rows[:CALIBRATION_ROWS]
    began = time.perf_counter()
    if method == "gptq":
        report = (lambda done, total: ctx.progress("calibrating", done, total, {"method": "gptq"})) if ctx.progress \
            else None
        grids = gptq_model(model, rows, bits, group, ctx.device, report, style)
        library = "GPTQ (written here: no library runs it on this stack)"
    else:
        if ctx.tokenizer is None:
            raise RuntimeError(f"{method} runs through auto-round, which needs the model's tokenizer; a shape-only "
                               "model has none: measure gptq there, or use a real model")
        model, grids = _auto_round(model, ctx.tokenizer, rows, bits, group,
                                   "awq" if method == "awq" else "signround", p.get("iters", 0), ctx.device)
        how = "AWQ + round-to-nearest" if method == "awq" else f"SignRound, {p.get('iters')} steps"
        library = f"auto-round ({how})"
    seconds = time.perf_counter() - began
    if ctx.steps_after:  # a runtime step follows (gptq+gguf): it stores the weights its own way
        outcome = _exported(model, grids, style, group)
    else:
        if style != "asym":
            raise RuntimeError(f"grid={style} is llama.cpp's block: follow it with gguf:type={style}")
        outcome = _store(model, grids, bits, group, ctx.device)
    misfits = group_misfits(model, group)
    outcome.notes += [f"{library}: {len(grids)} layers on a {bits}-bit grid, groups of {group}, calibrated on "
                      f"{len(rows)} rows of {calibration.describe()['source']} in {seconds:.1f} s"]
    # torchao's path (CUDA) already names the layers it left in float, in the same words
    outcome.notes += [n for n in misfit_note(misfits, group, "they were left in float") if n not in outcome.notes]
    outcome.extras.update({"calibration": calibration.describe(),
                           "upfront": {"seconds": seconds, "what": f"{method} calibration"}})
    return outcome


@step("gptq", "GPTQ: round column by column, pushing each error onto the columns left (Hessian of calibration "
              "inputs); bits 4 or 2; grid=q4_0 +gguf:type=q4_0 for llama.cpp.", params=_params(grid=True),
      check=_check_grid, exports=True)
def gptq(model, plan_step, ctx) -> StepOutcome:
    return _calibrated(model, plan_step, ctx, "gptq")


@step("awq", "AWQ: activation-aware per-channel scales before rounding (auto-round); bits 4 or 2.", params=_params())
def awq(model, plan_step, ctx) -> StepOutcome:
    return _calibrated(model, plan_step, ctx, "awq")


@step("autoround", "AutoRound: learned rounding and clipping per block, signed gradient descent (auto-round).",
      params=_params(iters=True))
def autoround(model, plan_step, ctx) -> StepOutcome:
    return _calibrated(model, plan_step, ctx, "autoround")
