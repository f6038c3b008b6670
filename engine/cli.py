"""`compecon`: the command line, thin over the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Compression Economics: how much smaller, faster and cheaper, at what accuracy.")


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def models():
    """List the model sources you can pass to --model."""
    from engine.models import describe_models

    for row in describe_models():
        typer.echo(f"{row['spec']:<22} {row['source']:<9} {row['about']}")


@app.command()
def methods():
    """List the compression steps, their parameters, and the presets."""
    from engine.registry import PRESETS, STEPS, load_builtin_steps

    load_builtin_steps()
    for name, spec in sorted(STEPS.items()):
        params = ", ".join(f"{k}={p.default}" for k, p in spec.params.items())
        typer.echo(f"{name:<8} {spec.doc}" + (f"  [{params}]" if params else ""))
    typer.echo("")
    for name, plans in PRESETS.items():
        typer.echo(f"preset {name}: baseline, {', '.join(plans)}")


@app.command()
def run(
    model: str = typer.Option("smollm2-135m", help="model spec (see `compecon models`)"),
    plan: list[str] | None = typer.Option(None, "--plan", "-p", help="a plan such as int4:group=64; repeat"),
    preset: str | None = typer.Option(None, help="a named set of plans (see `compecon methods`)"),
    device: str = typer.Option("auto", help="cpu, cuda or auto"),
    json_path: Path | None = typer.Option(None, "--json", help="write the run record here"),
    batch: list[int] = typer.Option([1], "--batch", help="batch sizes to measure; repeat"),
    prompt_tokens: int = typer.Option(128, help="prompt length per query (ttft, cost)"),
    output_tokens: int = typer.Option(128, help="generated tokens per query (cost)"),
    hardware: str | None = typer.Option(None, help="price-table row (sample_data/prices.csv)"),
    price_per_hour: float | None = typer.Option(None, help="override the hardware price, USD/h"),
    utilisation: float = typer.Option(0.6, help="share of paid time spent serving, (0, 1]"),
    decode_steps: int = typer.Option(16, help="decode steps timed per repeat"),
    repeats: int = typer.Option(3, help="timed repeats after warm-up"),
    decode_path: str = typer.Option("auto", help="plain, serving (static cache + CUDA graph), compiled (serving "
                                    "+ torch.compile), both (plain+serving), all, auto (both on GPU, plain on CPU)"),
    max_tpot_ms: float = typer.Option(100.0, help="slowest acceptable ms per output token when picking a batch size"),
    eval_tokens: int = typer.Option(2048, help="evaluation tokens for perplexity/KL"),
    prompts: Path | None = typer.Option(None, help="your prompts: .jsonl, .csv or .txt"),
    calibration_share: float = typer.Option(0.0, help="share of the prompts held out for calibration"),
    primary: str | None = typer.Option(None, help="verdict metric (default: task_accuracy, else top1_agreement)"),
    tolerance: float = typer.Option(1.0, help="allowed relative loss on the primary metric, in percent"),
    limit: int | None = typer.Option(None, help="evaluate only the first N prompts (quick looks)"),
    max_new_tokens: int = typer.Option(16, help="greedy tokens generated per prompt"),
    calibration: str = typer.Option("auto", help="calibration data for calibrated steps: auto, prompts, texts, both"),
    calibration_check: bool = typer.Option(False, help="run each calibrated plan on generic texts and on your prompts"),
):
    """Compress the model under each plan, measure it, and store the run."""
    from engine.calibration import calibration_variants
    from engine.evaluation.prompts import PromptFileError, load_prompts
    from engine.evaluation.verdict import Tolerance
    from engine.measure.decode_paths import resolve_paths
    from engine.models import ModelError
    from engine.pipeline import RunError, RunSettings, plans_for, resolve_device
    from engine.pipeline import run as run_plans
    from engine.plan import PlanError
    from engine.progress import ConsoleProgress
    from engine.report_table import render

    try:
        plans = plans_for(plan, preset, resolve_device(device))
        prompt_set = load_prompts(prompts) if prompts else None
        if calibration_check:
            if prompt_set is None or calibration_share <= 0:
                raise ValueError("--calibration-check needs --prompts and a --calibration-share above 0")
            plans = calibration_variants(plans)
        resolve_paths(decode_path, "cpu")  # refuse an unknown path before anything runs
        if primary:
            Tolerance(primary, tolerance)  # refuse a bad metric before anything runs
        settings = RunSettings(
            device=device, batch_sizes=tuple(batch), prompt_tokens=prompt_tokens, output_tokens=output_tokens,
            hardware=hardware, price_per_hour=price_per_hour, utilisation=utilisation,
            decode_steps=decode_steps, repeats=repeats, eval_tokens=eval_tokens, primary=primary,
            tolerance_pct=tolerance, calibration_share=calibration_share, limit=limit,
            max_new_tokens=max_new_tokens, calibration=calibration, decode_path=decode_path,
            max_tpot_ms=max_tpot_ms,
        )
        with ConsoleProgress() as progress:
            record = run_plans(model, plans, settings, progress=progress, prompts=prompt_set)
    except (PlanError, RunError, ModelError, PromptFileError, ValueError) as error:
        _fail(str(error))
    typer.echo(render(record))
    typer.echo(f"run id: {record['run_id']}")
    if json_path:
        json_path.write_text(json.dumps(record, indent=2))
        typer.echo(f"run record written to {json_path}")


@app.command()
def runs():
    """One line per stored run."""
    from engine.store import Store

    for r in Store().list_runs():
        typer.echo(f"{r['run_id']}  {r['created']}  {r['status']:<11} {r['model']:<18} "
                   f"{r['finished_plans']}/{len(r['plans'])} plans: {', '.join(r['plans'])}")


@app.command()
def show(run_id: str, prompts: bool = typer.Option(False, "--prompts", help="list the worst prompts per plan"),
         worst: int = typer.Option(5, help="how many prompts per plan with --prompts")):
    """The comparison table of one stored run."""
    from engine.report_table import render, render_worst_prompts
    from engine.store import Store

    store = Store()
    try:
        record = store.get_run(run_id)
    except KeyError as error:
        _fail(str(error.args[0]))
    typer.echo(f"run {record['run_id']} ({record['status']}), {record['model']['name']} on {record['device']['name']}")
    typer.echo(render(record))
    if prompts:
        typer.echo(render_worst_prompts(record, store.prompt_records(record["run_id"]), worst))


@app.command()
def export(run_id: str, format: str = typer.Option("json", help="json or csv"),
           output: Path | None = typer.Option(None, "-o", help="file to write (default: stdout)")):
    """Export a stored run as JSON or CSV."""
    from engine.exporting import to_csv, to_json
    from engine.store import Store

    writers = {"json": to_json, "csv": to_csv}
    if format not in writers:
        _fail(f"unknown format '{format}': use json or csv")
    try:
        text = writers[format](Store().get_run(run_id))
    except KeyError as error:
        _fail(str(error.args[0]))
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@app.command()
def report(runs: list[str] = typer.Argument(..., help="run ids or unique prefixes; several make one comparison"),
           format: str = typer.Option("html", "--format", "-f",
                                      help="html, pdf, md, disclosure, csv, json, prompts-csv or prompts-jsonl"),
           output: Path | None = typer.Option(None, "-o", "--output", help="file to write (default: "
                                                                           "compecon-report-RUN.EXT here)"),
           prompts_csv: Path | None = typer.Option(None, "--prompts-csv", help="also write the per-prompt CSV here"),
           samples: int = typer.Option(3, help="prompts shown per plan (those it broke first)")):
    """A report to forward: HTML, PDF, Markdown, CSV/JSON, and the compression disclosure card."""
    from engine.reports import ReportError, check_format, write_report
    from engine.store import Store

    try:
        check_format(format)
        store = Store()
        path = write_report(store, runs, format, output, samples)
        typer.echo(f"{format} report written to {path}")
        if prompts_csv:
            typer.echo(f"per-prompt CSV written to {write_report(store, runs, 'prompts-csv', prompts_csv)}")
    except ReportError as error:
        _fail(str(error))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ui(ctx: typer.Context):
    """Start the dashboard; Streamlit's own options pass through (e.g. --server.port 8600)."""
    import os

    root = Path(__file__).resolve().parents[1]
    os.chdir(root)  # so the project's .streamlit/config.toml applies; STREAMLIT_* variables still win
    command = [sys.executable, "-m", "streamlit", "run", str(root / "dashboard" / "app.py"), *ctx.args]
    os.execv(sys.executable, command)


@app.command()
def worker(device: str = typer.Option("cpu", help="cpu or cuda"),
           idle_exit: float = typer.Option(300, help="exit after this many seconds without a queued job")):
    """Run the dashboard's queued jobs for one device (the dashboard starts one by itself)."""
    from engine.worker import serve

    if device not in ("cpu", "cuda"):
        _fail(f"unknown device '{device}': use cpu or cuda")
    raise typer.Exit(serve(device, idle_exit))


def main():
    from transformers.utils import logging as hf_logging

    # The CLI prints its own progress; transformers' per-load bars and notices are noise here.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    app()


if __name__ == "__main__":
    main()
