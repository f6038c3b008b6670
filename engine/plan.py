"""Compression plans as data: `int4:group=64+int8` parses into frozen, hashable steps.

A plan is a chain of steps applied in order to a copy of the base model. Plans
round-trip through dict/JSON and hash stably, so a stored result always says
exactly what produced it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import engine.methods  # noqa: F401  (the method modules register their steps)
from engine.registry import STEPS, resolved_params


class PlanError(ValueError):
    """A plan string or dict that cannot be run; the message names the bad part."""


@dataclass(frozen=True)
class Step:
    name: str
    params: tuple[tuple[str, object], ...] = field(default_factory=tuple)

    def param(self, key: str, default=None):
        return dict(self.params).get(key, default)

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params)}

    @staticmethod
    def from_dict(data: dict) -> Step:
        return Step(data["name"], tuple(sorted(data.get("params", {}).items())))


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return "+".join(str(s) for s in self.steps)

    def to_dict(self) -> dict:
        return {"plan": str(self), "steps": [s.to_dict() for s in self.steps]}

    @staticmethod
    def from_dict(data: dict) -> Plan:
        return validate(Plan(tuple(Step.from_dict(s) for s in data["steps"])))

    def key(self) -> str:
        """Stable short hash of the canonical form (same plan -> same key, any session)."""
        canonical = json.dumps(self.to_dict()["steps"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def is_baseline_only(self) -> bool:
        return all(STEPS[s.name].kind == "baseline" for s in self.steps)


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _parse_step(text: str) -> Step:
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if not name:
        raise PlanError(f"empty step in plan near '{text}'")
    params: dict[str, object] = {}
    if rest.strip():
        for pair in rest.split(","):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise PlanError(f"step '{text.strip()}': parameter '{pair.strip()}' is not key=value")
            params[key.strip().lower()] = _parse_value(value.strip())
    return Step(name, tuple(sorted(params.items())))


def parse(text: str) -> Plan:
    """Parse `step[:k=v,...]+step...`, validating every step against the registry."""
    if not text or not text.strip():
        raise PlanError("empty plan: write steps like 'int8' or 'int4:group=64'")
    return validate(Plan(tuple(_parse_step(part) for part in text.split("+"))))


def check_params(step: Step) -> None:
    """Every parameter of the step is declared, of its declared type, and among its choices."""
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
        problem = param.bounds.problem(value) if is_number else None
        if problem:
            raise PlanError(f"step '{step}': {key} {problem}")
    problem = spec.check(resolved_params(step)) if spec.check else None
    if problem:
        raise PlanError(f"step '{step}': {problem}")


def validate(plan: Plan) -> Plan:
    if not plan.steps:
        raise PlanError("a plan needs at least one step")
    for step in plan.steps:
        if step.name not in STEPS:
            known = ", ".join(sorted(STEPS))
            raise PlanError(f"unknown step '{step.name}' in plan '{plan}'; known steps: {known}")
        check_params(step)
    kinds = [STEPS[s.name].kind for s in plan.steps]
    for position, kind in enumerate(kinds):
        if kind == "transform" and "weights" not in kinds[position + 1:]:
            raise PlanError(f"step '{plan.steps[position]}' prepares a quantization step that must follow it "
                            f"(e.g. '{plan.steps[position]}+w8a8')")
    if "runtime" in kinds:
        position = kinds.index("runtime")
        torch_quantized = [s for s in plan.steps if STEPS[s.name].kind == "weights" and not STEPS[s.name].exports]
        if position != len(kinds) - 1 or torch_quantized or "transform" in kinds:
            raise PlanError(f"step '{plan.steps[position]}' hands the float model to another runtime: it must be the "
                            "plan's last step, after only a dtype, a distillation or a GPTQ step (e.g. "
                            "'distill:keep=0.5+gguf:type=q4_k_m', 'gptq:group=32,grid=q4_0+gguf:type=q4_0'), never "
                            "after a torch quantization step")
    for step in plan.steps:  # a weights step rounded onto llama.cpp's block grid is only stored by llama.cpp
        grid = dict(step.params).get("grid", "asym")
        if STEPS[step.name].exports and grid != "asym" and kinds[-1] != "runtime":
            raise PlanError(f"step '{step}' rounds onto llama.cpp's {grid.upper()} blocks: follow it with "
                            f"'+gguf:type={grid}' (or drop grid= to store it in torch)")
    weight_steps = [s for s in plan.steps if STEPS[s.name].kind == "weights"]
    if len(weight_steps) > 1:
        raise PlanError(
            f"plan '{plan}' quantizes the weights twice ({', '.join(map(str, weight_steps))}); keep one"
        )
    return plan
