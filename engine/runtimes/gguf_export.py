"""Write a float llama-architecture model to a GGUF file that llama.cpp loads: F32 or F16 tensors
named the way llama.cpp expects, the architecture's hyper-parameters, and the tokenizer.

Two facts of the format matter for getting the same numbers back:
- Hugging Face stores q_proj/k_proj rows in the rotary layout of its own `rotate_half`; llama.cpp
  rotates interleaved pairs, so those rows are permuted on the way out, as llama.cpp's own
  converter does (transformers' GGUF loader applies the inverse when it reads a GGUF in).
- A tied output head is written once, as the token embedding; llama.cpp reuses it.

The tokenizer comes from the model's own GGUF where it has one (copied as it is), else from the
tokenizer's `tokenizer.json` (byte-level BPE), else (a shape-only model) no vocabulary at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import torch

from engine.home import flush_to_disk

SUPPORTED = ("LlamaForCausalLM",)
TOKENIZER_PREFIX = "tokenizer."
FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}


class ExportError(ValueError):
    """A model this exporter cannot write; the message says what is supported."""


def rotary_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of q_proj (heads = attention heads) or k_proj (heads = key/value heads), from Hugging
    Face's half-split rotary layout to llama.cpp's interleaved pairs."""
    return (weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def check_exportable(model) -> None:
    architectures = getattr(model.config, "architectures", None) or [type(model).__name__]
    if not set(architectures) & set(SUPPORTED) and type(model).__name__ not in SUPPORTED:
        raise ExportError(f"GGUF export supports {', '.join(SUPPORTED)} models; this one is "
                          f"{', '.join(architectures)}")


def _metadata(writer: gguf.GGUFWriter, config, name: str, dtype: str) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None)
                                    or (getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(FILE_TYPES[dtype])


def _copy_tokenizer(writer: gguf.GGUFWriter, source: Path) -> None:
    """Every tokenizer.* field of a GGUF file, as it is."""
    reader = gguf.GGUFReader(str(source))
    for key, field in reader.fields.items():
        if not key.startswith(TOKENIZER_PREFIX):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, field.contents())
        else:
            writer.add_key_value(key, field.contents(), kind)


def _bpe_tokenizer(writer: gguf.GGUFWriter, tokenizer) -> None:
    """A byte-level BPE tokenizer (GPT-2 style, as SmolLM2 and Llama 3 use) from its tokenizer.json."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        raise ExportError("GGUF export writes byte-level BPE tokenizers (GPT-2 / Llama 3 style); this tokenizer is "
                          f"{model.get('type')}")
    vocab = tokenizer.get_vocab()
    tokens = [""] * max(len(vocab), max(vocab.values()) + 1)
    for text, index in vocab.items():
        tokens[index] = text
    special = {t["id"] for t in spec.get("added_tokens") or [] if t.get("special")}
    types = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in ((writer.add_bos_token_id, tokenizer.bos_token_id),
                             (writer.add_eos_token_id, tokenizer.eos_token_id),
                             (writer.add_pad_token_id, tokenizer.pad_token_id)):
        if token_id is not None:
            setter(token_id)
    writer.add_add_bos_token(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _tensors(model, dtype: str):
    """(GGUF name, array) for every weight, q/k rotary-permuted, a tied head left out."""
    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = getattr(config, "tie_word_embeddings", False)
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            if "rotary_emb" in hf_name:
                continue
            raise ExportError(f"no GGUF name for tensor {hf_name}")
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            array = rotary_permute(array, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            array = rotary_permute(array, config.num_key_value_heads)
        if dtype == "f16" and array.ndim > 1:  # norms stay F32, as llama.cpp's converter keeps them
            array = array.astype(np.float16)
        yield name, array


def write_gguf(model, path: Path, dtype: str = "f32", name: str = "model", tokenizer=None,
               tokenizer_gguf: Path | None = None) -> Path:
    """Write `model` (a float transformers llama model) to `path`; returns the path."""
    check_exportable(model)
    if dtype not in FILE_TYPES:
        raise ExportError(f"GGUF export writes f32 or f16, not {dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    _metadata(writer, model.config, name, dtype)
    if tokenizer_gguf is not None:
        _copy_tokenizer(writer, tokenizer_gguf)
    elif tokenizer is not None:
        _bpe_tokenizer(writer, tokenizer)
    else:
        writer.add_tokenizer_model("none")  # a shape-only model: token ids in, logits out
    for tensor_name, array in _tensors(model, dtype):
        writer.add_tensor(tensor_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return flush_to_disk(path)
