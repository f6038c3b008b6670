"""The library versions a run measured with, stored in its record: a figure is only
reproducible with the kernels that produced it (torchao and bitsandbytes change them often)."""

from __future__ import annotations

from importlib import metadata

LIBRARIES = ("torch", "transformers", "torchao", "optimum-quanto", "bitsandbytes", "accelerate", "gguf")


def library_versions(names=LIBRARIES, missing: str | None = None) -> dict[str, str]:
    """{package: version}; a package not installed is left out, or reads `missing` when one is given."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if missing is not None:
                out[name] = missing
    return out
