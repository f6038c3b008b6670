"""Size accounting checked against independent counts: format theory and the file's header."""

import pytest
import torch

from engine.measure.size import safetensors_data_bytes, save_artifact, weight_bytes
from engine.methods.layers import quantizable_linears
from engine.plan import parse
from engine.registry import STEPS
from engine.settings import StepContext

CPU = StepContext("cpu", None)


def _apply(model, text):
    step = parse(text).steps[0]
    return STEPS[step.name].fn(model, step, CPU).model


def _float_bytes(model, skip=()):
    """Bytes of every unique parameter by hand (tied weights once), excluding given names."""
    seen, total = set(), 0
    for name, p in model.named_parameters(remove_duplicate=True):
        if id(p) not in seen and name not in skip:
            seen.add(id(p))
            total += p.numel() * p.element_size()
    return total


def test_fp32_counts_tied_embedding_once(tiny_model):
    expected = sum(p.numel() for p in tiny_model.parameters()) * 4  # parameters() dedupes ties
    assert weight_bytes(tiny_model) == expected
    assert tiny_model.lm_head.weight is tiny_model.model.embed_tokens.weight


def _linear_shapes(model):
    return [(lin.out_features, lin.in_features) for lin in quantizable_linears(model).values()]


def _rest_bytes(model):
    names = {f"{n}.weight" for n in quantizable_linears(model)}
    return _float_bytes(model, skip=names)


@pytest.mark.parametrize("text, per_weight_bytes, per_row_bytes, per_group_bytes, group", [
    ("int8:backend=torchao", 1.0, 4, 0, None),   # int8 + one fp32 scale per output row
    ("int8:backend=quanto", 1.0, 4, 0, None),
    ("int8:backend=bnb", 1.0, 4, 0, None),       # LLM.int8: int8 + fp32 row statistics (SCB)
    ("int4:backend=quanto,group=32", 0.5, 0, 8, 32),  # packed nibbles + fp32 scale and shift per group
    ("int2:backend=quanto,group=32", 0.25, 0, 8, 32),
])
def test_quantized_size_matches_format_theory(tiny_model, text, per_weight_bytes, per_row_bytes,
                                              per_group_bytes, group):
    shapes = _linear_shapes(tiny_model)
    rest = _rest_bytes(tiny_model)
    model = _apply(tiny_model, text)
    theory = rest + sum(o * i * per_weight_bytes + o * per_row_bytes + (o * i // group * per_group_bytes
                                                                         if group else 0) for o, i in shapes)
    assert weight_bytes(model) == pytest.approx(theory, rel=0.01)


def test_nf4_size_matches_format_theory(tiny_model):
    shapes = _linear_shapes(tiny_model)
    rest = _rest_bytes(tiny_model)
    model = _apply(tiny_model, "nf4")
    # 4 bits a weight; one absmax per block of 64, itself quantized to 8 bits in blocks of 256
    # (one fp32 absmax per 256 blocks); per layer a 16-entry fp32 NF4 code and a 256-entry
    # fp32 code for the nested absmax.
    def layer(o, i):
        blocks = o * i // 64
        return o * i / 2 + blocks + 4 * -(-blocks // 256) + 16 * 4 + 256 * 4

    theory = rest + sum(layer(o, i) for o, i in shapes)
    assert weight_bytes(model) == pytest.approx(theory, rel=0.01)


def test_saved_artifact_matches_held_bytes(tiny_model, tmp_path):
    model = _apply(tiny_model, "int8:backend=torchao")
    disk = save_artifact(model, tmp_path / "a", {"plan": "int8"})
    data = safetensors_data_bytes(tmp_path / "a" / "model.safetensors")
    assert data == pytest.approx(weight_bytes(model), rel=0.01)
    assert disk >= data


def test_sizes_fall_with_bits(tiny_model):
    import copy

    sizes = [weight_bytes(_apply(copy.deepcopy(tiny_model), t))
             for t in ("fp32", "int8", "int4:group=32", "int2:group=32")]
    assert sizes == sorted(sizes, reverse=True)
    assert len(set(sizes)) == 4


def test_group_misfit_is_reported(tiny_model):
    step = parse("int4:group=256").steps[0]
    outcome = STEPS["int4"].fn(tiny_model, step, CPU)
    # in_features 128 (attention/gate/up) are not divisible by 256; down_proj (256) is.
    assert outcome.notes and "not divisible by group=256" in outcome.notes[0]
    assert torch.isfinite(outcome.model(torch.tensor([[1, 2, 3]])).logits).all()
