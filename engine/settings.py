"""What a run is told and what it tells: settings, the step context, events and states, and the
plans of a run resolved from what the user typed. Shared by the pipeline, the CLI, the queue,
the worker and the dashboard.

Every `RunSettings` field carries its command-line help in its metadata: the CLI's options and
the command that repeats a stored run are both derived from `dataclasses.fields(RunSettings)`,
so a new setting is one field here and has a flag everywhere.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum

import torch

from engine.evaluation.calibration import Calibration
from engine.plan import Plan, Step, parse
from engine.registry import AT_LEAST_0, AT_LEAST_1, CALIBRATION_SOURCES, POSITIVE, PRESETS, SHARE, STEPS, Bounds


class PlanState(StrEnum):
    """A plan's status in a run record (ok, failed, interrupted) or in a run still going."""

    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PENDING = "pending"  # the run is still going
    NOT_RUN = "not run"  # the run ended before this plan started
    QUEUED = "queued"  # the job's progress before a plan starts
    RUNNING = "running"
    CANCELLED = "cancelled"


class RunState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died (read from the owner's liveness, never stored)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE_JOBS = (JobState.QUEUED, JobState.RUNNING)


DEVICES = ("auto", "cpu", "cuda")
DEVICE_MAPS = ("none", "auto")
DECODE_PATHS = ("auto", "plain", "serving", "compiled", "both", "all")


class SettingError(ValueError):
    """A setting out of its declared range; the message names its flag, so the CLI and the form say the same."""


def _setting(default, help: str, flag: str | None = None, bounds: Bounds | None = None, choices: tuple = (),
             **kwargs):
    return field(default=default, metadata={"help": help, "flag": flag, "bounds": bounds, "choices": choices},
                 **kwargs)


@dataclass(frozen=True)
class RunSettings:
    """Every value is checked against its declared range when the settings are made, so a bad one is refused
    before a model loads, wherever it came from (CLI, form, job spec)."""

    device: str = _setting("auto", "cpu, cuda or auto", choices=DEVICES)
    device_map: str = _setting("none", "auto: place a model too big for one GPU across this machine's GPUs "
                               "(accelerate); none: one device", choices=DEVICE_MAPS)
    prompt_tokens: int | None = _setting(None, "prompt length per query (ttft, cost; default: the prompt set's "
                                         "median, else 128)", bounds=Bounds(1, 131072))
    output_tokens: int | None = _setting(None, "generated tokens per query (cost; default: the prompt set's median "
                                         "answer, else 128)", bounds=Bounds(1, 131072))
    batch_sizes: tuple = _setting((1,), "batch sizes to measure; repeat", flag="--batch", bounds=Bounds(1, 4096))
    cost_batch: int | None = _setting(None, "batch size the cost is priced at (default: the first --batch)",
                                      bounds=Bounds(1, 4096))
    hardware: str | None = _setting(None, "price-table row (sample_data/prices.csv)")
    price_per_hour: float | None = _setting(None, "override the hardware price, USD/h", bounds=POSITIVE)
    utilisation: float = _setting(0.6, "share of paid time spent serving, (0, 1]", bounds=SHARE)
    energy_s: float = _setting(1.0, "seconds of each energy block per latency row (GPU: NVML; CPU: RAPL where "
                               "readable); 0 skips energy", flag="--energy-seconds", bounds=Bounds(0, 60))
    grid_carbon: float = _setting(480.0, "grid carbon intensity for CO2, g/kWh (default: the 2023 world average, "
                                  "Ember)", bounds=AT_LEAST_0)
    electricity_price: float | None = _setting(None, "USD per kWh: adds measured energy to the cost per 1,000 queries "
                                               "(for hardware you own; a cloud hourly price already includes it)",
                                               bounds=AT_LEAST_0)
    decode_steps: int = _setting(16, "decode steps timed per repeat", bounds=Bounds(1, 100000))
    decode_path: str = _setting("auto", "plain, serving (static cache + CUDA graph), compiled (serving + "
                                "torch.compile), both (plain+serving), all, auto (both on GPU, plain on CPU)",
                                choices=DECODE_PATHS)
    max_tpot_ms: float = _setting(100.0, "slowest acceptable ms per output token when picking a batch size",
                                  bounds=POSITIVE)
    repeats: int = _setting(3, "timed repeats after warm-up", bounds=Bounds(1, 1000))
    eval_tokens: int = _setting(2048, "evaluation tokens for perplexity/KL", bounds=Bounds(16, 10**7))
    keep_artifacts: bool = _setting(True, "keep each compressed model on disk (safetensors or GGUF; about 1 GB per "
                                    "run of the default model): --no-keep-artifacts measures and deletes them")
    primary: str | None = _setting(None, "verdict metric (default: task_accuracy, else top1_agreement)")
    tolerance_pct: float = _setting(1.0, "allowed relative loss on the primary metric, in percent",
                                    flag="--tolerance", bounds=Bounds(0, 100))
    max_new_tokens: int = _setting(16, "greedy tokens generated per prompt", bounds=Bounds(1, 4096))
    eval_batch: int = _setting(48, "prompts evaluated per batch", bounds=Bounds(1, 4096))
    calibration_share: float = _setting(0.0, "share of the prompts held out for calibration",
                                        bounds=Bounds(0, 1, high_open=True))
    seed: int = _setting(0, "seed of the calibration split", bounds=Bounds(0, 2**32 - 1))
    limit: int | None = _setting(None, "evaluate only the first N prompts (quick looks)", bounds=AT_LEAST_1)
    calibration: str = _setting("auto", "calibration data for calibrated steps: auto, prompts, texts, both",
                                choices=CALIBRATION_SOURCES)
    threads: int | None = _setting(None, "CPU threads of the llama.cpp runtime (default: the machine's cores)",
                                   bounds=Bounds(1, 1024))

    def __post_init__(self):
        if not isinstance(self.batch_sizes, (tuple, list)) or not self.batch_sizes:
            raise SettingError(f"--batch {self.batch_sizes!r}: give at least one batch size")
        for f in fields(self):
            value = getattr(self, f.name)
            for item in value if f.name == "batch_sizes" else (value,):
                problem = _problem(item, f.type, f.metadata)
                if problem:
                    raise SettingError(f"{setting_flag(f.name)} {item!r}: {problem}")
        if self.device_map == "auto" and self.device == "cpu":
            raise SettingError("--device-map auto places a model across GPUs; with --device cpu there is one "
                               "device: leave --device-map none")

    @classmethod
    def from_dict(cls, data: dict) -> RunSettings:
        """Settings from a stored or submitted dict (JSON lists back to tuples; other keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "batch_sizes" in values:
            values["batch_sizes"] = tuple(values["batch_sizes"] or (1,))
        return cls(**values)


def _problem(value, kind: str, meta) -> str | None:
    """What is wrong with one setting's value (None: fine). `kind` is the field's annotation as a string."""
    if value is None:
        return None if "None" in kind else "a value is needed"
    if meta["choices"] and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ("int" in kind or kind == "tuple") and not (number and isinstance(value, int)):
        return "must be a whole number"
    if "float" in kind and not number:
        return "must be a number"
    return meta["bounds"].problem(value) if meta["bounds"] and number else None


def setting_flag(name: str) -> str:
    """The command-line flag of a RunSettings field."""
    meta = next(f.metadata for f in fields(RunSettings) if f.name == name)
    return meta.get("flag") or "--" + name.replace("_", "-")


def setting_types() -> dict[str, type]:
    """Each field's value type (the `X` of `X | None`; int for batch_sizes, which repeats)."""
    hints = typing.get_type_hints(RunSettings)
    out = {}
    for name, hint in hints.items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        out[name] = int if name == "batch_sizes" else (args[0] if args else hint)
    return out


def settings_args(settings: RunSettings) -> list[str]:
    """Command-line arguments that give back exactly these settings: every field that has a value is
    written out, so the command repeats the run even if a default changes later."""
    args: list[str] = []
    for f in fields(RunSettings):
        value = getattr(settings, f.name)
        flag = setting_flag(f.name)
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif f.name == "batch_sizes":
            for batch in value:
                args += [flag, str(batch)]
        elif value is not None:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


@dataclass(frozen=True)
class StepContext:
    device: str
    tokenizer: object | None
    calibrate: Callable[[str], Calibration] | None = None  # source -> calibration rows (cached per run)
    model_name: str = ""
    progress: Callable | None = None  # (stage, done, total, detail) for long steps such as training
    checkpoint_root: str = ""  # where training steps keep checkpoints (resume after interruption)
    artifact_dir: str = ""  # this plan's folder for files a step writes (a GGUF plan's model file)
    threads: int | None = None  # CPU threads of another runtime (llama.cpp)
    tokenizer_gguf: str | None = None  # the model's own GGUF, whose tokenizer a GGUF export copies
    shared_dir: str = ""  # the run's folder for files every plan can reuse (the untouched model's float GGUF)
    step_index: int = 0  # steps of the plan that ran before this one (0: the model is the loaded one)
    steps_after: int = 0  # steps of the plan still to come (0: this step's model is the one measured)
    # What one step hands to a later step of the same plan (smoothquant's settings for w8a8); a fresh
    # dict per plan (apply_steps), never an attribute stuck on the model.
    handoff: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProgressEvent:
    """Progress inside a plan (prompt evaluation), for bars."""

    stage: str
    done: int
    total: int
    position: int | None = None
    detail: dict | None = None  # e.g. {"loss": 0.41, "eta_s": 120} while distilling


@dataclass(frozen=True)
class PlanEvent:
    """A plan's state changed: started, stage (compressing / latency / accuracy), ok, failed."""

    position: int
    plan: str
    state: str
    message: str


@dataclass(frozen=True)
class RunEvent:
    """The run exists in the store (its id is known) or ended."""

    run_id: str
    state: str  # created | done | cancelled | failed
    message: str


class RunCancelled(Exception):
    """The user cancelled the run; finished plans stay stored."""


class RunError(RuntimeError):
    """The run as a whole could not happen (bad model, no device, baseline failed)."""


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


def plans_for(plans: list[str | Plan] | None, preset: str | None, device: str) -> list[Plan]:
    """The run's plans, baseline first: strings are parsed (and validated) here, Plans taken as they are."""
    if preset:
        if preset not in PRESETS:
            raise RunError(f"unknown preset '{preset}'; presets: {', '.join(PRESETS)}")
        plans = list(PRESETS[preset][device])
    chosen = [plan if isinstance(plan, Plan) else parse(plan) for plan in plans or []]
    if not chosen:
        raise RunError("no plans: give --plan (repeatable) or --preset")
    if not chosen[0].is_baseline_only:
        chosen.insert(0, default_baseline(device))
    return chosen


def check_split(plans: list[Plan], settings: RunSettings) -> None:
    """Refuse, before anything runs, a plan whose steps cannot work on a model split across GPUs."""
    if settings.device_map != "auto":
        return
    refused = sorted({s.name for plan in plans for s in plan.steps if not STEPS[s.name].split})
    if refused:
        able = ", ".join(sorted(name for name, spec in STEPS.items() if spec.split))
        raise RunError(f"--device-map auto: {', '.join(refused)} cannot run on a model split across GPUs (they "
                       f"calibrate, train or hand the model to another runtime as a whole); with a split model use "
                       f"{able}, or measure those plans on a model that fits one GPU")


def calibration_variants(plans: list[Plan]) -> list[Plan]:
    """The calibration check: every calibrated plan twice, once on generic texts and once on the
    user's prompts, so the held-out prompts show whether the user's own data helps."""
    out = []
    for plan in plans:
        if not any("calib" in STEPS[s.name].params for s in plan.steps):
            out.append(plan)
            continue
        for source in ("texts", "prompts"):
            steps = tuple(
                Step(s.name, tuple(sorted({**dict(s.params), "calib": source}.items())))
                if "calib" in STEPS[s.name].params else s
                for s in plan.steps)
            out.append(Plan(steps))
    return out
