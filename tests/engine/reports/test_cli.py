"""`compecon report`: every format to a file, several runs in one report, clear errors."""

import json

import pytest
from typer.testing import CliRunner

from engine.cli import app

from .conftest import FORMULA


@pytest.mark.parametrize("fmt", ["md", "disclosure", "csv", "json", "html", "prompts-csv", "prompts-jsonl"])
def test_each_text_format_is_written(fmt, embedded_run, tmp_path):
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(app, ["report", embedded_run["run_id"][:8], "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.output and out.stat().st_size > 100
    if fmt == "json":
        assert json.loads(out.read_text())["runs"][0]["run_id"] == embedded_run["run_id"]


def test_two_runs_and_a_prompt_csv_alongside(embedded_run, shape_run, tmp_path):
    out, prompts = tmp_path / "both.md", tmp_path / "prompts.csv"
    result = CliRunner().invoke(app, ["report", embedded_run["run_id"], shape_run["run_id"], "-f", "md", "-o",
                                      str(out), "--prompts-csv", str(prompts)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "All runs side by side" in text and shape_run["run_id"] in text
    assert "'" + FORMULA in prompts.read_text()


def test_clear_errors(embedded_run, tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(app, ["report", "nosuchrun", "-o", str(tmp_path / "x.html")])
    assert unknown.exit_code == 2 and "no run matches 'nosuchrun'" in unknown.output
    bad = runner.invoke(app, ["report", embedded_run["run_id"], "--format", "docx"])
    assert bad.exit_code == 2 and "unknown format 'docx'" in bad.output and "pdf" in bad.output
    assert not (tmp_path / "x.html").exists()


@pytest.fixture(scope="module")
def swept(tiny_llama, tmp_path_factory):
    """A real sweep of two models (the tiny llama and a random-weight shape) in a store of its own."""
    from engine.settings import RunSettings, plans_for
    from engine.store import Store
    from engine.sweep import Cluster, sweep

    home = tmp_path_factory.mktemp("sweep-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COMPECON_LOCK_DIR", str(home / "locks"))
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        settings = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8,
                               eval_tokens=64, max_new_tokens=4, keep_artifacts=False)
        record = sweep([str(tiny_llama), "shape:smollm2-135m"], plans_for(["fp32", "int8"], None, "cpu"), settings,
                       None, Cluster(cpus=2), Store(home / "runs.sqlite"), progress=lambda e: None)
    return home, record


def test_a_sweep_id_reports_its_runs_as_one_comparison(swept, monkeypatch, tmp_path):
    home, record = swept
    monkeypatch.setenv("COMPECON_HOME", str(home))
    out = tmp_path / "sweep.json"
    result = CliRunner().invoke(app, ["report", record["sweep_id"][:6], "-f", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["run_id"] for r in json.loads(out.read_text())["runs"]] == [r["run_id"] for r in record["runs"]]
    md = tmp_path / "sweep.md"
    assert CliRunner().invoke(app, ["report", record["sweep_id"], "-f", "md", "-o", str(md)]).exit_code == 0
    assert "All runs side by side" in md.read_text()
    unknown = CliRunner().invoke(app, ["report", "nosuchsweep"])
    assert unknown.exit_code == 2 and "no run matches 'nosuchsweep', nor any sweep" in unknown.output
