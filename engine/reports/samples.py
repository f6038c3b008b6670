"""A sample of per-prompt before/after outputs: for each compressed plan, the prompts it broke first."""

from __future__ import annotations

from dataclasses import dataclass

from engine.charts.style import record_colours
from engine.records import broke_first, why_broken


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


def worst_prompts(record: dict, prompt_records: list[dict], per_plan: int = 3) -> list[PromptSample]:
    plans = record["plans"]
    colours = record_colours(record)
    out = []
    for position, plan in enumerate(plans[1:], start=1):
        rows = broke_first([r for r in prompt_records if r["position"] == position])
        for row in rows[:per_plan]:
            out.append(PromptSample(
                plan["plan"], colours[plan["plan"]], row["index"], row.get("category"), row.get("prompt") or "",
                row.get("reference"), row.get("baseline_output") or "", row.get("output") or "",
                row.get("baseline_correct"), row.get("correct"), row.get("kl"), why_broken(row)))
    return out


def correctness(value: bool | None) -> str:
    return {True: "right", False: "wrong", None: "not scored"}[value]
