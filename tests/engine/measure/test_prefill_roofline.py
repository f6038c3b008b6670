"""The prefill's compute roofline (issue 18): its FLOPs against PyTorch's own FLOP counter, its linear layers
against the parameter count, and a run's latency rows carrying it."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.measure.roofline import linear_macs, matmul_rate, prefill_flops
from engine.models import parameter_count


def test_prefill_flops_match_torchs_flop_counter(tiny_model):
    config, tokens, batch = tiny_model.config, 24, 2
    macs = linear_macs(tiny_model)
    # the linear layers are every parameter but the norms (and the tied embedding counted once, as lm_head)
    norms = config.num_hidden_layers * 2 * config.hidden_size + config.hidden_size
    assert macs == parameter_count(config) - norms
    ids = torch.randint(0, config.vocab_size, (batch, tokens))
    tiny_model.set_attn_implementation("eager")  # attention as plain matmuls, which the counter sees
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        tiny_model(input_ids=ids)
    # torch counts attention over the whole T x T square; a causal prefill computes half of it
    head_dim = config.hidden_size // config.num_attention_heads
    half_square = batch * 2 * config.num_hidden_layers * tokens**2 * config.num_attention_heads * head_dim
    assert prefill_flops(macs, config, tokens, batch) == counter.get_total_flops() - half_square


def test_the_matmul_ceiling_is_measured_with_its_load():
    rate = matmul_rate("cpu")
    assert rate["flops_per_s"] > 1e8 and rate["source"].startswith("measured: dense fp32 matmul")
    assert "measured_at" in rate and "load_1m" in rate


def test_a_run_records_the_prefill_roofline(tiny_llama, tmp_path):
    from engine.pipeline import run
    from engine.settings import RunSettings, plans_for
    from engine.store import Store

    settings = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=16, output_tokens=8,
                           eval_tokens=64, max_new_tokens=4, keep_artifacts=False)
    record = run(str(tiny_llama), plans_for(["fp32", "int8"], None, "cpu"), settings,
                 store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    rate = record["settings"]["matmul_rate"]["flops_per_s"]
    for plan in record["plans"]:
        latency = plan["latency"]
        assert 0 < latency["ttft_roofline_efficiency"] == latency["ttft_roofline_ms"] / latency["ttft_ms"]
        row = latency["by_batch"][0]
        assert row["ttft_roofline_ms"] == latency["ttft_roofline_ms"]
    floor = record["plans"][0]["latency"]["ttft_roofline_ms"]
    assert floor > 0 and floor < 1e3 * 2e9 / rate  # a 16-token prefill of a tiny model: far under 2 GFLOP
