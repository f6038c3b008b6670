"""GPTQ, AWQ and AutoRound (issue 19). GPTQ against theory: with uncorrelated inputs its error feedback has
nothing to act on and it must equal round-to-nearest, computed here by hand; with correlated inputs it must
lower the layer's output error on those inputs. AWQ and AutoRound: auto-round's quantized weights sit on the
grids read back from it, and the stored quanto model computes exactly what those weights compute. Through a
run: every calibrated plan lands, its size matches a count by hand of packed codes, scales and zero-points,
and its calibration is priced as an upfront cost."""

from __future__ import annotations

import pytest
import torch

from engine.methods.calibrated import _auto_round, _store, gptq_layer
from engine.methods.layers import quantizable_linears
from engine.models import load_model
from engine.pipeline import run
from engine.plan import PlanError, parse
from engine.settings import RunSettings, plans_for
from engine.store import Store

SETTINGS = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8, eval_tokens=64,
                       max_new_tokens=4, calibration="texts")


def _rtn(weight: torch.Tensor, group: int, bits: int = 4) -> torch.Tensor:
    """Round-to-nearest on each group's [min(w, 0), max(w, 0)] range, with an integer zero-point."""
    levels = 2**bits - 1
    groups = weight.reshape(weight.shape[0], -1, group)
    low, high = groups.amin(-1, keepdim=True).clamp(max=0), groups.amax(-1, keepdim=True).clamp(min=0)
    scale = (high - low) / levels
    zero = torch.round(-low / scale)
    return ((torch.clamp(torch.round(groups / scale) + zero, 0, levels) - zero) * scale).reshape(weight.shape)


def _output_error(x: torch.Tensor, weight: torch.Tensor, quantized: torch.Tensor) -> float:
    return float(((x @ weight.T - x @ quantized.T) ** 2).sum())


def test_gptq_is_round_to_nearest_when_the_inputs_are_uncorrelated():
    torch.manual_seed(0)
    weight = torch.randn(48, 128)
    hessian = torch.diag(torch.rand(128) + 0.5)  # diagonal: no column's error can be absorbed by another
    quantized, grid = gptq_layer(weight, hessian, bits=4, group=32)
    assert torch.allclose(quantized, _rtn(weight, 32), atol=1e-6)
    assert grid.scale.shape == grid.zero.shape == (48, 4) and grid.zero.dtype == torch.uint8


def test_gptq_lowers_the_output_error_on_correlated_inputs_and_stays_on_its_grid():
    torch.manual_seed(1)
    mixing = torch.randn(128, 128) / 8 + torch.eye(128)
    x = torch.randn(2048, 128) @ mixing  # correlated input channels, as a transformer's are
    weight = torch.randn(64, 128) / 10
    quantized, grid = gptq_layer(weight, 2 * x.T @ x / len(x), bits=4, group=64)
    assert _output_error(x, weight, quantized) < 0.7 * _output_error(x, weight, _rtn(weight, 64))
    codes = grid.codes(quantized)
    assert codes.min() >= 0 and codes.max() <= 15
    assert torch.allclose(grid.dequantize(codes), quantized, atol=1e-6)  # every weight sits on its group's grid


@pytest.mark.parametrize("style, kind", [("q4_0", "Q4_0"), ("q4_1", "Q4_1")])
def test_llama_cpps_quantizer_keeps_gptqs_codes_on_a_llama_cpp_grid(style, kind):
    """gguf-py's reference quantizer (llama.cpp's Q4_0/Q4_1 in numpy, independent of this code) run over GPTQ's
    output: every block that still holds the weight(s) its grid came from comes back unchanged, up to the fp16
    the format stores its scale (and minimum) in."""
    from gguf.quants import GGMLQuantizationType, dequantize, quantize

    torch.manual_seed(3)
    x = torch.randn(1024, 128) @ (torch.randn(128, 128) / 8 + torch.eye(128))
    weight = torch.randn(64, 128) / 10
    quantized, grid = gptq_layer(weight, 2 * x.T @ x / len(x), bits=4, group=32, style=style)
    kind = GGMLQuantizationType[kind]
    again = torch.from_numpy(dequantize(quantize(quantized.numpy(), kind), kind)).reshape(quantized.shape)
    codes = grid.codes(quantized).reshape(-1, 32)
    held = (codes == 0).any(-1) & ((codes == 15).any(-1) if style == "q4_1" else True)
    assert held.float().mean() > 0.8
    blocks, again = quantized.reshape(-1, 32), again.reshape(-1, 32)
    scale = grid.scale.reshape(-1, 1).abs()
    assert bool(((blocks - again).abs()[held] <= 2e-3 * 16 * scale.expand(-1, 32)[held]).all())
    assert _output_error(x, weight, quantized) < _output_error(x, weight, _rtn(weight, 32))


@pytest.mark.parametrize("algorithm", ["awq", "signround"])
def test_the_stored_model_computes_what_auto_rounds_quantized_model_computes(tiny_llama, algorithm):
    loaded = load_model(str(tiny_llama))
    model = loaded.fresh_copy("cpu")
    rows = torch.randint(0, 300, (16, 64), generator=torch.Generator().manual_seed(0))
    model, grids = _auto_round(model, loaded.tokenizer, rows, 4, 64, algorithm, 3, "cpu")
    assert set(grids) == set(quantizable_linears(model))
    with torch.no_grad():
        for name, layer in quantizable_linears(model).items():  # on its grid, to the bf16 auto-round works in
            on_grid = grids[name].dequantize(grids[name].codes(layer.weight))
            assert bool(((layer.weight - on_grid).abs() <= layer.weight.abs() * 2**-8 + 1e-7).all()), name
            layer.weight.copy_(on_grid)  # the same weights in fp32
        expected = model(input_ids=rows[:4]).logits
        stored = _store(model, grids, 4, 64, "cpu").model
        assert torch.allclose(stored(input_ids=rows[:4]).logits, expected, atol=1e-5)

