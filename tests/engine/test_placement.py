"""A model too big for one GPU placed across a machine's GPUs with --device-map auto (issue 17): refused before
anything runs where it cannot work (a CPU, steps that need the whole model in one place), and, on GPUs, built
where each layer sits, quantized there, and recorded with its bytes per GPU."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from engine.cli import app
from engine.settings import RunError, RunSettings, SettingError, check_split, plans_for


def test_device_map_auto_on_a_cpu_is_refused_naming_both_options():
    with pytest.raises(SettingError, match="--device-map auto places a model across GPUs; with --device cpu"):
        RunSettings(device="cpu", device_map="auto")
    with pytest.raises(SettingError, match="--device-map 'half'"):
        RunSettings(device="cuda", device_map="half")
    result = CliRunner().invoke(app, ["run", "--device", "cpu", "--device-map", "auto", "--plan", "int8"])
    assert result.exit_code == 2 and "--device-map auto" in result.output


def test_steps_that_need_the_whole_model_are_refused_on_a_split_one_before_it_loads():
    split = RunSettings(device="cuda", device_map="auto")
    check_split(plans_for(["bf16", "int8", "int4", "fp8"], None, "cuda"), split)  # module by module: fine
    for plan in ("gguf:type=q4_k_m", "smoothquant+w8a8", "distill:keep=0.5", "mixed:keep=2", "hqq4"):
        with pytest.raises(RunError, match="cannot run on a model split across GPUs") as error:
            check_split(plans_for(["bf16", plan], None, "cuda"), split)
        assert plan.split(":")[0].split("+")[0] in str(error.value) and "int8" in str(error.value)
    check_split(plans_for(["gguf:type=q8_0"], None, "cpu"), RunSettings(device="cpu"))  # not split: anything goes


def test_one_device_records_no_placement(tiny_model):
    from engine.measure.size import placement

    assert placement(tiny_model) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_shape_is_built_where_accelerate_places_it_and_quantizes_there():
    """On one GPU accelerate places every layer on it; on several, layers spread and the record says where."""
    from engine.measure.size import placement, weight_bytes
    from engine.models import build_random, shape_config

    config = shape_config("smollm2-135m")
    model = build_random(config, "cuda", torch.bfloat16, split=True)
    devices = {p.device for p in model.parameters()}
    assert all(d.type == "cuda" for d in devices)
    where = placement(model)
    if torch.cuda.device_count() < 2:
        assert where is None and devices == {torch.device("cuda", 0)}
    else:
        assert len(where["gpus"]) >= 2
        assert sum(g["weight_bytes"] for g in where["gpus"].values()) == weight_bytes(model)  # independent count
    prompt = torch.randint(0, config.vocab_size, (1, 8), device="cuda")
    with torch.no_grad():
        logits = model(prompt).logits
    assert torch.isfinite(logits.float()).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_split_run_measures_bf16_and_int4_with_memory_per_gpu(tmp_path):
    from engine.pipeline import run
    from engine.store import Store

    settings = RunSettings(device="cuda", device_map="auto", decode_steps=4, repeats=1, prompt_tokens=16,
                           output_tokens=16, keep_artifacts=False)
    record = run("shape:smollm2-135m", plans_for(["bf16", "int4"], None, "cuda"), settings,
                 store=Store(tmp_path / "runs.sqlite"), progress=lambda e: None)
    assert [p["status"] for p in record["plans"]] == ["ok", "ok"], [p["error"] for p in record["plans"]]
    for plan in record["plans"]:
        assert set(plan["memory"]["per_gpu"]) == {f"cuda:{i}" for i in range(torch.cuda.device_count())}
        assert plan["latency"]["decode_path"] == "plain"
