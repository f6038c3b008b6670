"""Latency rows timed while the CPU is loaded by others are flagged busy; rows timed on an idle machine
are not. The rows come from the runtime interface the pipeline uses, on a tiny real model."""

import os
import subprocess
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.measure.load import cpu_count
from engine.runtimes.interface import latency_rows


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition(os.getloadavg()[0]):
            return True
        time.sleep(1)
    return False


def _rows(model):
    return latency_rows(model, torch.arange(8), (1,), decode_steps=3, repeats=2, device="cpu", paths=("plain",))


def test_busy_loops_raise_the_flag_and_an_idle_machine_does_not():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    cpus = cpu_count()
    assert _wait_for(lambda load: load < cpus, 120), "the machine never went below its core count: not idle"
    (idle,) = _rows(model)
    assert idle["busy"] is False and idle["cpu_count"] == cpus and idle["load_1m"] <= cpus
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 * cpus)]
    try:  # the one-minute load average follows the runnable processes within seconds
        assert _wait_for(lambda load: load > cpus + 0.5, 90)
        (busy,) = _rows(model)
    finally:
        for loop in loops:  # stopped by their pids
            loop.kill()
            loop.wait()
    assert busy["busy"] is True and busy["load_1m"] > cpus
    assert busy["tpot_ms_p10"] <= busy["tpot_ms"] <= busy["tpot_ms_p90"]
