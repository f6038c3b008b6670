"""The registry of named compression steps: one decorator per step, and the presets.

Follows torchao's `quantize_(model, Config())` idea of a handler looked up by name, and
optimum-quanto's `register_qmodule`: a table filled by decorators, which imports nothing of
the engine. The method modules register themselves (`engine/methods/__init__.py` imports
them); `engine/plan.py` reads the table to validate a plan before anything runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Bounds:
    """A number's allowed range, declared beside the parameter or setting it limits, so every value is
    checked before anything runs (CLI, form, job spec and plan string alike)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low end itself is refused (lr > 0)
    high_open: bool = False

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'above' if self.low_open else 'at least'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'below' if self.high_open else 'at most'} {self.high:g}")
        return " and ".join(parts) or "a finite number"

    def problem(self, value) -> str | None:
        """Why `value` is out of range (None when it is fine); NaN and infinities never are."""
        if not math.isfinite(value):
            return f"must be a finite number ({self.describe()}), got {value}"
        too_low = self.low is not None and (value < self.low or (self.low_open and value == self.low))
        too_high = self.high is not None and (value > self.high or (self.high_open and value == self.high))
        return f"must be {self.describe()}, got {value:g}" if too_low or too_high else None


AT_LEAST_1 = Bounds(1)
AT_LEAST_0 = Bounds(0)
POSITIVE = Bounds(0, low_open=True)
SHARE = Bounds(0, 1, low_open=True)  # (0, 1]


@dataclass(frozen=True)
class Param:
    type: type
    default: object = None
    choices: tuple = ()
    doc: str = ""
    bounds: Bounds = Bounds()  # for numbers; every number must at least be finite


@dataclass(frozen=True)
class StepSpec:
    name: str
    fn: Callable
    doc: str
    kind: str  # baseline (dtype only), weights (changes weight storage), transform (prepares a later step),
    # student (replaces the model with a smaller one; may be followed by a weights step), prune (zeroes weights
    # in place; may be followed by a weights step), runtime (hands the model to another runtime: the plan's last
    # step)
    params: dict = field(default_factory=dict)
    # (resolved params) -> what is wrong with them together (None: fine); checked when the plan is parsed
    check: Callable[[dict], str | None] | None = None
    split: bool = False  # runs on a model placed across several GPUs (--device-map auto)
    exports: bool = False  # a weights step whose rounded float weights a runtime step may take (gptq+gguf)


@dataclass
class StepOutcome:
    """What a step did, for the record: which library ran and which kernel path serves it."""

    model: object
    backend: str
    kernel_path: str
    notes: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # e.g. a layer-sensitivity ranking, calibration used


STEPS: dict[str, StepSpec] = {}

# Presets name the compressed plans per device; the run's baseline is put in front of them. On a CPU
# the product managers' comparison is the 8- and 4-bit files llama.cpp would serve (torch's int8/int4
# kernels dequantize on every call there, which no CPU deployment does); on a GPU, torch's kernels.
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "pm-int8-vs-int4": {"cpu": ("gguf:type=q8_0", "gguf:type=q4_k_m"), "cuda": ("int8", "int4")},
    "all-weights": {"cpu": ("int8", "int4", "int2"), "cuda": ("int8", "int4", "int2")},
}

# Parameters several steps share, declared once.
CALIBRATION_SOURCES = ("auto", "prompts", "texts", "both")
GROUP_SIZES = (16, 32, 64, 128, 256)


def calib_param(doc: str = "calibration data") -> Param:
    return Param(str, "auto", CALIBRATION_SOURCES, doc)


def group_param(default: int = 64, doc: str = "weights per scale group", sizes: tuple = GROUP_SIZES) -> Param:
    return Param(int, default, sizes, doc)


def step(name: str, doc: str, kind: str = "weights", params: dict | None = None,
         check: Callable[[dict], str | None] | None = None, split: bool = False, exports: bool = False):
    """Register `fn(model, step, ctx) -> StepOutcome` under `name`; `check` refuses parameter combinations
    that could never run, before anything runs; `split` says it works module by module on a model whose layers
    sit on several GPUs."""

    def register(fn):
        if name in STEPS:
            raise ValueError(f"step {name!r} registered twice")
        STEPS[name] = StepSpec(name, fn, doc, kind, dict(params or {}), check, split, exports)
        return fn

    return register


def resolved_params(step) -> dict:
    """The step's parameters with declared defaults filled in."""
    spec = STEPS[step.name]
    values = {key: param.default for key, param in spec.params.items()}
    values.update(dict(step.params))
    return values


def apply_steps(model, plan, ctx) -> tuple[StepOutcome, dict]:
    """Apply the plan's steps in order to `model`; returns the last outcome (every step's notes and
    extras merged) and the seconds each step took. The steps of one plan share a fresh handoff."""
    ctx = replace(ctx, handoff={})
    outcome = StepOutcome(model, backend="torch", kernel_path=f"torch eager ({ctx.device})")
    notes: list[str] = []
    extras: dict = {}
    seconds: dict[str, float] = {}
    for index, plan_step in enumerate(plan.steps):
        began = time.perf_counter()
        outcome = STEPS[plan_step.name].fn(outcome.model, plan_step, replace(ctx, step_index=index,
                                                                            steps_after=len(plan.steps) - index - 1))
        seconds[str(plan_step)] = time.perf_counter() - began
        notes += outcome.notes
        extras.update(outcome.extras)
    outcome.notes, outcome.extras = notes, extras
    return outcome, seconds
