"""The comparison as plain text for a terminal (`compecon run` and `compecon show`): one row per
plan, one column per catalogue metric that names a terminal header (engine/metrics.py), then the
assumptions behind the figures and the prompts each plan broke first. By default the table fits
100 columns (the brief metrics and the verdict's own); `--wide` shows every column."""

from __future__ import annotations

import textwrap

from engine.measure.load import BUSY
from engine.metrics import METRICS, terminal_metrics
from engine.records import broke_first, cost_sentence, is_ok, verdict_label


def plan_row(plan: dict) -> dict:
    """One plan's headline figures as display strings, keyed by terminal header."""
    if not is_ok(plan):
        return {"plan": plan["plan"], "status": plan.get("status"), "verdict": plan.get("status"),
                "note": plan.get("error") or ""}
    row = {"plan": plan["plan"], "status": "ok", "runtime": (plan.get("runtime") or {}).get("name") or "-",
           "backend": plan.get("backend") or ""}
    row.update({m.column: m.terminal(plan) for m in terminal_metrics()})
    if (plan.get("latency") or {}).get("busy"):
        row["tpot_ms"] = f"{row['tpot_ms']}*"  # the footnote says why
    row["verdict"] = verdict_label(plan) or "-"
    interval = (plan.get("verdict") or {}).get("delta_ci95")
    row["change_ci95"] = f"[{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else "-"
    return row


WIDTH = 100  # the default table's width: fits a terminal without wrapping


def columns(record: dict | None = None, wide: bool = True) -> list[str]:
    """Every column (`wide`), or the brief ones plus the metric the run's verdict is judged on."""
    if wide:
        return ["plan", "status", "runtime", "backend", *[m.column for m in terminal_metrics()], "verdict",
                "change_ci95"]
    primary = METRICS.get(((record or {}).get("settings") or {}).get("verdict", {}).get("metric") or "")
    brief = [m.column for m in terminal_metrics() if m.brief or m is primary]
    return ["plan", "runtime", *brief, "verdict", "change_ci95"]


def _table(rows: list[dict], names: list[str], wide: bool) -> list[str]:
    """Header and rows; in the default table a long plan name is cut to keep the width, and given in full below."""
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in names}
    if not wide:
        rest = sum(w for c, w in widths.items() if c != "plan") + 2 * (len(names) - 1)
        widths["plan"] = max(len("plan"), min(widths["plan"], WIDTH - rest))
    cut = [r["plan"] for r in rows if len(r["plan"]) > widths["plan"]]
    lines = ["  ".join(c.ljust(widths[c]) for c in names).rstrip()]
    for r in rows:
        cells = {**r, "plan": r["plan"] if len(r["plan"]) <= widths["plan"] else r["plan"][:widths["plan"] - 1] + "…"}
        lines.append("  ".join(str(cells.get(c, "")).ljust(widths[c]) for c in names).rstrip())
    return lines + [f"plan in full: {plan}" for plan in cut]


def render(record: dict, wide: bool = False) -> str:
    rows = [plan_row(p) for p in record["plans"]]
    table = _table(rows, columns(record, wide), wide)
    lines = []
    notes = [f"{r['plan']}: {r['status']}" + (f" - {r['note']}" if r.get("note") else "")
             for r in rows if r["status"] != "ok"]
    if not wide:
        lines.append("(--wide shows every column: status, backend, ttft, bits per weight, roofline, perplexity, "
                     "KL, agreement)")
    lines.append(f"cost assumptions: {cost_sentence(record)}")
    p90 = [(p["plan"], p["cost"]["usd_per_1k_queries_p90"]) for p in record["plans"]
           if is_ok(p) and (p.get("cost") or {}).get("usd_per_1k_queries_p90") is not None]
    if p90:
        lines.append("cost per 1,000 queries at the 90th-percentile lengths (prefill scaled by prompt length): "
                     + ", ".join(f"{name} ${usd:.4f}" for name, usd in p90))
    measured = [p for p in record["plans"] if is_ok(p) and (p.get("cost") or {}).get("kwh_per_1k_queries") is not None]
    if measured:
        lines.append("energy per 1,000 queries: " + ", ".join(
            f"{p['plan']} {p['cost']['kwh_per_1k_queries']:.4f} kWh ({p['cost']['co2_g_per_1k_queries']:,.1f} g CO2 "
            f"at {p['cost']['grid_carbon']:g} g/kWh)" for p in measured))
    else:
        why = next(((p.get("latency") or {}).get("energy_source") for p in record["plans"] if is_ok(p)), None)
        if why:
            lines.append(f"energy: {why}")
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
    return "\n".join(table + [textwrap.fill(line, WIDTH, subsequent_indent="  ") for line in lines + notes])


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
