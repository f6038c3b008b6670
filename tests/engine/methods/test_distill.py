"""Distillation on the CPU tiny path: a student trains, checkpoints, and resumes after a kill."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import torch

from engine.methods.training import Checkpoints, DistillConfig, distill, layer_student
from engine.pipeline import run
from engine.settings import RunSettings, plans_for

SCRIPT = textwrap.dedent("""
    import sys, time, torch
    from transformers import LlamaConfig
    from engine.models import build_random
    from engine.methods.training import Checkpoints, DistillConfig, distill, layer_student
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256, tie_word_embeddings=True)
    teacher = build_random(config, "cpu", None)
    student, _ = layer_student(teacher, 0.5)
    rows = torch.randint(0, 256, (16, 24), generator=torch.Generator().manual_seed(0))
    slow = lambda done, total, loss, eta: time.sleep(0.3)
    distill(teacher, student, rows, DistillConfig(steps=int(sys.argv[2]), batch=4, checkpoint_every=2, lr=1e-3),
            "cpu", Checkpoints(__import__("pathlib").Path(sys.argv[1])), slow)
""")


def test_layer_student_keeps_first_and_last_blocks(tiny_model):
    student, kept = layer_student(tiny_model, 0.5)
    assert kept == [0] or kept == [0, 1]  # two blocks, half kept: the first
    assert student.config.num_hidden_layers == len(kept)
    assert len(tiny_model.model.layers) == 2  # the teacher is untouched


def test_distillation_lowers_the_loss(tiny_model, tmp_path):
    student, _ = layer_student(tiny_model, 0.5)
    rows = torch.randint(0, 512, (16, 24), generator=torch.Generator().manual_seed(0))
    record = distill(tiny_model, student, rows, DistillConfig(steps=30, batch=8, lr=3e-3, checkpoint_every=10),
                     "cpu", Checkpoints(tmp_path / "ck"))
    history = record["loss_history"]
    assert len(history) == 30 and sum(history[-5:]) < sum(history[:5])
    assert json.loads((tmp_path / "ck" / "progress.json").read_text())["step"] == 30


def test_resume_after_a_kill_continues_from_the_last_checkpoint(tmp_path):
    folder = tmp_path / "ck"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script), str(folder), "12"], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        progress = folder / "progress.json"
        if progress.is_file() and json.loads(progress.read_text())["step"] >= 4:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads((folder / "progress.json").read_text())["step"]
    assert 4 <= saved < 12
    finished = subprocess.run([sys.executable, str(script), str(folder), "12"], env=env, timeout=300)
    assert finished.returncode == 0
    final = json.loads((folder / "progress.json").read_text())
    assert final["step"] == 12 and len(final["history"]) == 12


def test_a_distill_then_quantize_plan_reports_economics():
    settings = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, keep_artifacts=False)
    record = run("shape:smollm2-135m", plans_for(["distill:keep=0.5,steps=2,batch=2+int8"], None, "cpu"),
                 settings, progress=lambda e: None)
    plan = record["plans"][1]
    assert plan["status"] == "ok", plan["error"]
    economics = plan["economics"]
    assert economics["training_usd"] > 0 and economics["training_seconds"] > 0
    assert plan["extras"]["training"]["steps"] == 2
    assert plan["size"]["params"] < record["plans"][0]["size"]["params"]
    savings = economics["savings_per_1k_usd"]
    if savings > 0:
        assert economics["break_even_queries"] == economics["training_usd"] / (savings / 1000)


def test_qad_trains_then_quantizes_for_real(tiny_model, tmp_path):
    from engine.evaluation.calibration import Calibration
    from engine.measure.size import plain_tensors
    from engine.plan import parse
    from engine.registry import STEPS
    from engine.settings import StepContext

    rows = torch.randint(0, 512, (8, 24), generator=torch.Generator().manual_seed(0))
    ctx = StepContext("cpu", None, lambda source: Calibration("texts", rows), "tiny", None, str(tmp_path))
    plan_step = parse("qad:bits=2,group=32,steps=3,batch=2").steps[0]
    outcome = STEPS["qad"].fn(tiny_model, plan_step, ctx)
    weight = outcome.model.model.layers[0].mlp.down_proj.weight
    assert any(t.dtype == torch.uint8 for t in plain_tensors(weight))  # packed 2-bit storage
    assert outcome.extras["training"]["steps"] == 3 and "QAD-trained" in outcome.kernel_path


def test_a_reused_checkpoint_still_charges_its_training_time(tiny_model, tmp_path):
    rows = torch.randint(0, 512, (8, 24), generator=torch.Generator().manual_seed(0))
    config = DistillConfig(steps=4, batch=2, checkpoint_every=2)
    first = distill(tiny_model, layer_student(tiny_model, 0.5)[0], rows, config, "cpu", Checkpoints(tmp_path / "c"))
    again = distill(tiny_model, layer_student(tiny_model, 0.5)[0], rows, config, "cpu", Checkpoints(tmp_path / "c"))
    saved = json.loads((tmp_path / "c" / "progress.json").read_text())["seconds"]
    assert 0 < saved <= first["seconds"]
    assert again["resumed_from"] == 4 and again["seconds"] >= saved  # the reuse is charged the training
