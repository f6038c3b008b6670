"""The decode roofline: at batch 1 every weight is read once per token, so the fastest
possible tpot is weight_bytes / memory bandwidth. Bandwidth is measured at the start of every run
(a large device-to-device copy, under a second) and recorded with the load it was taken under: one
sample cached per store ranged 10.2-36.0 GB/s across fresh stores on one busy machine, and every later
roofline inherited the first one. A spec table is the fallback where the copy cannot run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import torch

from engine.measure.load import MachineLoad
from engine.measure.timing import Timer, median

# Spec sheet memory bandwidth (bytes/s) for GPUs we may meet, used when no measurement exists.
SPEC_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "A10G": 6.0e11, "L4": 3.0e11, "T4": 3.2e11}


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    import platform

    return f"{platform.processor() or platform.machine()} CPU ({torch.get_num_threads()} threads)"


def measure_bandwidth(device: str, size_bytes: int | None = None, repeats: int = 5) -> float:
    """Copy bandwidth in bytes/s (read + write counted), median over repeats."""
    size_bytes = size_bytes or (2 << 30 if device == "cuda" else 256 << 20)
    src = torch.empty(size_bytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    timer = Timer(device)
    dst.copy_(src)
    times = [timer.time_ms(lambda: dst.copy_(src)) for _ in range(repeats)]
    return 2 * size_bytes / (median(times) / 1000.0)


def bandwidth(device: str) -> dict:
    """{'bytes_per_s', 'source', 'measured_at', load fields} for this device, measured now, for this run."""
    name = device_name(device)
    try:
        with MachineLoad() as load:
            entry = {"bytes_per_s": measure_bandwidth(device), "source": f"measured: device copy on {name}"}
        return {**entry, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), **load.fields()}
    except RuntimeError:
        spec = next((bw for key, bw in SPEC_BANDWIDTH.items() if key in name), None)
        if spec is None:
            raise
        return {"bytes_per_s": spec, "source": f"spec sheet for {name}"}


def measure_matmul_rate(device: str, dtype=None, size: int | None = None, repeats: int = 5) -> float:
    """Dense matmul FLOP/s in the serving dtype (bf16 on a GPU, fp32 on a CPU), median over repeats."""
    dtype = dtype or (torch.bfloat16 if device == "cuda" else torch.float32)
    size = size or (8192 if device == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    timer = Timer(device)
    a @ b
    times = [timer.time_ms(lambda: a @ b) for _ in range(repeats)]
    return 2 * size**3 / (median(times) / 1000.0)


def matmul_rate(device: str) -> dict:
    """{'flops_per_s', 'source', 'measured_at', load fields}: the prefill roofline's compute ceiling, measured
    now (prefill multiplies every weight by every prompt token: it is bound by compute, not bandwidth)."""
    with MachineLoad() as load:
        dtype = "bf16" if device == "cuda" else "fp32"
        entry = {"flops_per_s": measure_matmul_rate(device),
                 "source": f"measured: dense {dtype} matmul on {device_name(device)}"}
    return {**entry, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), **load.fields()}


def linear_macs(model) -> int | None:
    """Multiply-accumulates per token of the model's linear layers (lm_head included), whatever their packing;
    None for a model without torch modules (a GGUF file run by llama.cpp)."""
    if not isinstance(model, torch.nn.Module):
        return None
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)) or None


def prefill_flops(macs: int, config, prompt_tokens: int, batch_size: int) -> float:
    """FLOPs of one prefill: 2 per multiply-accumulate of every linear layer for every prompt token, plus causal
    attention's scores and weighted values (2 * 2 * T^2 / 2 * d per layer)."""
    hidden = config.num_attention_heads * (getattr(config, "head_dim", None)
                                           or config.hidden_size // config.num_attention_heads)
    attention = 2 * config.num_hidden_layers * prompt_tokens**2 * hidden
    return batch_size * (2.0 * macs * prompt_tokens + attention)


def roofline_tpot_ms(weight_bytes: int, bytes_per_s: float) -> float:
    return weight_bytes / bytes_per_s * 1000.0


def roofline_efficiency(weight_bytes: int, bytes_per_s: float, tpot_ms: float) -> float:
    """Share of the physical limit reached: floor tpot / measured tpot (1.0 = at the roofline)."""
    return roofline_tpot_ms(weight_bytes, bytes_per_s) / tpot_ms
