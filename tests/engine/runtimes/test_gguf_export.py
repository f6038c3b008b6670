"""GGUF export checked against an independent file: the embedded model's own GGUF. Written back as F32,
every tensor equals the source file's tensor dequantized by the gguf package (so names, shapes and the
rotary q/k permutation are llama.cpp's), and the tokenizer travels unchanged."""

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize

from engine.models import load_model
from engine.runtimes.gguf_export import ExportError, rotary_permute, write_gguf
from engine.runtimes.llamacpp import header_tensor_bytes


@pytest.fixture(scope="module")
def embedded():
    return load_model("smollm2-135m", progress=lambda *a: None)


@pytest.fixture(scope="module")
def exported(embedded, tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "f32.gguf"
    return write_gguf(embedded.base, path, "f32", name="smollm2", tokenizer_gguf=embedded.gguf_source)


def test_every_tensor_equals_the_source_gguf_dequantized(embedded, exported):
    ours = {t.name: t for t in gguf.GGUFReader(str(exported)).tensors}
    source = {t.name: t for t in gguf.GGUFReader(str(embedded.gguf_source)).tensors}
    assert set(ours) == set(source) and len(ours) == 272  # a tied head is written once
    for name, tensor in source.items():
        expected = dequantize(tensor.data, tensor.tensor_type).reshape(-1)
        assert np.array_equal(np.asarray(ours[name].data).reshape(-1), expected), name


def test_tokenizer_and_sizes(embedded, exported):
    fields = gguf.GGUFReader(str(exported)).fields
    source = gguf.GGUFReader(str(embedded.gguf_source)).fields
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id",
                "tokenizer.chat_template"):
        assert fields[key].contents() == source[key].contents(), key
    assert fields["llama.attention.head_count_kv"].contents() == 3
    params = sum(p.numel() for p in embedded.base.parameters())  # tied weights counted once by parameters()
    assert header_tensor_bytes(exported) == 4 * params
    assert 0 < exported.stat().st_size - header_tensor_bytes(exported) < 0.01 * exported.stat().st_size


def test_the_bpe_tokenizer_path_writes_the_same_vocabulary(embedded, tmp_path):
    """The tokenizer.json route (folders without a GGUF) gives the tokens and merges of the GGUF's own."""
    path = write_gguf(embedded.base, tmp_path / "bpe.gguf", "f16", tokenizer=embedded.tokenizer)
    fields = gguf.GGUFReader(str(path)).fields
    source = gguf.GGUFReader(str(embedded.gguf_source)).fields
    assert fields["tokenizer.ggml.tokens"].contents() == source["tokenizer.ggml.tokens"].contents()
    assert fields["tokenizer.ggml.merges"].contents() == source["tokenizer.ggml.merges"].contents()
    assert fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16


def test_rotary_permutation_interleaves_each_heads_halves():
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)  # one head of 8 rows: halves [0..3] and [4..7]
    assert rotary_permute(rows, 1).reshape(-1).tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_other_architectures_are_refused(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32))
    with pytest.raises(ExportError, match="supports LlamaForCausalLM"):
        write_gguf(model, tmp_path / "x.gguf")
