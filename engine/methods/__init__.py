"""Compression methods, one small module per family, each registering its steps with
`engine.registry.step`. Importing this package registers them all."""

from engine.methods import baselines, calibrated, distill, fp8, gguf, hqq, mixed, prune, smoothquant, weights  # noqa: F401
