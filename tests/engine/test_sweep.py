"""Sweeps on Ray (issue 17): models × plans as Ray tasks, each model's baseline shared by its cells, every cell
stored by the driver as it lands, a lost worker costing its cell alone, a re-run measuring only what is missing,
and an existing cluster reached with --address. Every Ray here is on loopback and stopped by the test: the local
Ray by the sweep itself, a `ray start --head --block` by its pid."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.pipeline import run as run_plans
from engine.settings import plans_for
from engine.store import Store
from engine.sweep import Cluster, SweepSpec, sweep
from tests.reliability.conftest import QUICK
from tests.waiting import wait_for

QUICK_FLAGS = ["--device", "cpu", "--decode-steps", "2", "--repeats", "1", "--prompt-tokens", "8",
               "--output-tokens", "8", "--eval-tokens", "64", "--max-new-tokens", "4", "--no-keep-artifacts"]
COMPECON = [str(Path(sys.executable).parent / "compecon")]


@pytest.fixture
def ray_env(tmp_path, monkeypatch):
    """A private store and device lock, and Ray kept on 127.0.0.1; spawned processes inherit them."""
    monkeypatch.setenv("COMPECON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COMPECON_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    return tmp_path


@pytest.fixture(scope="module")
def second_llama(tmp_path_factory, tiny_llama) -> Path:
    """Another model for the grid: the tiny llama with its own random weights."""
    import shutil

    from transformers import LlamaForCausalLM

    folder = tmp_path_factory.mktemp("second-llama")
    for name in os.listdir(tiny_llama):
        if not name.endswith(".safetensors"):
            shutil.copy(tiny_llama / name, folder / name)
    model = LlamaForCausalLM.from_pretrained(tiny_llama)
    for p in model.parameters():
        p.data.mul_(0.5)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def test_a_two_model_sweep_lands_every_cell_and_measures_as_a_run_does(ray_env, tiny_llama, second_llama):
    store = Store()
    plans = plans_for(["fp32", "int8", "int4"], None, "cpu")
    lines: list[str] = []
    record = sweep([str(tiny_llama), str(second_llama)], plans, QUICK, None, Cluster(cpus=2), store,
                   progress=lambda e: lines.append(str(getattr(e, "message", e))))
    assert record["status"] == "done" and len(record["runs"]) == 2
    assert all([p["status"] for p in r["plans"]] == ["ok"] * 3 for r in record["runs"]), lines
    assert sorted(record["measured"]) == sorted(f"{m} × {p}" for m in (tiny_llama, second_llama)
                                                for p in ("fp32", "int8", "int4"))
    # each cell in a fresh Ray worker process, never the driver's; the baseline ran once per model
    pids = [p["worker"]["pid"] for r in record["runs"] for p in r["plans"]]
    assert len(set(pids)) == 6 and os.getpid() not in pids
    assert sum("× fp32: ok" in line for line in lines) == 2
    assert all(r["sweep"] == record["sweep_id"] and r["status"] == "done" for r in record["runs"])
    assert all(r["recommendation"] for r in record["runs"])

    # the same cells measured by an ordinary run: the shared baseline gives the same accuracy figures (CPU
    # evaluation is deterministic), so a sweep changes nothing about how a plan is compared
    alone = run_plans(str(tiny_llama), plans, QUICK, store=Store(ray_env / "alone.sqlite"), progress=lambda e: None)
    swept = next(r for r in record["runs"] if r["model"]["name"] == tiny_llama.name)
    for mine, theirs in zip(swept["plans"], alone["plans"]):
        for key in ("kl_divergence", "top1_agreement", "perplexity", "ppl_delta_pct"):
            assert mine["accuracy"][key] == pytest.approx(theirs["accuracy"][key], rel=1e-6, abs=1e-9), (mine["plan"],
                                                                                                       key)
        assert mine["size"] == theirs["size"]

    listing = CliRunner().invoke(app, ["runs"]).output
    head = next(line for line in listing.splitlines() if line.startswith("sweep "))
    assert record["sweep_id"] in head and "2 models × 3 plans = 6 cells" in head
    assert sum(line.startswith("  ") and "3/3 plans" in line for line in listing.splitlines()) == 2


def test_the_same_sweep_again_measures_nothing(ray_env, tiny_llama):
    store = Store()
    plans = plans_for(["fp32", "int8"], None, "cpu")
    first = sweep([str(tiny_llama)], plans, QUICK, None, Cluster(cpus=2), store, progress=lambda e: None)
    again = sweep([str(tiny_llama)], plans, QUICK, None, Cluster(cpus=2), store, progress=lambda e: None)
    assert again["sweep_id"] == first["sweep_id"] and again["measured"] == [] and again["skipped"] == 2
    assert again["runs"][0]["plans"] == first["runs"][0]["plans"]
    other = SweepSpec((str(tiny_llama),), tuple(plans), QUICK.__class__(**{**QUICK.__dict__, "repeats": 2}))
    assert other.sweep_id != first["sweep_id"]  # other settings: another sweep


def _cell_pids(process: subprocess.Popen, cell: str, kills: int, log: list[str]) -> list[int]:
    """Kill the Ray worker of `cell` each time it starts, `kills` times, reading the sweep's progress lines."""
    killed = []
    for line in process.stderr:
        log.append(line.rstrip())
        found = re.search(rf"{re.escape(cell)}: started on \S+ pid (\d+)", line)
        if found and len(killed) < kills:
            killed.append(int(found.group(1)))
            os.kill(killed[-1], signal.SIGKILL)
    process.wait(timeout=60)
    return killed


