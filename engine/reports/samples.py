"""A sample of per-prompt before/after outputs: for each compressed plan, the prompts it broke first."""

from __future__ import annotations

from dataclasses import dataclass

from engine.chart_style import plan_colours


@dataclass(frozen=True)
class PromptSample:
    plan: str
    colour: str
    index: int
    category: str | None
    prompt: str
    reference: str | None
    baseline_output: str
    output: str
    baseline_correct: bool | None
    correct: bool | None
    kl: float | None
    why: str  # answer broke | output changed | highest KL


def _why(row: dict) -> str:
    if row.get("baseline_correct") and row.get("correct") is False:
        return "answer broke"
    if (row.get("output") or "").strip() != (row.get("baseline_output") or "").strip():
        return "output changed"
    return "highest KL"


def _order(row: dict):
    """Broken answers first, then changed outputs, each by descending KL."""
    return ({"answer broke": 0, "output changed": 1}.get(_why(row), 2), -(row.get("kl") or 0.0), row["index"])


def worst_prompts(record: dict, prompt_records: list[dict], per_plan: int = 3) -> list[PromptSample]:
    plans = record["plans"]
    colours = plan_colours([p["plan"] for p in plans])
    out = []
    for position, plan in enumerate(plans[1:], start=1):
        rows = sorted((r for r in prompt_records if r["position"] == position), key=_order)
        for row in rows[:per_plan]:
            out.append(PromptSample(
                plan["plan"], colours[plan["plan"]], row["index"], row.get("category"), row.get("prompt") or "",
                row.get("reference"), row.get("baseline_output") or "", row.get("output") or "",
                row.get("baseline_correct"), row.get("correct"), row.get("kl"), _why(row)))
    return out


def correctness(value: bool | None) -> str:
    return {True: "right", False: "wrong", None: "not scored"}[value]
