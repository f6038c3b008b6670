"""Shared fixtures: an isolated COMPECON_HOME per test session and a tiny llama-shaped model."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore")


@pytest.fixture(scope="session", autouse=True)
def compecon_home(tmp_path_factory):
    path = tmp_path_factory.mktemp("compecon-home")
    os.environ["COMPECON_HOME"] = str(path)
    return path


@pytest.fixture
def tiny_model():
    """A small llama-shaped model with random weights (real transformers code, tiny sizes)."""
    from transformers import LlamaConfig

    from engine.models import build_random

    config = LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True)
    return build_random(config, "cpu", None)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A llama folder (two 64-wide layers, safetensors) with a 300-word tokenizer: the real loading, quantization
    and measuring code in seconds."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=300, max_position_embeddings=512,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    vocab = {f"w{i}": i for i in range(299)} | {"[UNK]": 299}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", eos_token="w0").save_pretrained(folder)
    return folder
