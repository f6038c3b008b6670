"""Shared fixtures: an isolated COMPECON_HOME per test session and a tiny llama-shaped model."""

from __future__ import annotations

import os
import warnings

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
