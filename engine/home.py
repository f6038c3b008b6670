"""Where things live: the engine's state in `$COMPECON_HOME` (default `~/.compecon`), and the
project's own files (sample data shipped with the tool)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = PROJECT_ROOT / "sample_data"


def home() -> Path:
    path = Path(os.environ.get("COMPECON_HOME", "~/.compecon")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
