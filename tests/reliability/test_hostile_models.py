"""Hostile and damaged models: custom code never runs and says so, pickles are refused, user paths stay inside
COMPECON_MODEL_ROOTS, and a truncated or corrupted GGUF or safetensors file is a clear ModelError naming the
file, before any library trips over it. Every model here is built on the fly in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest

from engine.models import MODEL_ROOTS_ENV, ModelError, embedded_gguf_path, load_model
from engine.runtimes.gguf_check import GgufInvalid, check_gguf

CUSTOM_MAP = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}


@pytest.fixture(scope="module")
def tiny_folder(tiny_llama) -> Path:
    """A real llama folder with its tokenizer (tests/reliability/conftest.py), copied per test below."""
    return tiny_llama


def _copy(folder: Path, tmp_path: Path, name: str = "model", **config_changes) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    if config_changes:
        config = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps(config | config_changes))
    return target


@pytest.fixture
def no_roots(monkeypatch):
    monkeypatch.delenv(MODEL_ROOTS_ENV, raising=False)


# --- custom code (auto_map) ---

def test_custom_code_with_an_unknown_model_type_is_refused_before_transformers(tiny_folder, tmp_path, no_roots):
    folder = _copy(tiny_folder, tmp_path, model_type="evil_net", auto_map=CUSTOM_MAP)
    (folder / "modeling_evil.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    with pytest.raises(ModelError) as caught:
        load_model(str(folder))
    message = str(caught.value)
    assert "custom code is never run" in message and "'evil_net'" in message
    assert "modeling_evil.EvilForCausalLM" in message and "configuration_evil.EvilConfig" in message
    assert "GGUF" in message and "transformers ships" in message
    assert "trust_remote_code" not in message and "hf.co" not in message
    assert not (tmp_path / "ran").exists()


def test_custom_code_with_a_known_model_type_is_noted_and_the_stock_architecture_loaded(tiny_folder, tmp_path,
                                                                                        no_roots):
    folder = _copy(tiny_folder, tmp_path, auto_map=CUSTOM_MAP)
    loaded = load_model(str(folder))
    assert type(loaded.base).__name__ == "LlamaForCausalLM"
    [note] = loaded.notes
    assert "modeling_evil.EvilForCausalLM" in note and "was not run" in note and "'llama'" in note


def test_a_custom_tokenizer_class_is_refused_too(tiny_folder, tmp_path, no_roots):
    folder = _copy(tiny_folder, tmp_path)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config |= {"tokenizer_class": "EvilTokenizer", "auto_map": {"AutoTokenizer": ["tok_evil.Evil", None]}}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(ModelError, match="tokenizer_class 'EvilTokenizer'.*custom code is never run"):
        load_model(str(folder))


@pytest.mark.parametrize("text, problem", [("{not json", r"not valid JSON \(line 1, column 2"),
                                           ("[1, 2]", "holds a JSON list")])
def test_a_malformed_config_is_named(tiny_folder, tmp_path, no_roots, text, problem):
    folder = _copy(tiny_folder, tmp_path)
    (folder / "config.json").write_text(text)
    with pytest.raises(ModelError, match=problem) as caught:
        load_model(str(folder))
    assert str(folder / "config.json") in str(caught.value)


def test_the_run_record_and_results_page_carry_the_custom_code_note(tiny_folder, tmp_path, no_roots):
    from streamlit.testing.v1 import AppTest

    from engine.pipeline import run
    from engine.settings import RunSettings, plans_for

    folder = _copy(tiny_folder, tmp_path, auto_map={"AutoModelForCausalLM": "modeling_evil.**Bold**"})
    settings = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, max_new_tokens=2,
                           eval_tokens=32, keep_artifacts=False, eval_batch=4)
    record = run(str(folder), plans_for(["fp32"], None, "cpu"), settings, progress=lambda _event: None)
    [note] = [n for n in record["model"]["notes"] if "auto_map" in n]
    assert "modeling_evil.**Bold**" in note and "stock 'llama' architecture was measured" in note

    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.query_params.update(run=record["run_id"])
    at.run()
    at.switch_page("app_pages/results.py").run()
    shown = [c.value for c in at.caption if "custom code" in c.value]
    assert shown and r"modeling\_evil.\*\*Bold\*\*" in shown[0]  # the config's text as written, never as Markdown


# --- weights: safetensors only, intact ---

def test_pickled_weights_are_refused(tiny_folder, tmp_path, no_roots):
    folder = _copy(tiny_folder, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelError, match="pytorch_model.bin: pickled weights are refused"):
        load_model(str(folder))


@pytest.mark.parametrize("damage", ["truncated", "header"])
def test_damaged_safetensors_are_a_model_error(tiny_folder, tmp_path, no_roots, damage):
    folder = _copy(tiny_folder, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\xff" * 8 + data[8:])
    with pytest.raises(ModelError, match=f"could not load the model in {folder}: SafetensorError"):
        load_model(str(folder))


# --- where a model may come from ---

def test_paths_outside_the_model_roots_are_refused(tiny_folder, tmp_path, monkeypatch):
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    inside = _copy(tiny_folder, allowed, "inside")
    outside = _copy(tiny_folder, elsewhere, "outside")
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    sneaky = _copy(tiny_folder, allowed, "sneaky")
    (sneaky / "model.safetensors").unlink()
    (sneaky / "model.safetensors").symlink_to(outside / "model.safetensors")
    monkeypatch.setenv(MODEL_ROOTS_ENV, os.pathsep.join([str(tmp_path / "missing"), str(allowed)]))

    assert load_model(str(inside)).name == "inside"
    for refused in (outside, allowed / "link", sneaky / ".." / ".." / "elsewhere" / "outside", sneaky,
                    elsewhere / "model.gguf"):
        with pytest.raises(ModelError, match=f"outside the model folders allowed by {MODEL_ROOTS_ENV}"):
            load_model(str(refused))
    with pytest.raises(ModelError, match="which leads to"):
        load_model(str(allowed / "link"))


def test_without_model_roots_any_path_loads_with_links_followed(tiny_folder, tmp_path, no_roots):
    model = _copy(tiny_folder, tmp_path, "real")
    (tmp_path / "alias").symlink_to(model, target_is_directory=True)
    assert load_model(str(tmp_path / "alias")).name == "real"


# --- GGUF files ---

def _tiny_gguf(path: Path, bpe_merges: list[str] | None = None) -> Path:
    """A well-formed GGUF of two tensors and a three-word vocabulary (a byte-level BPE one with merges)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    if bpe_merges is not None:
        writer.add_tokenizer_model("gpt2")
        writer.add_token_types([gguf.TokenType.NORMAL] * 3)
        writer.add_token_merges(bpe_merges)
    writer.add_token_list(["a", "b", "c"])
    writer.add_tensor("token_embd.weight", np.ones((3, 4), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _field_value_offset(path: Path, key: str) -> int:
    """Where a metadata field's value starts (after its key and type), read by the gguf package."""
    field = gguf.GGUFReader(str(path)).fields[key]
    return int(field.offset) + 8 + len(key.encode()) + 4


def _damaged(tmp_path: Path, damage: str) -> Path:
    good = _tiny_gguf(tmp_path / "good.gguf")
    data = bytearray(good.read_bytes())
    if damage == "empty":
        data = bytearray()
    elif damage == "magic":
        data[:4] = b"GGML"
    elif damage == "version":
        data[4:8] = (99).to_bytes(4, "little")
    elif damage == "tensor count":
        data[8:16] = (1 << 40).to_bytes(8, "little")
    elif damage == "array length":  # the token list claims 2**60 strings
        at = _field_value_offset(good, "tokenizer.ggml.tokens") + 4
        data[at : at + 8] = (1 << 60).to_bytes(8, "little")
    elif damage == "tensor data":  # the last tensor's data cut short
        last = gguf.GGUFReader(str(good)).tensors[-1]
        data = data[: last.data_offset + last.n_bytes - 4]
    bad = tmp_path / f"{damage.replace(' ', '-')}.gguf"
    bad.write_bytes(bytes(data))
    return bad


GGUF_DAMAGE = {
    "empty": "shorter than a GGUF header",
    "magic": "not a GGUF file: it starts with b'GGML'",
    "version": "GGUF version 99",
    "tensor count": "claims 1,099,511,627,776 tensors",
    "array length": "truncated or corrupted: .* run past the end of the file",
    "tensor data": "truncated or corrupted: 128 bytes at byte .* run past the end of the file",
}


def test_a_valid_gguf_passes_the_check(tmp_path):
    check_gguf(_tiny_gguf(tmp_path / "good.gguf"))


@pytest.mark.parametrize("damage", GGUF_DAMAGE)
def test_a_damaged_gguf_is_named_with_its_problem(tmp_path, damage):
    bad = _damaged(tmp_path, damage)
    with pytest.raises(GgufInvalid, match=GGUF_DAMAGE[damage]) as caught:
        check_gguf(bad)
    assert str(bad) in str(caught.value)


@pytest.mark.parametrize("damage", ["array length", "tensor data"])
def test_the_stock_reader_alone_would_not_say_what_is_wrong(tmp_path, damage):
    """The independent expectation the strict reader is measured against: gguf's own reader either accepts the
    damaged file or fails with an index or reshape error that names neither the file nor the problem."""
    bad = _damaged(tmp_path, damage)
    try:
        gguf.GGUFReader(str(bad))
    except (IndexError, ValueError) as error:
        assert str(bad) not in str(error)


def test_a_truncated_gguf_is_refused_before_conversion(tmp_path, no_roots, compecon_home):
    """A prefix of the embedded model's real GGUF: a ModelError naming the file; nothing is converted or cached."""
    with open(embedded_gguf_path(), "rb") as source:
        prefix = source.read(3_000_000)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(prefix)
    before = set((compecon_home / "models").glob("cut*")) if (compecon_home / "models").exists() else set()
    with pytest.raises(ModelError, match=f"{cut} is truncated or corrupted: .* past the end of the file"):
        load_model(str(cut))
    assert set((compecon_home / "models").glob("cut*")) == before == set()


def test_a_gguf_transformers_cannot_map_is_a_model_error(tmp_path, no_roots):
    """Well-formed but incomplete (no tokenizer model, no hyper-parameters): transformers' GGUF loader refuses it,
    and the refusal arrives as a ModelError naming the file."""
    path = _tiny_gguf(tmp_path / "incomplete.gguf")
    with pytest.raises(ModelError, match=f"could not load {path}: ValueError"):
        load_model(str(path))


def test_a_gguf_that_panics_the_tokenizer_library_is_a_model_error(tmp_path, no_roots):
    """A byte-level BPE whose merge names pieces the vocabulary lacks: the Rust tokenizers library panics, and a
    Rust panic is a BaseException that would end the worker; it arrives as a ModelError naming the file."""
    path = _tiny_gguf(tmp_path / "bad-merges.gguf", bpe_merges=["a b"])
    with pytest.raises(ModelError, match=f"could not load {path}"):
        load_model(str(path))
