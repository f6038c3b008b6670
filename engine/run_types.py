"""What a run is told (settings, step context) and what it tells (events), shared by the
pipeline, the CLI, the job worker and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.calibration import Calibration


@dataclass(frozen=True)
class RunSettings:
    device: str = "auto"
    prompt_tokens: int = 128
    output_tokens: int = 128
    batch_sizes: tuple = (1,)
    cost_batch: int | None = None  # defaults to the first measured batch size
    hardware: str | None = None
    price_per_hour: float | None = None
    utilisation: float = 0.6
    decode_steps: int = 16
    decode_path: str = "auto"  # plain | serving | compiled | both | all | auto (both on a GPU, plain on a CPU)
    max_tpot_ms: float = 100.0  # slowest time per output token a user accepts when picking a batch size
    repeats: int = 3
    eval_tokens: int = 2048
    keep_artifacts: bool = True
    primary: str | None = None  # verdict metric; default task_accuracy with references, else top1_agreement
    tolerance_pct: float = 1.0
    max_new_tokens: int = 16  # greedy tokens per prompt for outputs and generation agreement
    eval_batch: int = 48
    calibration_share: float = 0.0
    seed: int = 0
    limit: int | None = None  # evaluate only the first N prompts
    calibration: str = "auto"  # what calibrated steps see by default: auto | prompts | texts | both


@dataclass(frozen=True)
class StepContext:
    device: str
    tokenizer: object | None
    calibrate: Callable[[str], Calibration] | None = None  # source -> calibration rows (cached per run)
    model_name: str = ""
    progress: Callable | None = None  # (stage, done, total, detail) for long steps such as training
    checkpoint_root: str = ""  # where training steps keep checkpoints (resume after interruption)


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
