"""Plain-text comparison table of a run record (the CLI's summary)."""

from __future__ import annotations


def _fmt_bytes(n) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000.0
    return str(n)


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def plan_row(plan: dict) -> dict:
    """One plan's headline figures as display strings (shared by the CLI and exports)."""
    if plan.get("status") != "ok":
        return {"plan": plan["plan"], "status": plan.get("status"), "note": plan.get("error") or ""}
    size, lat, cost, acc = plan["size"], plan["latency"], plan["cost"], plan["accuracy"]
    if not acc.get("applicable", True):
        ppl = "n/a"
    elif acc.get("diverged"):
        ppl = "diverged" if acc["perplexity"] is None else f"{acc['perplexity']:.3g} (diverged)"
    else:
        ppl = _num(acc["perplexity"], ".2f")
    return {
        "plan": plan["plan"], "status": "ok", "backend": plan.get("backend") or "",
        "weights": _fmt_bytes(size["weight_bytes"]), "ratio": f"{size['compression_ratio']:.2f}x",
        "bpw": f"{size['bits_per_weight']:.2f}", "ttft_ms": f"{lat['ttft_ms']:.1f}",
        "tpot_ms": f"{lat['tpot_ms']:.1f}", "roofline": _num(lat.get("roofline_efficiency"), ".1%"),
        "usd_1k": f"{cost['usd_per_1k_queries']:.4f}", "ppl": ppl,
        "ppl_delta": "diverged" if acc.get("diverged") else (
            _num(acc.get("ppl_delta_pct"), "+.2f") + ("%" if acc.get("ppl_delta_pct") is not None else "")),
        "kl": _num(acc.get("kl_divergence"), ".4f"), "top1": _num(acc.get("top1_agreement"), ".1%"),
        "gen_agree": _num(acc.get("generation_agreement"), ".1%"),
        "task_acc": _num(acc.get("task_accuracy"), ".1%"),
        "acc_delta": _num(acc.get("accuracy_delta_pts"), "+.1f") + (" pts" if acc.get("accuracy_delta_pts") is not None
                                                                     else ""),
        "verdict": _verdict(plan.get("verdict")),
    }


def _verdict(verdict: dict | None) -> str:
    if not verdict or verdict.get("within") is None:
        return "-"
    return "within" if verdict["within"] else "outside"


COLUMNS = ["plan", "status", "backend", "weights", "ratio", "bpw", "ttft_ms", "tpot_ms", "roofline",
           "usd_1k", "ppl", "ppl_delta", "kl", "top1", "gen_agree", "task_acc", "acc_delta", "verdict"]


def render(record: dict) -> str:
    rows = [plan_row(p) for p in record["plans"]]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    notes = []
    for r in rows:
        if r["status"] != "ok":
            notes.append(f"{r['plan']}: {r['status']} - {r.get('note', '')}")
        lines.append("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in COLUMNS))
    cost = record["settings"]["cost"]
    lines.append(
        f"cost assumptions: {cost['hardware']} at ${cost['price_per_hour']}/h, {cost['prompt_tokens']} prompt + "
        f"{cost['output_tokens']} output tokens per query, batch {cost['batch_size']}, "
        f"utilisation {cost['utilisation']:.0%}"
    )
    paths = {}
    for plan in record["plans"]:
        label = (plan.get("latency") or {}).get("decode_path")
        if label:
            paths.setdefault(label, []).append(plan["plan"])
    for label, plans in paths.items():
        lines.append(f"latency measured on: {label}" + (f" ({', '.join(plans)})" if len(paths) > 1 else ""))
    recommendation = record.get("recommendation")
    if recommendation:
        lines.append(f"recommendation: {recommendation['reason']}")
    verdict = (record.get("settings") or {}).get("verdict")
    if verdict:
        lines.append(f"verdict rule: {verdict['rule']}")
    return "\n".join(lines + notes)


def render_worst_prompts(record: dict, prompt_records: list[dict], worst: int = 5) -> str:
    """Per plan, the prompts it broke: wrong where the baseline was right first, then highest KL."""
    lines = []
    for position, plan in enumerate(record["plans"][1:], start=1):
        rows = [r for r in prompt_records if r["position"] == position]
        if not rows:
            continue
        rows.sort(key=lambda r: (not (r["baseline_correct"] and r["correct"] is False), -(r["kl"] or 0)))
        lines.append(f"\n{plan['plan']}: worst {min(worst, len(rows))} of {len(rows)} prompts")
        for r in rows[:worst]:
            mark = {True: "right", False: "WRONG", None: "-"}[r["correct"]]
            where = r.get("category") or "-"
            lines.append(f"  #{r['index']} [{where}] KL {r['kl'] or 0:.3f} {mark}: {r['prompt'][:70]}")
            lines.append(f"      baseline: {(r['baseline_output'] or '')[:80]!r}")
            lines.append(f"      plan:     {(r['output'] or '')[:80]!r}")
    return "\n".join(lines) if lines else "no per-prompt records (run with --prompts)"
