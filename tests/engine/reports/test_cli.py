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
