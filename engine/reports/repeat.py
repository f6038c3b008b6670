"""The `compecon run` command that repeats a stored run with the same model, plans and settings."""

from __future__ import annotations

import shlex


def prompts_filename(info: dict) -> str:
    """Where the repeat command expects the run's prompt set (written by `compecon report --format
    prompts-jsonl`)."""
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in (info.get("name") or "prompts"))
    return f"{name.strip('-.') or 'prompts'}-{info['sha256'][:12]}.jsonl"


def repeat_args(record: dict) -> list[str]:
    s = record["settings"]
    cost = s.get("cost") or {}
    args = ["compecon", "run", "--model", record["model"]["name"], "--device", record["device"]["type"]]
    for plan in record["plans"]:
        args += ["--plan", plan["plan"]]
    for batch in s.get("batch_sizes") or [1]:
        args += ["--batch", str(batch)]
    args += ["--prompt-tokens", str(s["prompt_tokens"]), "--output-tokens", str(s["output_tokens"]),
             "--hardware", str(cost.get("hardware") or s.get("hardware")),
             "--price-per-hour", f"{cost.get('price_per_hour', s.get('price_per_hour'))}",
             "--utilisation", f"{s['utilisation']:g}", "--decode-steps", str(s["decode_steps"]),
             "--repeats", str(s["repeats"]), "--eval-tokens", str(s["eval_tokens"])]
    info = s.get("prompts")
    if info:
        args += ["--prompts", prompts_filename(info), "--calibration-share", f"{s.get('calibration_share', 0):g}",
                 "--max-new-tokens", str(s.get("max_new_tokens", 16)), "--calibration", s.get("calibration", "auto")]
        if s.get("limit"):
            args += ["--limit", str(s["limit"])]
    verdict = s.get("verdict") or {}
    if s.get("primary") or verdict.get("metric"):
        args += ["--primary", s.get("primary") or verdict["metric"]]
    args += ["--tolerance", f"{s.get('tolerance_pct', verdict.get('tolerance_pct', 1.0)):g}"]
    return args


def repeat_command(record: dict, multiline: bool = True) -> str:
    """A shell-quoted command, safe to paste; one option per line (continued with backslashes)."""
    args = repeat_args(record)
    if not multiline:
        return shlex.join(args)
    lines, current = [], [shlex.quote(a) for a in args[:2]]
    for arg in args[2:]:
        if arg.startswith("--") and current:
            lines.append(" ".join(current))
            current = []
        current.append(shlex.quote(arg))
    lines.append(" ".join(current))
    return " \\\n  ".join(lines)


def repeat_notes(record: dict) -> list[str]:
    """What the command cannot carry by itself."""
    s = record["settings"]
    notes = []
    info = s.get("prompts")
    if info:
        notes.append(f"The prompt set '{info.get('name')}' (sha256 {info['sha256']}) is kept in the run store; "
                     f"write it to {prompts_filename(info)} with: compecon report {record['run_id']} --format "
                     f"prompts-jsonl -o {prompts_filename(info)}")
    if s.get("cost_batch") and s["cost_batch"] != (s.get("batch_sizes") or [1])[0]:
        notes.append(f"Cost was priced at batch {s['cost_batch']} (an API setting, not a CLI option).")
    if s.get("seed", 0) != 0 or s.get("eval_batch", 48) != 48:
        notes.append(f"Run with seed {s.get('seed')} and evaluation batch {s.get('eval_batch')} (API settings).")
    notes.append("Latency and cost are timings: expect run-to-run noise (about ±20% on a busy CPU). Sizes repeat "
                 "exactly; accuracy repeats on the same prompts, hardware and library versions.")
    return notes
