"""The comparison as plain text for a terminal (`compecon run` and `compecon show`): one row per
plan, one column per catalogue metric that names a terminal header (engine/metrics.py), then the
assumptions behind the figures and the prompts each plan broke first."""

from __future__ import annotations

from engine.measure.load import BUSY
from engine.metrics import terminal_metrics
from engine.records import broke_first, cost_sentence, is_ok, verdict_label


def plan_row(plan: dict) -> dict:
    """One plan's headline figures as display strings, keyed by terminal header."""
    if not is_ok(plan):
        return {"plan": plan["plan"], "status": plan.get("status"), "note": plan.get("error") or ""}
    row = {"plan": plan["plan"], "status": "ok", "runtime": (plan.get("runtime") or {}).get("name") or "-",
           "backend": plan.get("backend") or ""}
    row.update({m.column: m.terminal(plan) for m in terminal_metrics()})
    if (plan.get("latency") or {}).get("busy"):
        row["tpot_ms"] = f"{row['tpot_ms']}*"  # the footnote says why
    row["verdict"] = verdict_label(plan) or "-"
    interval = (plan.get("verdict") or {}).get("delta_ci95")
    row["change_ci95"] = f"[{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else "-"
    return row


def columns() -> list[str]:
    return ["plan", "status", "runtime", "backend", *[m.column for m in terminal_metrics()], "verdict", "change_ci95"]


def render(record: dict) -> str:
    rows = [plan_row(p) for p in record["plans"]]
    names = columns()
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in names}
    lines = ["  ".join(c.ljust(widths[c]) for c in names)]
    notes = []
    for r in rows:
        if r["status"] != "ok":
            notes.append(f"{r['plan']}: {r['status']} - {r.get('note', '')}")
        lines.append("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in names))
    lines.append(f"cost assumptions: {cost_sentence(record)}")
    p90 = [(p["plan"], p["cost"]["usd_per_1k_queries_p90"]) for p in record["plans"]
           if is_ok(p) and (p.get("cost") or {}).get("usd_per_1k_queries_p90") is not None]
    if p90:
        lines.append("cost per 1,000 queries at the 90th-percentile lengths (prefill scaled by prompt length): "
                     + ", ".join(f"{name} ${usd:.4f}" for name, usd in p90))
    busy = [p["plan"] for p in record["plans"] if is_ok(p) and (p.get("latency") or {}).get("busy")]
    if busy:
        lines.append(f"* {BUSY} (load average above the cores while timing): {', '.join(busy)}")
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
        lines.append(f"verdict rule: {verdict['rule']}, judged on the whole paired 95% interval of the change"
                     + (f" ({verdict['method']})" if verdict.get("method") else ""))
        resolves = verdict.get("min_detectable_delta_pts")
        if resolves:
            lines.append(f"these prompts resolve task-accuracy changes of about ±{resolves:.1f} pts (if 10% of "
                         "answers flip); a smaller tolerance needs more prompts")
    return "\n".join(lines + notes)


def render_worst_prompts(record: dict, prompt_records: list[dict], worst: int = 5) -> str:
    """Per plan, the prompts it broke first (the same order as the reports and the dashboard)."""
    lines = []
    for position, plan in enumerate(record["plans"][1:], start=1):
        rows = broke_first([r for r in prompt_records if r["position"] == position])
        if not rows:
            continue
        lines.append(f"\n{plan['plan']}: worst {min(worst, len(rows))} of {len(rows)} prompts")
        for r in rows[:worst]:
            mark = {True: "right", False: "WRONG", None: "-"}[r["correct"]]
            where = r.get("category") or "-"
            lines.append(f"  #{r['index']} [{where}] KL {r['kl'] or 0:.3f} {mark}: {r['prompt'][:70]}")
            lines.append(f"      baseline: {(r['baseline_output'] or '')[:80]!r}")
            lines.append(f"      plan:     {(r['output'] or '')[:80]!r}")
    return "\n".join(lines) if lines else "no per-prompt records (run with --prompts)"
