"""Size accounting: bytes the model holds after compression, and the saved artifact's size.

weight_bytes counts the model's state (parameters and buffers, packed data plus scales and
zero-points) as the libraries serialise it: tensor subclasses are opened into the plain
tensors they hold, and storage shared between names (tied embeddings) is counted once.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.home import flush_to_disk, os_error


def plain_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors that hold a (possibly subclassed, possibly nested) tensor's data."""
    if type(tensor) in (torch.Tensor, torch.nn.Parameter) or not hasattr(tensor, "__tensor_flatten__"):
        return [tensor]
    names, _ctx = tensor.__tensor_flatten__()
    inner = []
    for name in names:
        inner += plain_tensors(getattr(tensor, name))
    return inner


def _storage_key(t: torch.Tensor):
    return (t.device.type, t.untyped_storage().data_ptr(), t.storage_offset(), t.nbytes)


def bytes_by_device(state: dict) -> dict[str, int]:
    """The state's bytes on each device, subclasses opened and shared storage counted once."""
    seen, totals = set(), {}
    for value in state.values():
        if not isinstance(value, torch.Tensor):
            continue
        for t in plain_tensors(value):
            key = _storage_key(t)
            if key not in seen:
                seen.add(key)
                totals[str(t.device)] = totals.get(str(t.device), 0) + t.nbytes
    return totals


def state_bytes(state: dict) -> int:
    return sum(bytes_by_device(state).values())


def placement(model) -> dict | None:
    """Where a model split across GPUs (accelerate's hf_device_map) holds its weights: bytes and modules per GPU,
    for the record (None: one device)."""
    layout = getattr(model, "hf_device_map", None)
    if not layout or len(set(layout.values())) < 2:
        return None
    modules: dict[str, int] = {}
    for device in layout.values():
        name = f"cuda:{device}" if isinstance(device, int) else str(device)
        modules[name] = modules.get(name, 0) + 1
    held = bytes_by_device(model.state_dict())
    return {"device_map": "auto", "gpus": {d: {"weight_bytes": held.get(d, 0), "modules": modules.get(d, 0)}
                                           for d in sorted(set(modules) | set(held))}}


def weight_bytes(model) -> int:
    return state_bytes(model.state_dict())


def parameter_count(model) -> int:
    """Logical parameters (original weights), whatever their packed storage looks like."""
    seen, total = set(), 0
    for module in model.modules():
        for _name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            shape = getattr(param, "quant_state", None)
            total += shape.shape.numel() if shape is not None else param.numel()
    return total


def artifact_tensors(model, metadata: dict) -> tuple[dict, dict]:
    """What the artifact holds: plain tensors (subclasses opened with the library's own flattening, tied
    weights stored once) and the string metadata that goes in its header."""
    state = {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    extra: dict[str, str] = {}
    if any(hasattr(v, "__tensor_flatten__") and type(v) is not torch.Tensor for v in state.values()):
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

        state, extra = flatten_tensor_state_dict(state)
    tensors, aliases = {}, {}
    seen: dict = {}
    for name, tensor in state.items():
        key = _storage_key(tensor)
        if key in seen:
            aliases[name] = seen[key]  # tied weights are stored once
            continue
        seen[key] = name
        tensors[name] = tensor.detach()
    return tensors, {**extra, "compecon": json.dumps(metadata), "aliases": json.dumps(aliases)}


# safetensors' dtype order (its Rust `Dtype` enum): the file lays tensors out by this order, largest first, then by
# name, and the offsets' digits make the header's length depend on that order.
_DTYPE_ORDER = ("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16",
                "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64")


def artifact_bytes(tensors: dict, metadata: dict) -> int:
    """The safetensors file's size without writing it (a shape-only 8B model need not put 16 GB on disk to be
    sized): 8 bytes of header length, the JSON header padded to a multiple of 8, then the tensor data.
    safetensors has no size-only call, so the header is laid out here as the library lays it out; a test checks
    the figure against files the library writes."""
    from safetensors.torch import _TYPES

    names = {dtype: name for name, dtype in _TYPES.items()}
    ordered = sorted(tensors, key=lambda n: (-_DTYPE_ORDER.index(names[tensors[n].dtype]), n))
    header: dict = {"__metadata__": metadata}
    offset = 0
    for name in ordered:
        tensor = tensors[name]
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    length = len(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode())
    return 8 + length + (-length % 8) + offset


def save_artifact(model, folder: Path, metadata: dict) -> int:
    """Save with the library's own flattening to safetensors; returns bytes on disk."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors, meta = artifact_tensors(model, metadata)
    path = folder / "model.safetensors"
    partial = folder / "model.safetensors.partial"  # a file named model.safetensors is whole
    try:
        save_file({name: t.contiguous().cpu() for name, t in tensors.items()}, str(partial), metadata=meta)
    except SafetensorError as error:  # its I/O failures (a full disk) are not OSErrors: make them one
        partial.unlink(missing_ok=True)
        raise os_error(error, path) from error
    flush_to_disk(partial).replace(path)  # flushed now, not in the background while the next plan is timed
    if hasattr(model, "config"):
        model.config.to_json_file(folder / "config.json")
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".safetensors")


def safetensors_data_bytes(path: Path) -> int:
    """Bytes of tensor data in a safetensors file, read from its header (an independent count)."""
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_len))
    return sum(end - start for name, entry in header.items() if name != "__metadata__"
               for start, end in [entry["data_offsets"]])
