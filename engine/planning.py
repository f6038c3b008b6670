"""From what the user typed to the plans of a run: device, presets, the baseline put first."""

from __future__ import annotations

import torch

from engine.plan import Plan, parse
from engine.registry import PRESETS
from engine.run_types import RunError


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda was asked for, but no CUDA GPU is visible; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise RunError(f"unknown device '{device}': use cpu, cuda or auto")
    return device


def default_baseline(device: str) -> Plan:
    return parse("bf16" if device == "cuda" else "fp32")


def plans_for(plan_texts: list[str] | None, preset: str | None, device: str) -> list[Plan]:
    """Parse every plan before anything runs; put the baseline first if none was given."""
    if preset:
        if preset not in PRESETS:
            raise RunError(f"unknown preset '{preset}'; presets: {', '.join(PRESETS)}")
        plan_texts = list(PRESETS[preset])
    plans = [parse(text) for text in plan_texts or []]
    if not plans:
        raise RunError("no plans: give --plan (repeatable) or --preset")
    if not plans[0].is_baseline_only:
        plans.insert(0, default_baseline(device))
    return plans
