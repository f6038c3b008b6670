"""The CLI, in-process (typer's runner) and as a real process that gets killed mid-run."""

import json
import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from engine.cli import app
from engine.store import Store

runner = CliRunner()
QUICK = ["--decode-steps", "2", "--repeats", "1", "--prompt-tokens", "16"]


def test_methods_and_models_list_everything():
    out = runner.invoke(app, ["methods"]).output
    assert "int4" in out and "pm-int8-vs-int4" in out and "group=64" in out
    out = runner.invoke(app, ["models"]).output
    assert "smollm2-135m" in out and "shape:llama-3-70b" in out


def test_invalid_plan_is_refused_before_anything_runs():
    before = len(Store().list_runs())
    result = runner.invoke(app, ["run", "--model", "shape:smollm2-135m", "--plan", "int8", "--plan", "int3:group=8"])
    assert result.exit_code == 2
    assert "unknown step 'int3'" in result.output
    assert len(Store().list_runs()) == before


def test_unknown_model_gets_a_clear_message():
    result = runner.invoke(app, ["run", "--model", "no-such/model-xyz", "--plan", "int8"])
    assert result.exit_code == 2
    assert "unknown model 'no-such/model-xyz'" in result.output


def test_run_show_export_on_a_shape_model(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["run", "--model", "shape:smollm2-135m", "--plan", "int8",
                                 "--plan", "int4:backend=torchao", "--json", str(out), *QUICK])
    assert result.exit_code == 1, result.output  # a plan did not finish: a script must not read it as a comparison
    assert "1 of 3 plans did not finish (int4:backend=torchao)" in result.output
    record = json.loads(out.read_text())
    assert [p["status"] for p in record["plans"]] == ["ok", "ok", "failed"]  # torchao int4 has no CPU path
    assert "no CPU kernel" in record["plans"][2]["error"]
    assert record["plans"][1]["accuracy"]["applicable"] is False
    run_id = record["run_id"]
    assert run_id in runner.invoke(app, ["runs"]).output
    assert "int8" in runner.invoke(app, ["show", run_id]).output
    csv_text = runner.invoke(app, ["export", run_id, "--format", "csv"]).output
    assert csv_text.count("\n") == 4 and "usd_per_1k_queries" in csv_text
    assert json.loads(runner.invoke(app, ["export", run_id]).output)["run_id"] == run_id


def test_killing_a_run_keeps_finished_plans(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "engine.cli", "run", "--model", "shape:smollm2-135m",
           "--plan", "fp32", "--plan", "int8", "--plan", "int4", "--plan", "int2", "--plan", "nf4", *QUICK]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    for line in proc.stderr:
        if ": ok in" in line and line.startswith("[2/"):
            break
        assert time.time() < deadline
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    listing = runner.invoke(app, ["runs"]).output.splitlines()[0]
    assert "interrupted" in listing
    run_id = listing.split()[0]
    record = Store().get_run(run_id)
    statuses = [p["status"] for p in record["plans"]]
    assert statuses[:2] == ["ok", "ok"] and "interrupted" in statuses


def test_cancelling_keeps_finished_plans():
    import pytest

    from engine.pipeline import run
    from engine.settings import PlanEvent, RunCancelled, RunSettings, plans_for

    events = []
    settings = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16)

    def cancel_after_first_plan():
        return any(isinstance(e, PlanEvent) and e.position == 1 and e.state == "started" for e in events)

    with pytest.raises(RunCancelled):
        run("shape:smollm2-135m", plans_for(["int8", "int4"], None, "cpu"), settings,
            progress=events.append, should_cancel=cancel_after_first_plan)
    run_id = next(e.run_id for e in events if getattr(e, "state", None) == "created")
    record = Store().get_run(run_id)
    assert record["status"] == "cancelled"
    assert [p["status"] for p in record["plans"]] == ["ok", "not run", "not run"]
