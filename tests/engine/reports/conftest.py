"""Real stored runs for the report tests: the embedded model on a few prompts (two of them
hostile: a script tag and a spreadsheet formula), and a random-weight shape (accuracy n/a)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.evaluation.prompts import PromptItem, PromptSet
from engine.pipeline import run
from engine.reports import build_report
from engine.settings import RunSettings, plans_for
from engine.store import Store

FAST = dict(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, max_new_tokens=4, eval_tokens=256,
            keep_artifacts=False)
SCRIPT = "<script>alert(1)</script> What is 2 plus 2?"
FORMULA = "=SUM(A1) What is the capital of France?"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "reports"


def quiet(_event) -> None:
    pass


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def store(compecon_home) -> Store:
    return Store()


@pytest.fixture(scope="session")
def prompt_set() -> PromptSet:
    return PromptSet.of("report <test> prompts", [
        PromptItem(0, SCRIPT, "4", None, "arithmetic"),
        PromptItem(1, FORMULA, "Paris", None, "facts"),
        PromptItem(2, "What is 3 plus 5?", "8", None, "arithmetic"),
        PromptItem(3, "Name the largest planet in the solar system.", "Jupiter", None, "facts"),
        PromptItem(4, "Which of these is a colour?", "red", ("red", "dog", "car"), "choice"),
    ])


@pytest.fixture(scope="session")
def embedded_run(store, prompt_set) -> dict:
    """The embedded SmolLM2-135M: fp32 baseline and int8, evaluated on the five prompts."""
    return run("smollm2-135m", plans_for(["int8"], None, "cpu"), RunSettings(**FAST), store=store, progress=quiet,
               prompts=prompt_set)


@pytest.fixture(scope="session")
def shape_run(store) -> dict:
    """A random-weight shape of the same architecture: size, speed and cost only."""
    return run("shape:smollm2-135m", plans_for(["fp32", "bf16"], None, "cpu"), RunSettings(**FAST), store=store,
               progress=quiet)


@pytest.fixture(scope="session")
def report(store, embedded_run):
    return build_report(store, [embedded_run["run_id"]])


@pytest.fixture(scope="session")
def two_run_report(store, embedded_run, shape_run):
    return build_report(store, [embedded_run["run_id"], shape_run["run_id"]])
