"""Where things live: the engine's state in `$COMPECON_HOME` (default `~/.compecon`), and the
project's own files (sample data shipped with the tool)."""

from __future__ import annotations

import errno
import os
import re
import shutil
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


def flush_to_disk(path: Path) -> Path:
    """Write a file's (or a folder's files') dirty pages out now: left to the kernel, a few hundred MB just
    written flush in the background while the next plan is timed, and on 2 cores that writeback slowed
    llama.cpp's decode steps by 20-30%."""
    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    return path


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_atomic(path: Path, text: str) -> Path:
    """Write a cache file whole or not at all (a temporary file beside it, then a rename): a truncated cache left
    by a full disk or a kill broke every later run before ("Unterminated string ...")."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def os_error(error: Exception, path: Path) -> OSError:
    """A failed write as an OSError with its errno: safetensors reports its I/O failures (a full disk) as a
    SafetensorError whose text ends '(os error N)'."""
    if isinstance(error, OSError):
        return error
    code = re.search(r"os error (\d+)", str(error))
    return OSError(int(code.group(1)) if code else errno.EIO, str(error), str(path))


def disk_problem(error: OSError, path: Path, needed_bytes: int | None = None) -> str:
    """A write that failed, said so a user can act: where, how much was needed and is free, what to do."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    need = f"it needs about {needed_bytes / 1e6:,.0f} MB, " if needed_bytes else ""
    if error.errno in DISK_FULL:
        return (f"the disk is full writing {path} ({need}{free / 1e6:,.0f} MB free there): free some space "
                "(`compecon delete RUN` removes a run and its files), point COMPECON_HOME at a larger disk, or run "
                "with --no-keep-artifacts")
    return f"could not write {path}: {error.strerror or error}"
