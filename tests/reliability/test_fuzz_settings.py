"""Plan strings and run settings, fuzzed: no input crashes the parser or the settings, every refusal names the
step or the flag and the problem, and `compecon run` refuses before a model loads or anything is stored.

Fuzzed inputs per test (the suite's total is stated in bench/RESULTS.md): FREE_TEXT_PLANS random strings,
STRUCTURED_PLANS plans built from the registry's own steps and parameters with hostile values,
SETTINGS_VALUES values for every RunSettings field, CLI_ARGS `compecon run` command lines.
"""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.plan import PlanError, parse
from engine.registry import STEPS
from engine.settings import RunSettings, SettingError, setting_flag
from engine.store import Store

FREE_TEXT_PLANS = 4000
STRUCTURED_PLANS = 3000
SETTINGS_VALUES = 3000
CLI_ARGS = 400

NUMBERS = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "1_000", "", " ", "auto", "true"]))
HOSTILE = st.one_of(st.text(max_size=30), st.sampled_from(["=", ",", "+", ":", "<b>x</b>", "\x00", "é", "∞"]))


@settings(max_examples=FREE_TEXT_PLANS, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_with_a_reason(text):
    try:
        plan = parse(text)
    except PlanError as error:
        assert str(error).strip(), "a refusal says why"
        return
    assert parse(str(plan)) == plan  # what parses prints back to itself


@st.composite
def structured_plans(draw):
    steps = []
    for name in draw(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=3)):
        keys = draw(st.lists(st.one_of(st.sampled_from(sorted(STEPS[name].params) or ["x"]), HOSTILE), max_size=3))
        pairs = [f"{key}={draw(st.one_of(NUMBERS.map(str), HOSTILE))}" for key in keys]
        steps.append(name + (":" + ",".join(pairs) if pairs else ""))
    return "+".join(steps)


@settings(max_examples=STRUCTURED_PLANS, deadline=None)
@given(structured_plans())
def test_registry_steps_with_hostile_values_parse_or_are_refused(text):
    try:
        plan = parse(text)
    except PlanError as error:
        assert "step" in str(error) or "plan" in str(error), error
        return
    for step in plan.steps:  # every number that got through is finite and inside its declared range
        for key, value in step.params:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                bounds = STEPS[step.name].params[key].bounds
                assert math.isfinite(value)
                assert bounds.low is None or value >= bounds.low
                assert bounds.high is None or value <= bounds.high


FIELDS = [f.name for f in fields(RunSettings)]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=12), st.tuples(st.integers(-5, 5000)))


@settings(max_examples=SETTINGS_VALUES, deadline=None)
@given(st.sampled_from(FIELDS), VALUES)
def test_every_setting_value_is_kept_or_refused_naming_its_flag(name, value):
    try:
        made = RunSettings(**{name: value})
    except SettingError as error:
        assert str(error).startswith(setting_flag(name) + " "), error
        return
    meta = next(f.metadata for f in fields(RunSettings) if f.name == name)
    kept = getattr(made, name)
    for item in kept if name == "batch_sizes" else (kept,):
        if meta["bounds"] and isinstance(item, (int, float)) and not isinstance(item, bool):
            assert meta["bounds"].problem(item) is None
        if meta["choices"] and item is not None:
            assert item in meta["choices"]


# The cases, each with the flag or step the message must name.
REFUSED = [
    (["--tolerance", "nan"], "--tolerance"),
    (["--price-per-hour", "nan"], "--price-per-hour"),
    (["--limit", "0"], "--limit"),
    (["--batch", "1", "--batch", "0"], "--batch 0"),
    (["--repeats", "0"], "--repeats"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
    (["--batch", "0"], "--batch"),
    (["--utilisation", "0"], "--utilisation"),
    (["--plan", "distill:keep=2"], "keep"),
    (["--plan", "smoothquant:alpha=7+w8a8"], "alpha"),
    (["--plan", "mixed:bits=4,budget_bpw=-1"], "budget_bpw"),
    (["--plan", "mixed:bits=4,budget_bpw=4.5"], "budget_bpw"),
    (["--plan", "mixed:bits=4"], "keep=N"),
    (["--plan", "int8", "--json", "/nonexistent-folder/run.json"], "--json"),
    (["--plan", "int8", "--hardware", "no-such-machine"], "no-such-machine"),
]


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any refusal must come before the model loads: loading fails the test."""
    import engine.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(engine.pipeline, "load_model", refuse)
    monkeypatch.setattr(engine.pipeline, "run", refuse)


@pytest.mark.parametrize(("args", "named"), REFUSED)
def test_cli_refuses_before_loading_naming_the_option(args, named, no_model_loads):
    before = len(Store().list_runs())
    result = CliRunner().invoke(app, ["run", "--model", "smollm2-135m", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output and "error:" in result.output
    assert "Traceback" not in result.output
    assert len(Store().list_runs()) == before  # nothing stored


CLI_VALUES = st.one_of(st.integers(-3, 3).map(str), st.sampled_from(["nan", "inf", "-1", "1e9", "abc", ""]))


@settings(max_examples=CLI_ARGS, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([setting_flag(n) for n in FIELDS if n != "keep_artifacts"]), CLI_VALUES)
def test_cli_settings_never_crash(no_model_loads, flag, value):
    result = CliRunner().invoke(app, ["run", "--plan", "int8", flag, value])
    # refused (2: usage or range), or accepted and stopped at the load that must not happen here
    if result.exit_code == 2:
        assert "Traceback" not in result.output
    else:
        assert isinstance(result.exception, AssertionError), result.output
