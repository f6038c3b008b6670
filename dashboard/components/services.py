"""Cached access to the engine for the pages. Resources are shared and never mutated; data caches
return copies. Everything is keyed by COMPECON_HOME so a changed store location is honoured."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import streamlit as st

from engine.home import SAMPLE_DATA, home
from engine.jobs import JobQueue, detect_devices
from engine.store import Store

SAMPLE_PROMPTS = SAMPLE_DATA / "prompts.jsonl"


@st.cache_resource(show_spinner=False)
def _queue(home_path: str) -> JobQueue:
    return JobQueue(Path(home_path) / "runs.sqlite")


def queue() -> JobQueue:
    """The job queue (and through it the store) of the current COMPECON_HOME."""
    return _queue(str(home()))


def store() -> Store:
    return queue().store


@st.cache_data(show_spinner=False)
def devices() -> list[str]:
    """cpu, plus cuda when a GPU is present (found without touching CUDA in the server)."""
    return detect_devices()


@st.cache_data(show_spinner=False)
def prices() -> dict[str, dict]:
    from engine.cost import load_prices

    return {name: asdict(row) for name, row in load_prices().items()}


@st.cache_data(show_spinner=False)
def steps() -> dict[str, dict]:
    """The registered compression steps as plain data: doc, kind and parameters."""
    import engine.methods  # noqa: F401  (registers the steps)
    from engine.registry import STEPS

    return {name: {"doc": spec.doc, "kind": spec.kind,
                   "params": {k: {"type": p.type.__name__, "default": p.default, "choices": list(p.choices),
                                  "doc": p.doc} for k, p in spec.params.items()}}
            for name, spec in sorted(STEPS.items())}


@st.cache_data(show_spinner=False)
def presets(device: str) -> dict[str, list[str]]:
    """Each preset's plans on the device the run will use."""
    from engine.registry import PRESETS

    return {name: list(by_device[device]) for name, by_device in PRESETS.items()}


@st.cache_data(show_spinner=False)
def shapes() -> dict[str, int]:
    from engine.models import SHAPES, parameter_count, shape_config

    return {name: parameter_count(shape_config(name)) for name in SHAPES}


@st.cache_data(show_spinner=False, max_entries=8)
def parse_prompt_file(data: bytes, filename: str):
    """A validated PromptSet (raises PromptFileError); cached so reruns do not re-parse an upload."""
    from engine.evaluation.prompts import parse_prompts

    return parse_prompts(data, filename)


def sample_prompts():
    return parse_prompt_file(SAMPLE_PROMPTS.read_bytes(), SAMPLE_PROMPTS.name)


def runs() -> list[dict]:
    """Every stored run, newest first (read fresh: other tabs and the worker write too)."""
    return store().list_runs()


def run_record(run_id: str) -> dict | None:
    try:
        return store().get_run(run_id)
    except KeyError:
        return None


def run_label(row: dict) -> str:
    sweep = f" · sweep {row['sweep']}" if row.get("sweep") else ""
    return f"{row['run_id']} · {row['created'][:16].replace('T', ' ')} · {row['model']} · {row['status']}{sweep}"


def sweeps() -> list[dict]:
    """Every stored sweep, newest first (read fresh, as runs are)."""
    return store().list_sweeps()


def sweep_record(sweep_id: str) -> dict | None:
    """A sweep with its runs' records (Store.get_sweep), or None when no sweep has that id."""
    try:
        return store().get_sweep(sweep_id)
    except KeyError:
        return None


def report_bytes(run_ids: str | list[str], fmt: str) -> bytes:
    """A forwardable report of one stored run, or of several as one comparison (a sweep's runs), in html, pdf or
    disclosure, rendered by the engine."""
    from engine.reports import build_report, render

    return render(build_report(store(), [run_ids] if isinstance(run_ids, str) else list(run_ids)), fmt)
