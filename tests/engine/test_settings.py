"""Settings are one dataclass: the CLI's options and the command that repeats a run are derived
from its fields, so a run started anywhere (a script, the dashboard) repeats from its report."""

from dataclasses import asdict, replace

import typer

from engine.cli import app, settings_from_options
from engine.reports.repeat import repeat_args
from engine.settings import RunSettings, settings_args


def parse_run_args(args: list[str]) -> RunSettings:
    """What `compecon run ARGS` would run with, parsed by the CLI's own click command."""
    command = typer.main.get_command(app).commands["run"]
    return settings_from_options(command.make_context("run", list(args)).params)


def test_every_setting_has_a_flag_that_parses_back():
    settings = RunSettings(device="cuda", device_map="auto", prompt_tokens=64, output_tokens=32,
                           batch_sizes=(1, 4, 16), cost_batch=4, energy_s=0.5, grid_carbon=250.0,
                           electricity_price=0.31,
                           hardware="A10G", price_per_hour=1.234567891, utilisation=0.45, decode_steps=5,
                           decode_path="both", max_tpot_ms=42.5, repeats=2, eval_tokens=256, keep_artifacts=False,
                           primary="kl_divergence", tolerance_pct=0.05, max_new_tokens=9, eval_batch=7,
                           calibration_share=0.25, seed=3, limit=40, calibration="both", threads=3)
    assert all(getattr(settings, k) != v for k, v in asdict(RunSettings()).items())  # every field differs
    assert parse_run_args(settings_args(settings)) == settings
    assert parse_run_args(settings_args(RunSettings())) == RunSettings()


def test_a_dashboard_run_repeats_from_its_report():
    form = {"device": "cpu", "prompt_tokens": 128, "output_tokens": 64, "batch_sizes": [1, 8], "cost_batch": 8,
            "hardware": "cpu-2vcpu", "price_per_hour": 0.096, "utilisation": 0.6, "primary": None,
            "tolerance_pct": 2.0, "calibration_share": 0.2, "keep_artifacts": True, "calibration": "auto",
            "decode_path": "plain", "max_tpot_ms": 250.0, "decode_steps": 8, "repeats": 2, "max_new_tokens": 16,
            "eval_tokens": 1024, "eval_batch": 16}  # what dashboard/components/settings_form.py submits
    settings = RunSettings.from_dict(form)
    record = {"model": {"name": "smollm2-135m"}, "device": {"type": "cpu", "name": "test CPU"},
              "plans": [{"plan": "fp32"}, {"plan": "int8"}],
              "settings": {**asdict(settings), "batch_sizes": [1, 8],
                           "cost": {"hardware": "cpu-2vcpu", "price_per_hour": 0.096},
                           "verdict": {"metric": "task_accuracy"},
                           "prompts": {"name": "mine", "sha256": "ab" * 32}}}
    args = repeat_args(record)
    assert args[:4] == ["compecon", "run", "--model", "smollm2-135m"]
    assert "--decode-path" in args and "--max-tpot-ms" in args and "--cost-batch" in args
    options = args[2:]
    assert parse_run_args(options) == replace(settings, primary="task_accuracy")
