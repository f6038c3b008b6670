"""The software a report was made with: tool and library versions, Python, platform, date."""

from __future__ import annotations

import importlib.metadata
import platform
from datetime import UTC, datetime

import engine

LIBRARIES = ("torch", "transformers", "torchao", "optimum-quanto", "bitsandbytes", "gguf", "evaluate",
             "plotly", "kaleido")


def library_versions(names=LIBRARIES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def generated_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def software() -> list[tuple[str, str]]:
    """(label, value) rows: the tool first, then Python, the platform and each library."""
    rows = [("compecon (this tool)", engine.__version__),
            ("Python", platform.python_version()),
            ("Platform", f"{platform.system()} {platform.release()} ({platform.machine()})")]
    rows += list(library_versions().items())
    return rows
