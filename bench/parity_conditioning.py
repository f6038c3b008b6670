"""How far a plan's perplexity moves when only floating-point summation order changes (issue 8).

The CPU/GPU parity check compares perplexities measured by different matmul kernels. This
script shows, on the CPU alone, how sensitive each plan's perplexity is to that: it opens the
quantized weights into a plain fp32 model (same numbers, torch's own matmul instead of the
library's kernel) and runs that model in fp64 (arithmetic alone); and it moves every weight by
one ulp before quantizing (rounding of the inputs to quantization alone, which differs between
devices). bench/RESULTS.md has what it found.
Run: python bench/parity_conditioning.py [--plan int2 --plan int4:backend=quanto]
"""

from __future__ import annotations

import argparse
import math

import torch

from engine.evaluation.texts import load_eval_texts, make_windows
from engine.models import load_model
from engine.plan import parse
from engine.registry import apply_steps
from engine.settings import StepContext


@torch.no_grad()
def mean_log_loss(model, ids: torch.Tensor) -> float:
    """Mean next-token log-loss, the softmax taken in fp64 so only the model's own arithmetic differs."""
    total, count = 0.0, 0
    for start in range(0, ids.shape[0], 4):
        batch = ids[start : start + 4]
        logp = torch.log_softmax(model(input_ids=batch).logits[:, :-1].double(), dim=-1)
        total -= logp.gather(-1, batch[:, 1:].unsqueeze(-1)).sum().item()
        count += batch[:, 1:].numel()
    return total / count


@torch.no_grad()
def opened_copy(loaded, quantized) -> torch.nn.Module:
    """A plain model holding the quantized model's dequantized weights (quanto's own dequantize)."""
    plain = loaded.fresh_copy("cpu")
    linears = dict(plain.named_modules())
    for name, module in quantized.named_modules():
        if hasattr(module, "qweight"):
            linears[name].weight.copy_(module.qweight.dequantize().float())
    return plain


@torch.no_grad()
def nudged_copy(loaded, seed: int = 0) -> torch.nn.Module:
    """The baseline with every linear weight moved by one ulp, up or down at random: the size of the
    difference two devices' rounding (e.g. x / s against x * (1 / s)) can make before quantizing."""
    model = loaded.fresh_copy("cpu")
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight
            direction = torch.where(torch.rand(w.shape, generator=generator) < 0.5, -torch.inf, torch.inf)
            w.copy_(torch.nextafter(w, direction))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", action="append", default=None)
    parser.add_argument("--eval-tokens", type=int, default=2048)
    args = parser.parse_args()
    loaded = load_model("smollm2-135m")
    ids = make_windows(loaded.tokenizer, load_eval_texts(), max_tokens=args.eval_tokens).input_ids
    ctx = StepContext("cpu", loaded.tokenizer)
    print("| plan | library kernel fp32 | opened, torch fp32 | opened, fp64 | ppl fp32→fp64 | weights ±1 ulp "
          "| ppl change |")
    print("|---|---|---|---|---|---|---|")
    for text in args.plan or ["fp32", "int4:backend=quanto", "int2"]:
        quantized, _ = apply_steps(loaded.fresh_copy("cpu"), parse(text), ctx)
        kernel = mean_log_loss(quantized.model, ids)
        plain = opened_copy(loaded, quantized.model)
        single = mean_log_loss(plain, ids)
        double = mean_log_loss(plain.double(), ids)
        nudged, _ = apply_steps(nudged_copy(loaded), parse(text), ctx)
        moved = mean_log_loss(nudged.model, ids)
        print(f"| {text} | {math.exp(kernel):,.4f} | {math.exp(single):,.4f} | {math.exp(double):,.4f} | "
              f"{100 * math.expm1(double - single):+.4f}% | {math.exp(moved):,.4f} | "
              f"{100 * math.expm1(moved - kernel):+.3f}% |", flush=True)


if __name__ == "__main__":
    main()
