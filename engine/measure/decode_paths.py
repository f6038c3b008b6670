"""Which decode paths a run measures, and the throughput curve they produce.

Paths, each labelled in the record: `plain` (the transformers loop a naive `generate()`
runs), `serving` (static KV cache + CUDA graph, engine/measure/serving.py) and, on request,
`compiled` (the same with the step fused and tuned by torch.compile; 0.5-3 minutes of
compilation per plan and batch size on an 8B model, so not a default).
On a GPU both are measured and the serving path sets the headline and the cost, because
that is how a deployment decodes; on a CPU only the plain path runs unless asked.
"""

from __future__ import annotations

import torch

from engine.measure.latency import DECODE_PATH, measure_latency
from engine.measure.memory import release_memory
from engine.measure.roofline import roofline_efficiency, roofline_tpot_ms
from engine.measure.serving import measure_serving_latency
from engine.records import LatencyResult
from engine.settings import DECODE_PATHS as CHOICES


def resolve_paths(choice: str, device: str) -> tuple[str, ...]:
    """The paths to measure, headline last."""
    if choice not in CHOICES:
        raise ValueError(f"unknown decode path '{choice}'; choose one of {', '.join(CHOICES)}")
    if choice == "auto":
        return ("plain", "serving") if device == "cuda" else ("plain",)
    return {"both": ("plain", "serving"), "all": ("plain", "serving", "compiled")}.get(choice, (choice,))


def measure_paths(model, prompt_ids, batch_sizes, decode_steps: int, repeats: int, device: str,
                  paths: tuple[str, ...], progress=lambda message: None, skipped: list | None = None,
                  energy_s: float = 0.0) -> list[dict]:
    """One row per (path, batch size): timings and the exact label of the path that ran. A batch
    size that runs out of memory is left out (and named in `skipped`), as memory allows; the
    first batch size, which sets the headline, must fit."""
    rows = []
    for path in paths:
        for batch in batch_sizes:
            progress(f"measuring latency: {path} path, batch {batch}")
            try:
                if path == "plain":
                    figures = measure_latency(model, prompt_ids, batch, decode_steps, repeats, device, energy_s)
                    label = DECODE_PATH
                else:
                    figures, label = measure_serving_latency(model, prompt_ids, batch, decode_steps, repeats,
                                                             device, path == "compiled", energy_s)
            except torch.OutOfMemoryError:
                if batch == batch_sizes[0] or skipped is None:
                    raise
                release_memory(device)
                skipped.append(f"{path} path, batch {batch}: out of memory on the {device}, left out")
                continue
            rows.append({"path": path, "decode_path": label, **figures.row()})
    return rows


def best_batch(rows: list[dict], max_tpot_ms: float) -> dict | None:
    """The cheapest batch size whose time per output token a user still accepts."""
    acceptable = [r for r in rows if r["tpot_ms"] <= max_tpot_ms]
    if not acceptable:
        return None
    best = min(acceptable, key=lambda r: r["usd_per_1k_queries"])
    return {"batch_size": best["batch_size"], "path": best["path"], "tpot_ms": best["tpot_ms"],
            "tokens_per_s": best["tokens_per_s"], "usd_per_1k_queries": best["usd_per_1k_queries"],
            "max_tpot_ms": max_tpot_ms}


def latency_result(rows: list[dict], held_bytes: int, kernel_path: str, bandwidth: dict,
                   max_tpot_ms: float, prefill_ms_floor=None) -> LatencyResult:
    """The record's latency section from the measured (and priced) rows. Headline figures: the last
    path measured (serving when it ran) at the first batch size; roofline for every batch-1 row;
    the cheapest acceptable batch."""
    bw = bandwidth["bytes_per_s"]
    rows = [{**r, "roofline_efficiency": roofline_efficiency(held_bytes, bw, r["tpot_ms"]) if r["batch_size"] == 1
             else None} for r in rows]
    if prefill_ms_floor is not None:  # (batch size) -> the fastest possible prefill, from the compute ceiling
        rows = [{**r, "ttft_roofline_ms": prefill_ms_floor(r["batch_size"]),
                 "ttft_roofline_efficiency": prefill_ms_floor(r["batch_size"]) / r["ttft_ms"]} for r in rows]
    headline_path = rows[-1]["path"]
    headline_rows = [r for r in rows if r["path"] == headline_path]
    first = headline_rows[0]
    return LatencyResult(
        ttft_ms=first["ttft_ms"], tpot_ms=first["tpot_ms"], tokens_per_s=first["tokens_per_s"],
        batch_size=first["batch_size"], roofline_efficiency=first["roofline_efficiency"],
        roofline_tpot_ms=roofline_tpot_ms(held_bytes, bw), decode_path=first["decode_path"], kernel_path=kernel_path,
        bandwidth_source=bandwidth["source"], by_batch=tuple(rows),
        best_batch=best_batch(headline_rows, max_tpot_ms) if "usd_per_1k_queries" in first else None,
        tpot_ms_p10=first.get("tpot_ms_p10"), tpot_ms_p90=first.get("tpot_ms_p90"),
        busy=any(r.get("busy") for r in rows),
        **{key: first.get(key) for key in ("j_per_token", "watts_mean", "watts_peak", "power_samples",
                                           "energy_source", "ttft_roofline_ms", "ttft_roofline_efficiency")},
    )
