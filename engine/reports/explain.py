"""Plain-language explanations of surprising results, shared by the dashboard and reports.

Quantized plans are often slower than their float baseline on a CPU: the kernels dequantize
weights on the fly, so fewer bytes do not mean less time. The product says so, with the
measured facts (backend, kernel path, decode path, roofline efficiency, device), rather
than hiding it.
"""

from __future__ import annotations

from engine.records import ok_plans


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def slower_than_baseline(record: dict) -> list[tuple[str, str]]:
    """(plan, explanation) for every finished plan whose time per output token exceeds the baseline's."""
    plans = ok_plans(record)
    if not plans or plans[0] is not record["plans"][0]:
        return []
    base = plans[0]
    base_tpot = base["latency"]["tpot_ms"]
    device = record["device"]
    out = []
    for plan in plans[1:]:
        lat = plan["latency"]
        if lat["tpot_ms"] <= base_tpot:
            continue
        slower = lat["tpot_ms"] / base_tpot
        floor = lat.get("roofline_tpot_ms")
        lines = [
            f"{plan['plan']} decodes at {lat['tpot_ms']:,.1f} ms per token, {slower:.1f}× the baseline "
            f"{base['plan']}'s {base_tpot:,.1f} ms, although its weights are "
            f"{plan['size']['compression_ratio']:.1f}× smaller.",
            f"It ran on {device['name']} ({device['type']}) through {plan.get('backend') or 'an unknown backend'}, "
            f"kernel path: {lat.get('kernel_path') or plan.get('kernel_path') or 'unknown'}; decode path: "
            f"{lat.get('decode_path') or 'unknown'}.",
        ]
        if floor:
            lines.append(
                f"Roofline efficiency {_pct(lat.get('roofline_efficiency'))} (baseline "
                f"{_pct(base['latency'].get('roofline_efficiency'))}): moving its weights once would take "
                f"{floor:,.2f} ms per token, so the rest of the time goes into computing, not into reading memory.")
        if device["type"] == "cpu":
            lines.append(
                "On a CPU these libraries unpack and rescale the low-bit weights on every matrix multiply; the extra "
                "arithmetic costs more than the memory it saves. Fused low-bit kernels on a GPU usually turn the "
                "smaller weights into faster decoding; measure there before deciding on speed.")
        else:
            lines.append(_gpu_reason(plan, base))
        lines.append("Size and memory savings still hold; the cost per 1,000 queries already includes the slowdown.")
        out.append((plan["plan"], " ".join(lines)))
    return out


def _plain_tpot(plan: dict) -> float | None:
    rows = [r for r in plan["latency"].get("by_batch") or [] if r.get("path") == "plain" and r["batch_size"] == 1]
    return rows[0]["tpot_ms"] if rows else None


def _gpu_reason(plan: dict, base: dict) -> str:
    """Why a smaller plan decodes slower on a GPU, from what was measured on each path."""
    lat = plan["latency"]
    path = lat.get("decode_path") or ""
    if "capture failed" in path:
        return ("Its decode step could not be captured as a CUDA graph (" + path.split("capture failed: ", 1)[-1]
                + "), so every operator pays a kernel launch and Python time per token, while the baseline's graph "
                "replays without them; a kernel that does not synchronise with the host would close the gap.")
    plain, base_plain = _plain_tpot(plan), _plain_tpot(base)
    if plain and base_plain and plain <= base_plain:
        return ("Through the plain decode loop it is faster than the baseline; on the serving path, where launch "
                "overhead is gone, its dequantizing kernel does more work per byte than the baseline's matrix "
                "multiply, so the saved memory traffic does not pay for the extra arithmetic at this batch size.")
    return ("Its kernel path unpacks low-bit weights with more arithmetic than the bytes it saves, or the model is "
            "small enough that decoding is bound by launches rather than memory; the speed-detail table shows both "
            "decode paths and the batch sizes where the plan catches up.")
