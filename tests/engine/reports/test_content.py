"""The report model: verdict first, deltas against the baseline, slices, samples, assumptions,
environment, and a repeat command the CLI accepts."""

import pytest
import typer

from engine.cli import app
from engine.reports import ReportError, build_report
from engine.reports.repeat import repeat_args

from .conftest import FORMULA, SCRIPT


def test_headline_is_the_stored_recommendation(report, embedded_run):
    run = report.runs[0]
    assert run.headline.sentence == embedded_run["recommendation"]["reason"]
    assert run.headline.plan == embedded_run["recommendation"]["plan"]
    assert run.key_points and any("Smallest: int8" in p for p in run.key_points)


def test_deltas_are_against_the_runs_own_baseline(report, embedded_run):
    base, int8 = embedded_run["plans"]
    row = {r.plan: r for r in report.runs[0].performance.rows}["int8"]
    expected = 100 * (int8["size"]["weight_bytes"] - base["size"]["weight_bytes"]) / base["size"]["weight_bytes"]
    assert row.cells["size_change"].value == pytest.approx(expected)
    assert row.cells["size_change"].tone == "good" and row.cells["size_change"].text.startswith("-")
    cost = 100 * (int8["cost"]["usd_per_1k_queries"] / base["cost"]["usd_per_1k_queries"] - 1)
    assert row.cells["cost_change"].value == pytest.approx(cost)
    acc = {r.plan: r for r in report.runs[0].accuracy.rows}["int8"]
    assert acc.cells["kl"].value == int8["accuracy"]["kl_divergence"]
    assert acc.cells["verdict"].text in ("within", "outside")


def test_slices_samples_and_evaluation_data(report, embedded_run, prompt_set):
    run = report.runs[0]
    slices = {r.cells["slice"].text for r in run.slices.rows}
    assert any("category arithmetic" in s for s in slices) and any("numbers" in s for s in slices)
    assert run.samples and {s.plan for s in run.samples} == {"int8"}
    assert {s.prompt for s in run.samples} <= {item.prompt for item in prompt_set.items}
    evaluation = dict(run.evaluation)
    assert evaluation["sha256"] == prompt_set.sha256
    assert "5 prompts" in evaluation["Prompt set"]


def test_every_cost_assumption_and_the_environment(report, embedded_run):
    cost = embedded_run["settings"]["cost"]
    text = " ".join(v for _, v in report.runs[0].cost_assumptions)
    for fact in (cost["hardware"], f"${cost['price_per_hour']:g} per hour", f"{cost['utilisation']:.0%}",
                 f"{cost['prompt_tokens']} prompt + {cost['output_tokens']} output tokens"):
        assert fact in text
    software = dict(report.software)
    for library in ("torch", "transformers", "torchao", "optimum-quanto", "bitsandbytes"):
        assert software[library] and software[library] != "not installed"


def test_the_repeat_command_is_accepted_by_the_cli(report, embedded_run):
    args = repeat_args(embedded_run)
    assert args[:2] == ["compecon", "run"]
    assert [a for i, a in enumerate(args) if i and args[i - 1] == "--plan"] == ["fp32", "int8"]
    command = typer.main.get_command(app).commands["run"]
    ctx = command.make_context("run", args[2:])  # parses every option without running anything
    assert ctx.params["plan"] == ["fp32", "int8"] and ctx.params["max_new_tokens"] == 4
    assert "<" not in report.runs[0].command  # the prompt set's name is made file-safe


def test_shape_run_has_no_accuracy_and_says_so(store, shape_run):
    run = build_report(store, [shape_run["run_id"]]).runs[0]
    assert run.accuracy is None and run.slices is None and not run.samples
    assert run.headline.kind == "not-applicable"
    assert [c.key for c in run.savings.columns] == ["plan", "size", "cost", "speed"]


def test_unknown_runs_are_refused_by_name(store):
    with pytest.raises(ReportError, match="no run matches 'nosuchrun'"):
        build_report(store, ["nosuchrun"])
    with pytest.raises(ReportError, match="at least one run"):
        build_report(store, [])


def test_hostile_prompts_are_kept_verbatim_in_the_model(report):
    # The model holds user text as it is; each renderer escapes it for its medium.
    prompts = {s.prompt for s in report.runs[0].samples} | {r["prompt"] for r in report.runs[0].prompt_records}
    assert SCRIPT in prompts and FORMULA in prompts
