"""What the reliability tests share: quick settings (the tiny model folder is the suite's, tests/conftest.py), a
small disk to fill (a tmpfs the test mounts and unmounts; root only, as CI runs), and SQLite's own check."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.settings import RunSettings

QUICK = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8, eval_tokens=64,
                    max_new_tokens=4)


@contextmanager
def small_disk(path: Path, size: str = "256k"):
    """`path` becomes a fresh tmpfs of `size` for the block (what was there is hidden, not touched)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small disk here (needs root, as CI runs): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk under `folder` until at most `leave` bytes are free."""
    filler = folder / f"filler-{uuid.uuid4().hex[:6]}"
    try:
        with open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass  # full (perhaps already before the file could be made)
    if leave and filler.exists():
        with open(filler, "r+b") as handle:
            handle.truncate(max(0, filler.stat().st_size - leave))
    return filler


def integrity(store_path: Path) -> str:
    """SQLite's own PRAGMA integrity_check, on a read-only connection of its own."""
    db = sqlite3.connect(store_path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
