"""What the pipeline asks of the runtime a plan runs in (torch, or llama.cpp for a GGUF plan): its
latency rows, the bytes it holds, its artifact and the record's runtime section. Every plan goes
through these few functions, so a plan's speed and its accuracy come from the same artifact in the
same runtime.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from engine.measure.decode_paths import measure_paths
from engine.measure.load import MachineLoad
from engine.measure.size import artifact_bytes, artifact_tensors, save_artifact, weight_bytes
from engine.runtimes.llamacpp import GgufModel, sha256

# one label for every batch size, so the throughput curve and the cost at any batch stay on one path
LLAMACPP_PATH = "llama.cpp decode, batch N = N parallel sequences in one KV cache (as llama-server -np N)"


def latency_rows(model, prompt_ids, batch_sizes, decode_steps: int, repeats: int, device: str,
                 paths: tuple[str, ...], progress=lambda message: None, skipped: list | None = None,
                 energy_s: float = 0.0) -> list[dict]:
    """The measured latency rows of a plan, in its runtime (see measure_paths for the torch paths); llama.cpp's
    energy is not metered (its calls run in C threads the block loop cannot pace)."""
    if not isinstance(model, GgufModel):
        with MachineLoad() as load:
            rows = measure_paths(model, prompt_ids, batch_sizes, decode_steps, repeats, device, paths, progress,
                                 skipped, energy_s)
        return [{**row, **load.fields()} for row in rows]
    rows = []
    for batch in batch_sizes:
        progress(f"measuring latency: llama.cpp, batch {batch}")
        with MachineLoad() as load:
            figures = (model.measure_latency(prompt_ids, decode_steps, repeats) if batch == 1
                       else model.measure_parallel(prompt_ids, batch, decode_steps, repeats))
        rows.append({"path": "llama.cpp", "decode_path": LLAMACPP_PATH, **figures.row(), **load.fields(),
                     "energy_source": "not measured: llama.cpp plans are not metered yet"})
    return rows


def held_bytes(model) -> int:
    """weight_bytes: the tensors as held for serving (a GGUF's as llama.cpp loaded them)."""
    return model.tensor_bytes() if isinstance(model, GgufModel) else weight_bytes(model)


def artifact_size(model, metadata: dict) -> int:
    """disk_bytes: the plan's artifact as saved (a GGUF plan wrote its file already; a torch model's safetensors
    file is sized without writing it, so measuring never needs the disk space)."""
    if isinstance(model, GgufModel):
        return model.path.stat().st_size
    return artifact_bytes(*artifact_tensors(model, metadata))


def save(model, folder: Path, metadata: dict) -> None:
    """Keep the plan's artifact in `folder` (a GGUF plan's file is there already)."""
    if not isinstance(model, GgufModel):
        save_artifact(model, folder, metadata)


def describe(model, folder: Path | None, keep: bool = True) -> dict:
    """The record's runtime section: name, version, threads, the artifact (None when it is not kept) and
    the sha256 of the file that was measured."""
    if isinstance(model, GgufModel):
        return {**model.describe(), **({} if keep else {"artifact": None})}
    artifact = folder / "model.safetensors" if folder is not None else None
    saved = artifact is not None and artifact.is_file()
    return {"name": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
            "artifact": str(artifact) if saved and keep else None,
            "artifact_sha256": sha256(artifact) if saved else None}


def release(model, folder: Path | None, keep: bool) -> None:
    """Close a runtime's handles, and drop the plan's files unless they are kept."""
    if isinstance(model, GgufModel):
        model.close()
    if folder is not None and not keep:
        shutil.rmtree(folder, ignore_errors=True)
