"""bitsandbytes int8 (LLM.int8) and 4-bit (nf4/fp4) linear layers.

Dettmers et al., "LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale" (2022);
"QLoRA: Efficient Finetuning of Quantized LLMs" (2023) for NF4.
"""

from __future__ import annotations

from engine.methods.layers import quantizable_linears
from engine.registry import StepOutcome


def _replace(model, name: str, new_module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new_module)


def quantize_bnb(model, bits: int, quant_type: str, device: str) -> StepOutcome:
    import bitsandbytes as bnb

    for name, linear in quantizable_linears(model).items():
        weight = linear.weight.data
        has_bias = linear.bias is not None
        if bits == 8:
            new = bnb.nn.Linear8bitLt(
                linear.in_features, linear.out_features, bias=has_bias, has_fp16_weights=False
            )
            # Int8Params quantizes when moved off the CPU (or on the CPU in place), so it starts there.
            new.weight = bnb.nn.Int8Params(weight.to("cpu"), requires_grad=False, has_fp16_weights=False)
        else:
            new = bnb.nn.Linear4bit(
                linear.in_features, linear.out_features, bias=has_bias,
                quant_type=quant_type, compute_dtype=weight.dtype,
            )
            new.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type=quant_type)
        if has_bias:
            new.bias = linear.bias
        _replace(model, name, new.to(device))  # moving the module is what quantizes it
    model.eval()  # bitsandbytes' fast CPU path needs eval mode
    # bnb's matmul_4bit runs its fused 4-bit GEMV when one row multiplies (batch-1 decode on CUDA) and
    # dequantizes the weight then multiplies otherwise
    kernel = "bitsandbytes LLM.int8 matmul" if bits == 8 else (
        f"bitsandbytes {quant_type}: fused 4-bit GEMV at batch 1 on CUDA, else dequantize + matmul")
    return StepOutcome(model, backend="bitsandbytes", kernel_path=f"{kernel} on {device}")
