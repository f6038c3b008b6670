"""Shape-only model configs: real architectures with random weights, for speed, memory and cost.

Built on the target device with initialisation skipped and then filled with small random
values there, so an 8B shape takes seconds on a GPU instead of a slow CPU init.
"""

from __future__ import annotations

from transformers import LlamaConfig

_LLAMA3 = dict(vocab_size=128256, rope_theta=500000.0, bos_token_id=128000, eos_token_id=128001)

SHAPES: dict[str, dict] = {
    "smollm2-135m": dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
        max_position_embeddings=8192,
    ),
    "llama-3.2-1b": dict(
        _LLAMA3, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True, head_dim=64,
    ),
    "llama-3-8b": dict(
        _LLAMA3, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False,
    ),
    "llama-3-70b": dict(
        _LLAMA3, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
        num_attention_heads=64, num_key_value_heads=8, tie_word_embeddings=False,
    ),
}


def shape_config(name: str) -> LlamaConfig:
    if name not in SHAPES:
        raise KeyError(f"unknown shape '{name}'; known shapes: {', '.join(SHAPES)}")
    return LlamaConfig(**{"max_position_embeddings": 8192, **SHAPES[name]})


def parameter_count(config: LlamaConfig) -> int:
    """Parameters of a llama-style decoder, from its config alone (no weights needed)."""
    h, i, v, n = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    attention = h * config.num_attention_heads * head_dim * 2 + h * kv * 2
    per_layer = attention + 3 * h * i + 2 * h
    embeddings = v * h * (1 if config.tie_word_embeddings else 2)
    return n * per_layer + embeddings + h


def build_random(config: LlamaConfig, device: str, dtype):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    with torch.device(device), no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=generator)
    return model.eval()