def test_each_calibrated_plan_lands_with_its_size_counted_by_hand_and_its_calibration_priced(tiny_llama, tmp_path):
    plans = plans_for(["fp32", "int4:group=64", "gptq:group=64", "awq:group=64", "autoround:group=64,iters=2",
                       "gptq:bits=2,group=64"], None, "cpu")
    record = run(str(tiny_llama), plans, SETTINGS, store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok"] * 6, [p["error"] for p in record["plans"]]
    base = record["plans"][0]
    for plan, bits in zip(record["plans"][2:], (4, 4, 4, 2)):
        # per linear: codes packed `bits` to a weight, an fp32 scale and a uint8 zero-point per group of 64, and
        # quanto's two fp32 activation scalars; everything else stays as in the fp32 baseline
        linears = [(64, 64), (32, 64), (32, 64), (64, 64), (128, 64), (128, 64), (64, 128)] * 2  # q k v o gate up down
        saved = sum(o * i * 4 - o * i * bits // 8 - (o * i // 64) * 5 - 8 for o, i in linears)
        assert base["size"]["weight_bytes"] - plan["size"]["weight_bytes"] == saved, plan["plan"]
        assert plan["accuracy"]["kl_divergence"] >= 0 and plan["accuracy"]["top1_agreement"] is not None
        assert "calibrated grid" in plan["kernel_path"]
        economics = plan["economics"]
        assert economics["upfront"] == f"{plan['plan'].split(':')[0]} calibration"
        price = economics["price_per_hour"]
        assert economics["training_usd"] == pytest.approx(economics["training_seconds"] * price / 3600)
        assert plan["extras"]["calibration"]["source"] == "texts"
    gptq4 = record["plans"][2]
    assert gptq4["accuracy"]["kl_divergence"] < record["plans"][1]["accuracy"]["kl_divergence"]


@pytest.mark.parametrize("bad", ["gptq:bits=3", "awq:group=48", "autoround:iters=-1", "gptq:calib=x",
                                 "gptq:grid=q4_0+gguf:type=q4_0", "gptq:group=32,grid=q4_1", "awq+gguf:type=q4_0",
                                 "gptq:group=32,grid=q4_2+gguf:type=q4_0"])
def test_impossible_settings_are_refused_when_parsed(bad):
    with pytest.raises(PlanError, match="bits|group|iters|calib|gguf|runtime|grid"):
        parse(bad)


def test_gptq_may_hand_its_rounded_weights_to_llama_cpp():
    assert str(parse("gptq:group=32,grid=q4_0+gguf:type=q4_0")) == "gptq:grid=q4_0,group=32+gguf:type=q4_0"
    parse("gptq+gguf:type=q4_k_m")  # allowed; the note says llama.cpp redoes part of the rounding


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gptq_on_cuda_does_as_well_as_on_the_cpu_and_serves_through_tinygemm(tmp_path):
    torch.manual_seed(2)
    x = torch.randn(512, 128) @ (torch.randn(128, 128) / 8 + torch.eye(128))
    weight, hessian = torch.randn(64, 128) / 10, 2 * x.T @ x / 512
    on_cpu, _ = gptq_layer(weight, hessian, 4, 64)
    on_gpu, _ = gptq_layer(weight.cuda(), hessian.cuda(), 4, 64)
    # float order differs on the GPU, and one flipped code moves every column after it: compare the objective
    assert _output_error(x, weight, on_gpu.cpu()) == pytest.approx(_output_error(x, weight, on_cpu), rel=0.1)
    settings = RunSettings(device="cuda", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8,
                           keep_artifacts=False)
    plans = plans_for(["bf16", "gptq:bits=4,group=64"], None, "cuda")
    record = run("shape:smollm2-135m", plans, settings, store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok", "ok"], [p["error"] for p in record["plans"]]
    assert "tinygemm" in record["plans"][1]["kernel_path"]
    assert record["plans"][1]["economics"] is None or record["plans"][1]["economics"]["upfront"] == "gptq calibration"


def test_gptq_on_llama_cpps_q4_0_grid_is_measured_in_llama_cpp_on_the_file_it_ships(tmp_path):
    """The embedded model: GPTQ rounds onto Q4_0's blocks, llama.cpp quantizes that to Q4_0, and speed and
    accuracy come from that one file in llama.cpp; its weights' size is the file header's count, as plain Q4_0's."""
    settings = RunSettings(device="cpu", decode_steps=4, repeats=1, prompt_tokens=16, eval_tokens=256,
                           max_new_tokens=8, threads=2, calibration="texts")
    plans = plans_for(["fp32", "gguf:type=q4_0", "gptq:group=32,grid=q4_0+gguf:type=q4_0"], None, "cpu")
    record = run("smollm2-135m", plans, settings, store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok"] * 3, [p["error"] for p in record["plans"]]
    plain, gptq = record["plans"][1:]
    assert gptq["runtime"]["name"] == "llama.cpp" and "q4_0" in gptq["kernel_path"]
    assert gptq["size"]["weight_bytes"] == plain["size"]["weight_bytes"]  # the same Q4_0 tensors, other values
    assert gptq["runtime"]["artifact_sha256"] != plain["runtime"]["artifact_sha256"]
    assert any("Q4_0 block grid" in note for note in gptq["notes"])
    assert gptq["economics"]["upfront"] == "gptq calibration"
    assert gptq["accuracy"]["kl_divergence"] is not None and gptq["accuracy"]["top1_agreement"] is not None
