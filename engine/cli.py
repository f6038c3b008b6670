"""`compecon`: the command line, thin over the engine.

`compecon run`'s measurement options are not written here: one option per `RunSettings` field,
derived from the dataclass (engine/settings.py), so every setting has a flag and the command a
report prints to repeat a run parses back to the same settings. The heavier modules (the
pipeline, the reports, the store) are imported by the commands that use them.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

import typer
from tqdm import tqdm

from engine.settings import PlanEvent, ProgressEvent, RunEvent, RunSettings, setting_flag, setting_types

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Compression Economics: how much smaller, faster and cheaper, at what accuracy.")


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


class ConsoleProgress:
    """The pipeline's progress callable on a terminal: plan lines, and a bar while prompts are evaluated."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now, so a captured stderr is honoured
        self.bar = None
        self.stage = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()
        return False

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, event) -> None:
        match event:
            case PlanEvent(state="stage"):  # what a plan is doing now: a step can take minutes
                self._close()
                print(f"  {event.message} ...", file=self.stream, flush=True)
            case str() | PlanEvent() | RunEvent():
                self._close()
                print(getattr(event, "message", event), file=self.stream, flush=True)
            case ProgressEvent():
                self._bar(event)

    def _bar(self, event: ProgressEvent) -> None:
        if self.bar is None or self.stage != event.stage or self.bar.total != event.total:
            self._close()
            self.stage = event.stage
            self.bar = tqdm(total=event.total, desc=f"  {event.stage}", unit="prompt", file=self.stream,
                            leave=False, dynamic_ncols=True)
        self.bar.update(event.done - self.bar.n)
        if event.done >= event.total:
            self._close()


