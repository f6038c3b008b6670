"""The serving-like decode path decodes the same tokens as transformers' own generate(), and
the throughput curve prices each batch size by the cost formula worked by hand."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.cost import CostAssumptions, price_rows
from engine.measure.decode_paths import best_batch, latency_result, measure_paths, resolve_paths
from engine.measure.latency import DECODE_PATH
from engine.measure.serving import SERVING_PATH, STATIC_EAGER_PATH, StaticDecoder


def _tiny_model(seed: int = 0, init: float = 0.02):
    """init: weight scale; large values make the next token decisive, so GPU kernels that round
    differently (masked attention over a static cache vs a growing one) cannot flip near-ties."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=init)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("batch", [1, 3])
def test_static_decoder_matches_generate(batch):
    model = _tiny_model()
    prompt = torch.randint(0, 97, (batch, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=12, do_sample=False, min_new_tokens=12)[:, 9:]
        got = StaticDecoder(model, batch, 9 + 12, "cpu").generate(prompt, 12)
    assert torch.equal(got, expected)


def test_static_decoder_restarts_cleanly():
    """A second prefill into the same cache decodes exactly as the first (timed repeats rely on it)."""
    model = _tiny_model(2)
    prompt = torch.randint(0, 97, (2, 7), generator=torch.Generator().manual_seed(3))
    decoder = StaticDecoder(model, 2, 7 + 10, "cpu")
    with torch.no_grad():
        assert torch.equal(decoder.generate(prompt, 10), decoder.generate(prompt, 10))


def test_paths_by_device_and_choice():
    assert resolve_paths("auto", "cpu") == ("plain",)
    assert resolve_paths("auto", "cuda") == ("plain", "serving")
    assert resolve_paths("both", "cpu") == ("plain", "serving")
    assert resolve_paths("serving", "cuda") == ("serving",)
    with pytest.raises(ValueError, match="unknown decode path 'fast'"):
        resolve_paths("fast", "cpu")


def test_measured_rows_are_labelled_on_cpu():
    model = _tiny_model()
    rows = measure_paths(model, torch.arange(8), (1, 2), decode_steps=3, repeats=2, device="cpu",
                         paths=("plain", "serving"))
    assert [(r["path"], r["batch_size"]) for r in rows] == [("plain", 1), ("plain", 2), ("serving", 1), ("serving", 2)]
    assert {r["decode_path"] for r in rows} == {DECODE_PATH, STATIC_EAGER_PATH}
    assert SERVING_PATH not in {r["decode_path"] for r in rows}  # no CUDA graph on a CPU, and the label says so
    assert all(r["tpot_ms"] > 0 and r["ttft_ms"] > 0 for r in rows)


def _rows():
    return [{"path": "serving", "decode_path": SERVING_PATH, "batch_size": b, "ttft_ms": ttft, "tpot_ms": tpot,
             "tokens_per_s": b * 1000 / tpot} for b, ttft, tpot in [(1, 20.0, 5.0), (8, 60.0, 6.0), (64, 400.0, 30.0)]]


def test_rows_are_priced_by_hand():
    costs = CostAssumptions("H200", 3.6, prompt_tokens=128, output_tokens=100, batch_size=1, utilisation=0.5)
    priced = price_rows(_rows(), costs)
    # $3.6/h = $0.001/s; batch 8: (60 ms + 6 ms * 100) / 8 = 82.5 ms a query; /0.5 utilisation; * 1000 queries
    assert priced[1]["usd_per_1k_queries"] == pytest.approx(0.001 * 0.0825 / 0.5 * 1000)
    assert priced[0]["usd_per_1k_queries"] == pytest.approx(0.001 * 0.520 / 0.5 * 1000)


def test_best_batch_is_cheapest_within_latency():
    priced = price_rows(_rows(), CostAssumptions("H200", 3.6))
    assert best_batch(priced, max_tpot_ms=100)["batch_size"] == 64
    assert best_batch(priced, max_tpot_ms=10)["batch_size"] == 8
    assert best_batch(priced, max_tpot_ms=1) is None


def test_headline_is_the_last_path_and_roofline_only_at_batch_one():
    plain = [{**r, "path": "plain", "decode_path": DECODE_PATH, "tpot_ms": r["tpot_ms"] * 4} for r in _rows()]
    rows = price_rows(plain + _rows(), CostAssumptions("H200", 3.6))
    result = latency_result(rows, held_bytes=10**9, kernel_path="k", bandwidth={"bytes_per_s": 1e12, "source": "t"},
                            max_tpot_ms=100)
    assert result.decode_path == SERVING_PATH and result.tpot_ms == 5.0
    assert result.roofline_efficiency == pytest.approx(1.0 / 5.0)  # 1 GB at 1 TB/s = 1 ms floor
    assert [r["roofline_efficiency"] for r in result.by_batch if r["batch_size"] != 1] == [None] * 4
    assert result.best_batch["path"] == "serving"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compiled", [False, True])
def test_cuda_graph_decoder_matches_eager_and_generate(compiled):
    model = _tiny_model(init=0.5).to("cuda")
    prompt = torch.randint(0, 97, (2, 9), device="cuda")
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=12, do_sample=False, min_new_tokens=12)[:, 9:]
        eager = StaticDecoder(model, 2, 9 + 12 + 4, "cuda").generate(prompt, 12)
        decoder = StaticDecoder(model, 2, 9 + 12 + 4, "cuda", compiled=compiled)
        decoder.prefill(prompt)
        decoder.capture()
        graphed = decoder.generate(prompt, 12)
    assert decoder.graph is not None
    assert torch.equal(graphed, eager), (graphed, eager)
    assert torch.equal(eager, expected), (eager, expected)


def test_a_batch_that_runs_out_of_memory_is_left_out_and_named(monkeypatch):
    from engine.measure import decode_paths
    from engine.measure.latency import LatencyFigures

    def fake(model, prompt_ids, batch, steps, repeats, device, energy_s=0.0):
        if batch == 64:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return LatencyFigures(batch, 10.0, 2.0)

    monkeypatch.setattr(decode_paths, "measure_latency", fake)
    skipped: list[str] = []
    rows = measure_paths(None, torch.arange(4), (1, 8, 64), 2, 1, "cpu", ("plain",), skipped=skipped)
    assert [r["batch_size"] for r in rows] == [1, 8]
    assert skipped == ["plain path, batch 64: out of memory on the cpu, left out"]
    with pytest.raises(torch.OutOfMemoryError):  # the headline batch must fit
        measure_paths(None, torch.arange(4), (64, 1), 2, 1, "cpu", ("plain",), skipped=[])
