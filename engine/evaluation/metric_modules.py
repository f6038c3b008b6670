"""Load the project's `evaluate` metric modules by local path (offline) and call them."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent / "metrics"
BUILTIN = ("task_accuracy", "top1_agreement", "kl_divergence", "perplexity", "generation_agreement")


@cache
def load_metric(name_or_path: str):
    """A metric folder shipped here (by name) or any local folder holding an evaluate script."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    path = METRICS_DIR / name_or_path if name_or_path in BUILTIN else Path(name_or_path).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"no metric module at {path}")
    return evaluate.load(str(path))


def compute(name: str, **inputs) -> dict:
    return load_metric(name).compute(**inputs)