def test_a_killed_worker_costs_its_cell_alone_and_a_rerun_measures_only_it(ray_env):
    model = "shape:smollm2-135m"  # a real-size cell, so the kill lands while it measures
    args = [*COMPECON, "sweep", "--model", model, "--plan", "fp32", "--plan", "int8", "--plan", "bf16",
            *QUICK_FLAGS, "--retries", "1"]
    log: list[str] = []
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _cell_pids(first, f"{model} × int8", kills=2, log=log)
    out = first.stdout.read()
    assert len(killed) == 2, log  # killed, retried once, killed again
    assert first.returncode == 1, (out, log)
    record = Store().get_sweep(Store().list_sweeps()[0]["sweep_id"])
    plans = record["runs"][0]["plans"]
    assert [p["status"] for p in plans] == ["ok", "failed", "ok"], log
    assert "Ray worker running it was lost" in plans[1]["error"] and "after 1 retry" in plans[1]["error"]
    assert plans[1]["attempts"] == 2 and plans[2]["attempts"] == 1
    kept = {p["plan"]: p for p in plans if p["status"] == "ok"}

    again = subprocess.run(args[:-2] + ["--retries", "0"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "3 cells, 1 to measure (2 measured before)" in again.stderr
    finished = [line for line in again.stderr.splitlines() if re.match(r"\[\d/3\]", line)]
    assert [re.sub(r" in .*", "", line) for line in finished] == [
        f"[2/3] {model} × fp32: ok", f"[3/3] {model} × int8: ok"], again.stderr
    assert "reference outputs for its cells; stored before" in finished[0]
    plans = Store().get_sweep(record["sweep_id"])["runs"][0]["plans"]
    assert [p["status"] for p in plans] == ["ok", "ok", "ok"]
    assert all(plans[i] == kept[plans[i]["plan"]] for i in (0, 2))  # the finished cells were not touched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_existing_cluster_reached_with_address_runs_the_sweep(ray_env, tiny_llama):
    port = _free_port()
    ray_bin = Path(sys.executable).parent / "ray"
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--port", str(port), "--num-cpus", "2",
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                             "--disable-usage-stats", "--block"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=60, every=0.5)
        result = subprocess.run([*COMPECON, "sweep", "--model", str(tiny_llama), "--plan", "fp32", "--plan", "int8",
                                 *QUICK_FLAGS, "--address", f"127.0.0.1:{port}", "--json",
                                 str(ray_env / "sweep.json")], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        record = json.loads((ray_env / "sweep.json").read_text())
        assert [p["status"] for p in record["runs"][0]["plans"]] == ["ok", "ok"]
        assert record["spec"]["cluster"]["address"] == f"127.0.0.1:{port}"
        assert [n["resources"]["CPU"] for n in record["nodes"]] == [2.0]
        assert head.poll() is None  # the sweep left the cluster it joined running
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)


def test_bad_sweeps_are_refused_before_ray_starts(ray_env, tiny_llama):
    runner = CliRunner()
    cases = {
        ("--model", "no-such-model", "--plan", "int8"): "unknown model 'no-such-model'",
        ("--model", str(tiny_llama), "--model", str(tiny_llama), "--plan", "int8"): "given twice",
        ("--model", str(tiny_llama), "--plan", "int8", "--retries", "-1"): "--retries -1",
        ("--model", str(tiny_llama), "--plan", "int8", "--cpus-per-cell", "0"): "--cpus-per-cell 0",
        ("--model", str(tiny_llama), "--plan", "int9"): "int9",
    }
    for args, expected in cases.items():
        result = runner.invoke(app, ["sweep", *args])
        assert result.exit_code == 2 and expected in result.output, (args, result.output)
    assert Store().list_sweeps() == []
