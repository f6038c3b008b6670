"""The `compecon run` command that repeats a stored run with the same model, plans and settings."""

from __future__ import annotations

import shlex
from dataclasses import replace

from engine.settings import RunSettings, settings_args


def prompts_filename(info: dict) -> str:
    """Where the repeat command expects the run's prompt set (written by `compecon report --format
    prompts-jsonl`)."""
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in (info.get("name") or "prompts"))
    return f"{name.strip('-.') or 'prompts'}-{info['sha256'][:12]}.jsonl"


def repeat_settings(record: dict) -> RunSettings:
    """The run's settings as it ran them: its device, the hardware and price it was priced at, and
    the verdict metric it was judged on (chosen automatically when the user gave none)."""
    s = record["settings"]
    cost = s.get("cost") or {}
    verdict = s.get("verdict") or {}
    return replace(RunSettings.from_dict(s), device=record["device"]["type"],
                   hardware=cost.get("hardware") or s.get("hardware"),
                   price_per_hour=cost.get("price_per_hour", s.get("price_per_hour")),
                   primary=s.get("primary") or verdict.get("metric"))


def repeat_args(record: dict) -> list[str]:
    args = ["compecon", "run", "--model", record["model"]["name"]]
    for plan in record["plans"]:
        args += ["--plan", plan["plan"]]
    info = record["settings"].get("prompts")
    if info:
        args += ["--prompts", prompts_filename(info)]
    return args + settings_args(repeat_settings(record))


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
    notes.append("Latency and cost are timings: expect run-to-run noise (about ±20% on a busy CPU). Sizes repeat "
                 "exactly; accuracy repeats on the same prompts, hardware and library versions.")
    return notes
