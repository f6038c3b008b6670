"""The front door tells the truth: the terminal table fits 100 columns (every column behind --wide), a plan's
stages are printed as they happen, runs and their model files can be deleted, and the README says what the
product does and costs on disk."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from engine.pipeline import run
from engine.registry import STEPS
from engine.reports.terminal import WIDTH, render
from engine.settings import plans_for
from engine.store import Store
from tests.reliability.conftest import QUICK

README = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())  # lines joined
LONG = "smoothquant:alpha=auto+w8a8"


def _record(names: list[str]) -> dict:
    """A run record as the store gives it back, with the widest values each column can hold."""
    plan = {"status": "ok", "runtime": {"name": "llama.cpp"}, "backend": "optimum-quanto",
            "size": {"weight_bytes": 16_060_000_000, "compression_ratio": 12.34, "bits_per_weight": 16.0},
            "latency": {"ttft_ms": 12345.6, "tpot_ms": 1234.5, "roofline_efficiency": 0.123, "busy": True},
            "cost": {"usd_per_1k_queries": 123.4567},
            "accuracy": {"perplexity": 12345.67, "ppl_delta_pct": -100.0, "kl_divergence": 1.2345,
                         "top1_agreement": 0.5, "generation_agreement": 0.5, "task_accuracy": 0.5,
                         "accuracy_delta_pts": -50.0},
            "verdict": {"state": "inconclusive", "delta_ci95": [-12.34, 12.34]}}
    return {"plans": [{**plan, "plan": name} for name in names] + [{"plan": "int2", "status": "interrupted",
                                                                     "error": None}],
            "settings": {"verdict": {"metric": "task_accuracy", "rule": "within 1%"}}, "recommendation": None}


def test_the_table_fits_100_columns_and_wide_shows_every_column():
    record = _record(["fp32", "gguf:type=q4_k_m", LONG, "distill:keep=0.5,steps=500+gguf:type=q4_k_m"])
    narrow = render(record).splitlines()
    assert max(map(len, narrow)) <= WIDTH == 100, max(narrow, key=len)
    assert f"plan in full: {LONG}" in narrow or any(line.startswith(LONG) for line in narrow)
    assert "task_acc" in narrow[0] and "usd_1k" in narrow[0]  # the verdict's own metric and the cost
    assert "int2: interrupted" in narrow and not any(line.rstrip().endswith(" -") for line in narrow)
    wide = render(record, wide=True).splitlines()
    for column in ("backend", "ttft_ms", "bpw", "roofline", "ppl", "kl", "top1", "gen_agree"):
        assert column in wide[0]
    assert "bpw" not in narrow[0]


def test_a_plans_stages_are_printed_as_they_happen(tiny_llama):
    result = CliRunner().invoke(app, ["run", "--model", str(tiny_llama), "--plan", "int8", "--decode-steps", "2",
                                      "--repeats", "1", "--eval-tokens", "64", "--prompt-tokens", "8",
                                      "--no-keep-artifacts"])
    assert result.exit_code == 0, result.output
    stages = [line.strip() for line in result.output.splitlines() if line.startswith("  ") and "..." in line]
    assert {"compressing ...", "measuring latency ...", "evaluating accuracy ..."} <= set(stages)
    assert max(len(line) for line in result.output.splitlines() if "|" not in line) <= 100


def test_delete_removes_a_run_and_its_model_files(tiny_llama):
    record = run(str(tiny_llama), plans_for(["int8"], None, "cpu"), QUICK, progress=lambda event: None)
    folder = Path(record["plans"][1]["runtime"]["artifact"]).parents[1]
    assert folder.is_dir()
    result = CliRunner().invoke(app, ["delete", record["run_id"]])
    assert result.exit_code == 0 and "MB of model files freed" in result.output, result.output
    assert not folder.exists() and record["run_id"] not in [r["run_id"] for r in Store().list_runs()]
    missing = CliRunner().invoke(app, ["delete", "no-such-run"])
    assert missing.exit_code == 2 and "no run matches" in missing.output


def test_a_running_run_is_not_deleted():
    store = Store()
    run_id = store.create_run({"name": "m"}, {"type": "cpu"}, {}, ["fp32"])  # owned by this live process
    result = CliRunner().invoke(app, ["delete", run_id])
    assert result.exit_code == 2 and "still running" in result.output
    store.delete_run(run_id)


def test_the_readme_names_every_step_and_what_a_run_keeps_on_disk():
    intro = README.split("## Start here")[0]
    for name in ("INT8", "INT4", "INT2", "FP8", "HQQ", "mixed precision", "SmoothQuant", "distillation",
                 "quantization-aware distillation", "GGUF"):
        assert name.lower() in intro.lower(), name
    assert "as they land" not in README
    for step in STEPS:
        assert f"`{step}" in README, step  # every registered step has an example
    assert re.search(r"about [\d,]+ MB", README) and "--no-keep-artifacts" in README and "compecon delete" in README
    assert "20 MB" in README and "50 MB" not in README


def test_over_limit_prompt_files_are_told_what_they_can_do():
    """No advice to 'raise the limit': no option raises it."""
    import pytest

    from engine.evaluation.prompts import Limits, PromptFileError, parse_prompts

    cases = [(b'{"prompt": "a"}\n' * 20, Limits(max_bytes=100)), (b'{"prompt": "a"}\n' * 3, Limits(max_rows=2)),
             (b'{"prompt": "aaaaaaaaaa"}\n', Limits(max_prompt_chars=5))]
    for data, limits in cases:
        with pytest.raises(PromptFileError) as error:
            parse_prompts(data, "p.jsonl", limits)
        assert "raise" not in str(error.value) and ("split" in str(error.value) or "shorten" in str(error.value))