def _check_writable(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written, before a run spends minutes to fill it."""
    target = path.expanduser().resolve()
    if target.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    if not target.parent.is_dir():
        raise ValueError(f"{option} {path}: the folder {target.parent} does not exist")
    if not os.access(target if target.exists() else target.parent, os.W_OK):
        raise ValueError(f"{option} {path}: not writable")


def settings_parameters() -> list[inspect.Parameter]:
    """One command-line option per RunSettings field: its flag, type, default and help."""
    types = setting_types()
    out = []
    for f in fields(RunSettings):
        kind, flag = types[f.name], setting_flag(f.name)
        if f.name == "batch_sizes":
            default, annotation = list(f.default), list[int]
        else:
            default, annotation = f.default, (kind | None) if f.default is None else kind
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        option = typer.Option(default, *decls, help=f.metadata["help"])
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return out


def settings_from_options(options: dict) -> RunSettings:
    """The RunSettings the parsed options of `compecon run` describe."""
    return RunSettings.from_dict(options)


RUN_OPTIONS = [
    inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                      default=typer.Option("smollm2-135m", help="model spec (see `compecon models`)")),
    inspect.Parameter("plan", inspect.Parameter.KEYWORD_ONLY, annotation=list[str] | None,
                      default=typer.Option(None, "--plan", "-p", help="a plan such as int4:group=64; repeat")),
    inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                      default=typer.Option(None, help="a named set of plans (see `compecon methods`)")),
    inspect.Parameter("json_path", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                      default=typer.Option(None, "--json", help="write the run record here")),
    inspect.Parameter("prompts", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                      default=typer.Option(None, help="your prompts: .jsonl, .csv or .txt")),
    inspect.Parameter("wide", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--wide", help="every column of the table (default: fits 100)")),
    inspect.Parameter("calibration_check", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, help="run each calibrated plan on generic texts and on your "
                                                       "prompts")),
]


@app.command()
def models():
    """List the model sources you can pass to --model."""
    from engine.models import describe_models

    for row in describe_models():
        typer.echo(f"{row['spec']:<22} {row['source']:<9} {row['about']}")


@app.command()
def methods():
    """List the compression steps, their parameters, and the presets."""
    import engine.methods  # noqa: F401  (registers the steps)
    from engine.registry import PRESETS, STEPS

    for name, spec in sorted(STEPS.items()):
        params = ", ".join(f"{k}={p.default}" for k, p in spec.params.items())
        typer.echo(f"{name:<8} {spec.doc}" + (f"  [{params}]" if params else ""))
    typer.echo("")
    for name, by_device in PRESETS.items():
        typer.echo(f"preset {name}: " + "; ".join(f"on {device}: baseline, {', '.join(plans)}"
                                                  for device, plans in by_device.items()))


def _prepare(options: dict):
    """The settings, plans and prompts `run` and `sweep` were given, every one checked before anything runs."""
    from engine.cost import assumptions
    from engine.evaluation.prompts import load_prompts
    from engine.evaluation.verdict import Tolerance
    from engine.settings import calibration_variants, check_split, plans_for, resolve_device

    settings = settings_from_options(options)
    plans = plans_for(options["plan"], options["preset"], resolve_device(settings.device))
    check_split(plans, settings)
    prompt_set = load_prompts(options["prompts"]) if options["prompts"] else None
    if options["calibration_check"]:
        if prompt_set is None or settings.calibration_share <= 0:
            raise ValueError("--calibration-check needs --prompts and a --calibration-share above 0")
        plans = calibration_variants(plans)
    assumptions(settings.device, "", settings.hardware, settings.price_per_hour)  # an unknown --hardware
    if options["json_path"]:
        _check_writable(options["json_path"], "--json")
    if settings.primary:
        Tolerance(settings.primary, settings.tolerance_pct)  # refuse a bad metric before anything runs
    return settings, plans, prompt_set


def _input_errors():
    from engine.evaluation.prompts import PromptFileError
    from engine.models import ModelError
    from engine.plan import PlanError
    from engine.settings import RunError

    return PlanError, RunError, ModelError, PromptFileError, ValueError


def _write_json(json_path: Path | None, data: dict, stored: str) -> None:
    if not json_path:
        return
    try:
        json_path.write_text(json.dumps(data, indent=2))
    except OSError as error:
        _fail(f"{stored} is stored, but --json {json_path} could not be written ({error.strerror}); "
              "`compecon export RUN -o FILE` writes a run later", 1)
    typer.echo(f"record written to {json_path}")


def run(**options):
    """Compress the model under each plan, measure it, and store the run."""
    from engine.pipeline import run as run_plans
    from engine.reports.terminal import render
    from engine.store import StoreError

    try:
        settings, plans, prompt_set = _prepare(options)
        with ConsoleProgress() as progress:
            record = run_plans(options["model"], plans, settings, progress=progress, prompts=prompt_set)
    except _input_errors() as error:
        _fail(str(error))
    except StoreError as error:  # the disk, not the input: exit 1
        _fail(str(error), 1)
    typer.echo(render(record, options["wide"]))
    typer.echo(f"run id: {record['run_id']}")
    _write_json(options["json_path"], record, f"the run ({record['run_id']})")
    failed = [p["plan"] for p in record["plans"] if p["status"] != "ok"]
    if failed:  # a script must not read a run with failed plans as a finished comparison
        _fail(f"{len(failed)} of {len(record['plans'])} plans did not finish ({', '.join(failed)}); the run keeps "
              "the others", 1)


run.__signature__ = inspect.Signature(RUN_OPTIONS + settings_parameters())
app.command()(run)


SWEEP_OPTIONS = [
    inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, annotation=list[str],
                      default=typer.Option(..., "--model", "-m", help="a model spec; repeat (see `compecon models`)")),
    *RUN_OPTIONS[1:],
    inspect.Parameter("address", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                      default=typer.Option(None, help="an existing Ray cluster: auto, host:port or ray://host:port "
                                                      "(default: start a local Ray on loopback)")),
    inspect.Parameter("cpus", inspect.Parameter.KEYWORD_ONLY, annotation=int | None,
                      default=typer.Option(None, help="CPUs of the local Ray (default: this machine's)")),
    inspect.Parameter("cpus_per_cell", inspect.Parameter.KEYWORD_ONLY, annotation=int | None,
                      default=typer.Option(None, help="CPUs a CPU cell asks for (default: a whole node's, so cells "
                                                      "never time each other)")),
    inspect.Parameter("retries", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                      default=typer.Option(1, help="times a cell runs again after its Ray worker died")),
]


def sweep(**options):
    """Run models × plans as one sweep on a Ray cluster: each (model, plan) cell a Ray task, each model's baseline
    first, every cell stored as it lands. The same sweep again measures only the cells it lacks."""
    from engine.models import check_spec
    from engine.reports.terminal import render
    from engine.store import StoreError
    from engine.sweep import Cluster, SweepSpec
    from engine.sweep import sweep as run_sweep

    try:
        settings, plans, prompt_set = _prepare(options)
        for model in options["model"]:
            check_spec(model)
        SweepSpec(tuple(options["model"]), tuple(plans), settings, prompt_set)  # a model given twice
        cluster = Cluster(options["address"], options["cpus"], options["cpus_per_cell"], options["retries"])
        with ConsoleProgress() as progress:
            record = run_sweep(options["model"], plans, settings, prompt_set, cluster, progress=progress)
    except _input_errors() as error:
        _fail(str(error))
    except StoreError as error:
        _fail(str(error), 1)
    except ConnectionError as error:  # the Ray cluster at --address cannot be reached
        _fail(f"the Ray cluster at {options['address']} cannot be reached: {error}", 1)
    for run_record in record["runs"]:
        typer.echo(f"\n{run_record['model']['name']} (run {run_record['run_id']})")
        typer.echo(render(run_record, options["wide"]))
    typer.echo(f"sweep id: {record['sweep_id']}")
    _write_json(options["json_path"], record, f"the sweep ({record['sweep_id']})")
    lost = [f"{r['model']['name']} × {p['plan']}" for r in record["runs"] for p in r["plans"] if p["status"] != "ok"]
    lost += [f"{model} ({error})" for model, error in record.get("errors", {}).items()]
    if lost:
        _fail(f"{len(lost)} cells did not finish: {'; '.join(lost)}; run the same sweep again to measure only "
              "these", 1)


sweep.__signature__ = inspect.Signature(SWEEP_OPTIONS + settings_parameters())
app.command()(sweep)


@app.command()
def runs():
    """One line per stored run; a sweep's runs under their sweep."""
    from engine.store import Store

    store = Store()
    sweeps = {s["sweep_id"]: s for s in store.list_sweeps()}
    shown = set()
    for r in store.list_runs():
        indent = ""
        if r["sweep"] and r["sweep"] in sweeps:
            indent = "  "
            if r["sweep"] not in shown:
                shown.add(r["sweep"])
                s = sweeps[r["sweep"]]
                spec = s["spec"]
                typer.echo(f"sweep {s['sweep_id']}  {s['created']}  {s['status']:<11} {len(spec['models'])} models "
                           f"× {len(spec['plans'])} plans = {len(spec['models']) * len(spec['plans'])} cells")
        typer.echo(f"{indent}{r['run_id']}  {r['created']}  {r['status']:<11} {r['model']:<18} "
                   f"{r['finished_plans']}/{len(r['plans'])} plans: {', '.join(r['plans'])}")


@app.command()
def delete(run_ids: list[str] = typer.Argument(..., help="run ids or unique prefixes (see `compecon runs`)")):
    """Delete runs and their saved model files (about 1 GB per run of the default model, unless it ran with
    --no-keep-artifacts)."""
    from engine.store import Store

    store = Store()
    for run_id in run_ids:
        try:
            if store.get_run(run_id)["status"] == "running":
                _fail(f"run {run_id} is still running; stop it first (Ctrl-C in its terminal, or Cancel on the "
                      "dashboard's Run page)")
            freed = store.delete_run(run_id)
        except KeyError as error:
            _fail(str(error.args[0]))
        typer.echo(f"deleted {run_id}: {freed / 1e6:,.1f} MB of model files freed")


@app.command()
def show(run_id: str, prompts: bool = typer.Option(False, "--prompts", help="list the worst prompts per plan"),
         worst: int = typer.Option(5, help="how many prompts per plan with --prompts"),
         wide: bool = typer.Option(False, "--wide", help="every column of the table (default: fits 100)")):
    """The comparison table of one stored run."""
    from engine.reports.terminal import render, render_worst_prompts
    from engine.store import Store

    store = Store()
    try:
        record = store.get_run(run_id)
    except KeyError as error:
        _fail(str(error.args[0]))
    typer.echo(f"run {record['run_id']} ({record['status']}), {record['model']['name']} on {record['device']['name']}")
    typer.echo(render(record, wide))
    if prompts:
        typer.echo(render_worst_prompts(record, store.prompt_records(record["run_id"]), worst))


@app.command()
def export(run_id: str, format: str = typer.Option("json", help="json or csv"),
           output: Path | None = typer.Option(None, "-o", help="file to write (default: stdout)"),
           plan: int | None = typer.Option(None, "--plan", help="with --artifact: the plan's position (0 = baseline; "
                                                               "default: the recommended plan)"),
           artifact: bool = typer.Option(False, "--artifact", help="write the plan's model file (GGUF or "
                                                                   "safetensors) instead of the record")):
    """Export a stored run as JSON or CSV, or a plan's compressed model file (--artifact)."""
    from engine.reports.tabular import to_csv, to_json
    from engine.store import Store

    writers = {"json": to_json, "csv": to_csv}
    if format not in writers:
        _fail(f"unknown format '{format}': use json or csv")
    try:
        record = Store().get_run(run_id)
    except KeyError as error:
        _fail(str(error.args[0]))
    if artifact:
        _export_artifact(record, plan, output)
        return
    text = writers[format](record)
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


def _export_artifact(record: dict, position: int | None, output: Path | None) -> None:
    """Copy a plan's artifact to `output`, checking it still has the sha256 the run recorded."""
    import shutil

    from engine.runtimes.llamacpp import sha256

    names = [p["plan"] for p in record["plans"]]
    if position is None:
        recommended = (record.get("recommendation") or {}).get("plan")
        if recommended not in names:
            _fail("this run recommends no plan: name one with --plan N (0 is the baseline)")
        position = names.index(recommended)
    if not 0 <= position < len(names):
        _fail(f"--plan must be 0..{len(names) - 1} for this run ({', '.join(names)})")
    runtime = record["plans"][position].get("runtime") or {}
    source = Path(runtime["artifact"]) if runtime.get("artifact") else None
    if source is None or not source.is_file():
        _fail(f"no model file was kept for plan {position} ({names[position]}); run with --keep-artifacts")
    if sha256(source) != runtime.get("artifact_sha256"):
        _fail(f"{source} no longer has the sha256 the run recorded; it was changed after the run")
    target = output or Path(f"{record['run_id']}-{source.name}")
    shutil.copyfile(source, target)
    typer.echo(f"{names[position]}: {target} ({target.stat().st_size / 1e6:,.1f} MB, {runtime['name']}), sha256 "
               f"{runtime['artifact_sha256']}")


@app.command()
def report(runs: list[str] = typer.Argument(..., help="run ids or unique prefixes, or a sweep id (its runs); several "
                                                   "make one comparison"),
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
    """Start the dashboard; Streamlit's own options pass through (e.g. --server.port 8600). The worker it starts
    for runs exits by itself after 300 s without a queued job, so it outlives a stopped dashboard by up to that."""
    import os

    from engine.home import PROJECT_ROOT

    os.chdir(PROJECT_ROOT)  # so the project's .streamlit/config.toml applies; STREAMLIT_* variables still win
    command = [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"), *ctx.args]
    os.execv(sys.executable, command)


@app.command()
def worker(device: str = typer.Option("cpu", help="cpu or cuda"),
           idle_exit: float = typer.Option(300, help="exit after this many seconds without a queued job")):
    """Run the dashboard's queued jobs for one device (the dashboard starts one by itself). It runs below the web
    server's CPU priority (nice 10) on one core fewer than the machine has, and exits after --idle-exit seconds
    without a queued job (a worker the dashboard started outlives a stopped `compecon ui` by up to that long)."""
    from engine.worker import serve

    if device not in ("cpu", "cuda"):
        _fail(f"unknown device '{device}': use cpu or cuda")
    raise typer.Exit(serve(device, idle_exit))


def main():
    from transformers.utils import logging as hf_logging

    # The CLI prints its own progress; transformers' per-load bars and notices are noise here.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from engine.store import StoreError

    try:
        app()
    except StoreError as error:  # a full disk or a read-only folder: said plainly, no traceback
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
