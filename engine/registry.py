"""The registry of named compression steps: one decorator per step, and the presets.

Follows torchao's `quantize_(model, Config())` idea of a handler looked up by name,
with each step's parameters declared and validated before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.plan import PlanError, Step


@dataclass(frozen=True)
class Param:
    type: type
    default: object = None
    choices: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class StepSpec:
    name: str
    fn: Callable
    doc: str
    kind: str  # baseline (dtype only), weights (changes weight storage), transform (prepares a later step),
    # student (replaces the model with a smaller one; may be followed by a weights step)
    params: dict = field(default_factory=dict)


@dataclass
class StepOutcome:
    """What a step did, for the record: which library ran and which kernel path serves it."""

    model: object
    backend: str
    kernel_path: str
    notes: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # e.g. a layer-sensitivity ranking, calibration used


STEPS: dict[str, StepSpec] = {}

# Presets name the compressed plans; the run's baseline is put in front of them.
PRESETS: dict[str, tuple[str, ...]] = {
    "pm-int8-vs-int4": ("int8", "int4"),
    "all-weights": ("int8", "int4", "int2"),
}


def step(name: str, doc: str, kind: str = "weights", params: dict | None = None):
    """Register `fn(model, step, ctx) -> StepOutcome` under `name`."""

    def register(fn):
        if name in STEPS:
            raise ValueError(f"step {name!r} registered twice")
        STEPS[name] = StepSpec(name, fn, doc, kind, dict(params or {}))
        return fn

    return register


def check_params(step: Step) -> None:
    spec = STEPS[step.name]
    for key, value in step.params:
        if key not in spec.params:
            allowed = ", ".join(sorted(spec.params)) or "none"
            raise PlanError(f"step '{step}': unknown parameter '{key}' (allowed: {allowed})")
        param = spec.params[key]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if param.type is int and not (isinstance(value, int) and is_number):
            raise PlanError(f"step '{step}': {key} must be a whole number, got '{value}'")
        if param.type is float and not is_number:
            raise PlanError(f"step '{step}': {key} must be a number, got '{value}'")
        if param.type is object and not (is_number or value == "auto"):  # a number or 'auto'
            raise PlanError(f"step '{step}': {key} must be a number or auto, got '{value}'")
        if param.choices and value not in param.choices:
            options = ", ".join(map(str, param.choices))
            raise PlanError(f"step '{step}': {key}={value} is not one of {options}")


def resolved_params(step: Step) -> dict:
    """The step's parameters with declared defaults filled in."""
    spec = STEPS[step.name]
    values = {key: param.default for key, param in spec.params.items()}
    values.update(dict(step.params))
    return values


def load_builtin_steps() -> None:
    """Import the method modules so their decorators run."""
    from engine.methods import baselines, distill, fp8, hqq, mixed, smoothquant, weights  # noqa: F401


load_builtin_steps()
