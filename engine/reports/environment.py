"""The software a report was made with: tool and library versions, Python, platform, date."""

from __future__ import annotations

import platform
from datetime import UTC, datetime

import engine
from engine.versions import library_versions

LIBRARIES = ("torch", "transformers", "torchao", "optimum-quanto", "bitsandbytes", "gguf", "evaluate",
             "plotly", "kaleido")


def generated_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def software() -> list[tuple[str, str]]:
    """(label, value) rows: the tool first, then Python, the platform and each library."""
    rows = [("compecon (this tool)", engine.__version__),
            ("Python", platform.python_version()),
            ("Platform", f"{platform.system()} {platform.release()} ({platform.machine()})")]
    rows += list(library_versions(LIBRARIES, missing="not installed").items())
    return rows
