"""The library versions a run measured with, stored in its record: a figure is only
reproducible with the kernels that produced it (torchao and bitsandbytes change them often)."""

from __future__ import annotations

from importlib import metadata

LIBRARIES = ("torch", "transformers", "torchao", "optimum-quanto", "bitsandbytes", "accelerate", "gguf")


def library_versions() -> dict[str, str]:
    """{package: version} for the compression stack; packages not installed are left out."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
