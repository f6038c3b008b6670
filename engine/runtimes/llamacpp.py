"""llama.cpp as a runtime, through the llama-cpp-python binding: quantize a GGUF with llama.cpp's own
quantizer (`llama_model_quantize`, which writes the k-quants the `gguf` package cannot encode), and
measure the file the way llama.cpp serves it: prefill and decode timed through the binding's
`eval`, log-probabilities from the same file's logits for every accuracy figure.

The binding is an optional, compiled dependency (`make setup` builds it); every entry point says
how to install it when it is missing.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import torch

from engine.evaluation.forward import generated_rows_cover, shared_prefix_length
from engine.home import flush_to_disk
from engine.measure.latency import LatencyFigures

# GGUF plan types -> llama.cpp's file types (llama.h's llama_ftype). IQ2/IQ3/IQ1 types need an
# importance matrix to be usable and are left out until one is passed.
FILE_TYPES = {
    "f32": 0, "f16": 1, "bf16": 32, "q8_0": 7, "q6_k": 18, "q5_k_m": 17, "q5_k_s": 16, "q5_0": 8, "q5_1": 9,
    "q4_k_m": 15, "q4_k_s": 14, "q4_0": 2, "q4_1": 3, "iq4_nl": 25, "iq4_xs": 30, "q3_k_l": 13, "q3_k_m": 12,
    "q3_k_s": 11, "q2_k": 10,
}
SCORING_CELLS = 4096  # KV cells for teacher-forced continuations at once (a reference longer than this is refused)
INSTALL = "llama-cpp-python is not installed: `make setup` builds it (about 10-20 minutes on 2 cores)"


class RuntimeMissing(RuntimeError):
    """The llama.cpp binding is not installed here."""


def binding():
    try:
        import llama_cpp
    except ImportError as error:
        raise RuntimeMissing(INSTALL) from error
    # llama.cpp logs every tensor it quantizes and loads; errors still show (the plan's notes say the rest).
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return llama_cpp


def version() -> str:
    return binding().__version__


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def quantize(source: Path, target: Path, file_type: str, threads: int | None = None,
             imatrix: dict[str, np.ndarray] | None = None) -> Path:
    """llama.cpp's quantizer: `source` (an F32/F16 GGUF) to `target` in `file_type`; with an importance
    matrix ({GGUF tensor name: mean squared input per column}), rounding error is weighted by it."""
    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown GGUF type '{file_type}'; choose from {', '.join(FILE_TYPES)}")
    lib = binding()
    params = lib.llama_model_quantize_default_params()
    params.ftype = FILE_TYPES[file_type]
    params.nthread = threads or default_threads()
    params.allow_requantize = True
    keep = []  # the C side reads these buffers during the call
    if imatrix:
        entries = (lib.llama_model_imatrix_data * (len(imatrix) + 1))()  # NULL-name terminated
        for entry, (name, values) in zip(entries, imatrix.items()):
            data = np.ascontiguousarray(values, dtype=np.float32)
            keep += [name.encode(), data]
            entry.name, entry.size = keep[-2], data.size
            entry.data = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        params.imatrix = entries
    partial = target.with_name(target.name + ".partial")  # a file at `target` is whole
    code = lib.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if code != 0:
        full = shutil.disk_usage(target.parent).free < source.stat().st_size  # llama.cpp says only "failed"
        partial.unlink(missing_ok=True)
        if full:
            raise OSError(errno.ENOSPC, f"llama.cpp could not write {target.name} (code {code})", str(target))
        raise RuntimeError(f"llama.cpp could not quantize {source.name} to {file_type} (code {code})")
    return flush_to_disk(partial.replace(target))


@torch.no_grad()  # not inference_mode: the model is a plain float transformers model
def importance_matrix(model, rows: torch.Tensor, device: str) -> dict[str, np.ndarray]:
    """llama.cpp's importance matrix, computed in torch on calibration rows: for every linear layer, the
    mean over tokens of each input column's squared activation (what llama-imatrix collects), keyed by
    the layer's GGUF tensor name."""
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, model.config.num_hidden_layers)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    hooks = []
    for hf_name, module in model.named_modules():
        target = names.get_name(hf_name + ".weight", try_suffixes=(".weight",)) if hf_name else None
        if not isinstance(module, torch.nn.Linear) or target in (None, "output.weight"):  # as llama-imatrix: no head
            continue

        def collect(_module, inputs, _output, key=target):
            x = inputs[0].detach().float().reshape(-1, inputs[0].shape[-1])
            sums[key] = sums.get(key, 0) + (x * x).sum(0).cpu()
            counts[key] = counts.get(key, 0) + x.shape[0]

        hooks.append(module.register_forward_hook(collect))
    try:
        for batch in rows.split(4):
            model(input_ids=batch.to(device))
    finally:
        for hook in hooks:
            hook.remove()
    return {key: (total / counts[key]).numpy() for key, total in sums.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def header_tensor_bytes(path: Path) -> int:
    """Bytes of every tensor as the GGUF header describes it (type and shape), read by the `gguf`
    package: a count independent of llama.cpp's own (`GgufModel.tensor_bytes`) and of the file's size
    (which adds the header, the metadata and the tokenizer, and alignment padding)."""
    return sum(int(tensor.n_bytes) for tensor in gguf.GGUFReader(str(path)).tensors)


def _waves(wanted: list[tuple], streams: int, cells: int):
    """Continuations in waves of at most `streams` streams and `cells` new KV cells."""
    wave, used = [], 0
    for item in wanted:
        if len(item[-1]) > cells:
            raise ValueError(f"a continuation of {len(item[-1]):,} tokens is longer than llama.cpp's scoring context "
                             f"({cells:,} tokens): shorten that reference or choice")
        if len(wave) == streams or used + len(item[-1]) > cells:
            yield wave
            wave, used = [], 0
        wave.append(item)
        used += len(item[-1])
    if wave:
        yield wave


@dataclass
class GgufModel:
    """A GGUF file in llama.cpp: what a plan in the llama.cpp runtime is measured and evaluated through.
    `logits_all` contexts score every position (accuracy); a separate lean context times decoding as a
    server would (no logits copied for positions nobody reads)."""

    path: Path
    threads: int
    n_ctx: int = 4096
    file_type: str = ""

    runtime = "llama.cpp"

    def __post_init__(self):
        self._scorer = None
        self._timer = None
        self._generator = None

    def _context(self, logits_all: bool):
        return binding().Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_batch=512, n_threads=self.threads,
                               n_threads_batch=self.threads, logits_all=logits_all, verbose=False)

    @property
    def scorer(self):
        if self._scorer is None:
            self._scorer = self._context(True)
        return self._scorer

    @property
    def generator(self):
        if self._generator is None:
            self._generator = self._context(False)
        return self._generator

    def close(self) -> None:
        for llm in (self._scorer, self._timer, self._generator):
            if llm is not None:
                llm.close()
        self._scorer = self._timer = self._generator = None

    @staticmethod
    def _continue(llm, tokens: list[int], keep_last: int = 1) -> None:
        """Evaluate `tokens`, reusing the KV cache of the longest prefix the context already holds (a chat
        template's shared turn), as llama.cpp's server does; the last `keep_last` positions are always
        evaluated again so their logits are fresh."""
        common = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens[: len(tokens) - keep_last])
        llm.n_tokens = common  # eval() drops the cache beyond it
        llm.eval(tokens[common:])

    def describe(self) -> dict:
        """The record's runtime section."""
        return {"name": self.runtime, "version": version(), "threads": self.threads, "artifact": str(self.path),
                "artifact_sha256": sha256(self.path), "file_type": self.file_type}

    def tensor_bytes(self) -> int:
        """Bytes of every tensor as llama.cpp loaded them (`llama_model_size`): the weights a server holds."""
        return int(binding().llama_model_size(self.generator.model))

    # --- accuracy: log-probabilities from the file's own logits ---

    def logits(self, tokens: list[int], first: int = 0) -> np.ndarray:
        """Logits at positions `first`.. of `tokens`: [len(tokens) - first, vocab]."""
        llm = self.scorer
        self._continue(llm, list(map(int, tokens)), keep_last=len(tokens) - first)
        return np.array(llm.scores[first : len(tokens)], dtype=np.float32)

    def log_probs(self, rows: torch.Tensor, next_token: bool = False) -> torch.Tensor:
        """As engine.evaluation.texts.log_probs: log softmax per position, float32 on the CPU."""
        out = []
        for row in rows.tolist():
            logp = torch.log_softmax(torch.from_numpy(self.logits(row)), dim=-1)
            out.append(logp[:-1] if next_token else logp)
        return torch.stack(out)

    def greedy(self, prompt: list[int], max_new_tokens: int, eos: int | None) -> list[int]:
        """Greedy continuation token ids (cut at end of sequence), as `generate(do_sample=False)` gives."""
        llm = self.generator  # only the last position's logits are computed: what serving does
        self._continue(llm, list(map(int, prompt)))
        vocab = llm.n_vocab()
        out: list[int] = []
        for _ in range(max_new_tokens):
            last = np.ctypeslib.as_array(binding().llama_get_logits_ith(llm._ctx.ctx, -1), shape=(vocab,))
            token = int(np.argmax(last))
            if token == eos:
                break
            out.append(token)
            llm.eval([token])
        return out

    # --- several sequences at once: llama.cpp's parallel slots (what `llama-server -np N` serves) ---

    def _parallel(self, sequences: int, cells: int):
        """A context holding `sequences` streams in one unified KV cache of `cells` tokens, and a batch."""
        from llama_cpp import _internals  # the binding's own context/batch wrappers (the public Llama is one stream)

        lib = binding()
        params = lib.llama_context_default_params()
        params.n_ctx = cells
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = sequences
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = True
        context = _internals.LlamaContext(model=self.generator._model, params=params, verbose=False)
        return context, _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=sequences, verbose=False)

    @staticmethod
    def _decode(context, batch, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) entries."""
        raw = batch.batch
        raw.n_tokens = len(entries)
        for i, (token, position, sequence, logits) in enumerate(entries):
            raw.token[i], raw.pos[i], raw.n_seq_id[i], raw.logits[i] = token, position, 1, logits
            raw.seq_id[i][0] = sequence
        context.decode(batch)

    def _prefill(self, context, batch, prompt: list[int], sequence: int, offset: int = 0) -> np.ndarray:
        """The prompt into one stream from position `offset`, in chunks of the batch size; the logits after
        its last token."""
        for start in range(0, len(prompt), 512):
            chunk = prompt[start : start + 512]
            self._decode(context, batch, [(t, offset + start + j, sequence, start + j == len(prompt) - 1)
                                          for j, t in enumerate(chunk)])
        return self._row(context, len(chunk) - 1)

    def _row(self, context, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(binding().llama_get_logits_ith(context.ctx, index), shape=(self._vocab(),))

    def _vocab(self) -> int:
        return self.generator.n_vocab()

    def answer(self, prompts: list[list[int]], max_new_tokens: int, eos: int | None, continuations=None,
               on_rows=None, parallel: int = 8, progress=None) -> list[list[int]]:
        """As engine.evaluation.forward.answer: greedy continuations of many prompts, `parallel` streams
        decoded together (each stream's tokens are its own greedy choices; only the batching differs from
        `greedy`), then the teacher-forced continuations each prompt asks for: from the rows kept while
        generating where the output covers them, else each a stream sharing the prompt's KV cells
        (`llama_memory_seq_cp`), logits computed only where a continuation token is predicted."""
        outputs: list[list[int]] = [[] for _ in prompts]
        prompts = [list(map(int, p)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        longest = max((len(p) for p in prompts), default=1) + max_new_tokens
        # a chat template's shared turn is prefilled once per group and shared by every stream's KV cells
        shared = shared_prefix_length(prompts)
        parallel = min(parallel, max(len(prompts), 1))
        held = parallel * (longest + 8)  # the group's prompts and outputs; as many cells again for continuations
        reserve = max(held, SCORING_CELLS)
        context, batch = self._parallel(2 * parallel, held + reserve)
        lib = binding()
        try:
            for start in range(0, len(order), parallel):
                group = order[start : start + parallel]
                context.kv_cache_clear()
                if shared > 0:
                    head = prompts[group[0]][:shared]
                    for at in range(0, shared, 512):
                        self._decode(context, batch, [(t, at + j, 0, False) for j, t in enumerate(head[at : at + 512])])
                    for s in range(1, len(group)):
                        lib.llama_memory_seq_cp(context.memory, 0, s, 0, shared)
                # row t of a stream: the logits after its prompt and t generated tokens (kept for scoring)
                rows = {s: [self._prefill(context, batch, prompts[i][shared:], s, shared).copy()]
                        for s, i in enumerate(group)}
                nexts = {s: int(np.argmax(kept[0])) for s, kept in rows.items()}
                active = [s for s in nexts if nexts[s] != eos]
                for step in range(max_new_tokens):
                    for s in active:
                        outputs[group[s]].append(nexts[s])
                    if step == max_new_tokens - 1 or not active:
                        break
                    self._decode(context, batch, [(nexts[s], len(prompts[group[s]]) + step, s, True) for s in active])
                    for k, s in enumerate(active):
                        rows[s].append(self._row(context, k).copy())
                        nexts[s] = int(np.argmax(rows[s][-1]))
                    active = [s for s in active if nexts[s] != eos]
                if continuations is not None:
                    wanted = []
                    for s, i in enumerate(group):
                        for j, cont in enumerate(continuations(i, outputs[i])):
                            if generated_rows_cover(cont, outputs[i], len(rows[s])):
                                on_rows(i, j, torch.log_softmax(torch.from_numpy(np.stack(rows[s][: len(cont)])), -1))
                            else:
                                wanted.append((s, i, j, cont))
                    for wave in _waves(wanted, parallel, reserve):
                        self._teacher_force(context, batch, wave, parallel, prompts, rows, on_rows)
                if progress:
                    progress(min(start + parallel, len(prompts)), len(prompts))
        finally:
            context.close()
            batch.close()
        return outputs

    def _teacher_force(self, context, batch, wanted, first_stream: int, prompts, generated, on_rows) -> None:
        """Continuations (stream s holding prompt i, j, tokens), each in a stream of its own from
        `first_stream` on, sharing its prompt's KV cells; `on_rows(i, j, log-softmax rows)` gets the rows that
        predict each continuation token (the first is the prompt's own last row, `generated[s][0]`)."""
        lib = binding()
        entries, owners = [], []
        for k, (s, i, _j, cont) in enumerate(wanted):
            stream = first_stream + k
            lib.llama_memory_seq_cp(context.memory, s, stream, 0, len(prompts[i]))
            entries += [(t, len(prompts[i]) + n, stream, True) for n, t in enumerate(cont[:-1])]
            owners += [k] * (len(cont) - 1)
        rows: list[list[np.ndarray]] = [[generated[s][0]] for s, _i, _j, _cont in wanted]
        for at in range(0, len(entries), 512):
            chunk = entries[at : at + 512]
            self._decode(context, batch, chunk)
            for index in range(len(chunk)):
                rows[owners[at + index]].append(self._row(context, index).copy())
        for k, (_s, i, j, _cont) in enumerate(wanted):
            on_rows(i, j, torch.log_softmax(torch.from_numpy(np.stack(rows[k])), dim=-1))
            lib.llama_memory_seq_rm(context.memory, first_stream + k, -1, -1)

    def measure_parallel(self, prompt_ids: torch.Tensor, streams: int, decode_steps: int,
                         repeats: int) -> LatencyFigures:
        """`streams` copies of the prompt prefilled (ttft: all of them), then decode steps of one token per
        stream together (tpot: one step, for every stream); medians over repeats after a warm-up."""
        prompt = list(map(int, prompt_ids.tolist()))
        context, batch = self._parallel(streams, streams * (len(prompt) + decode_steps + 9))
        try:
            prefill_ms, decode_ms = [], []
            for _ in range(repeats + 1):
                context.kv_cache_clear()
                began = time.perf_counter()
                for s in range(streams):
                    self._prefill(context, batch, prompt, s)
                prefill_ms.append((time.perf_counter() - began) * 1000)
                for step in range(decode_steps):
                    began = time.perf_counter()
                    self._decode(context, batch, [(prompt[step % len(prompt)], len(prompt) + step, s, True)
                                                  for s in range(streams)])
                    decode_ms.append((time.perf_counter() - began) * 1000)
            # the first repeat warms up
            return LatencyFigures.of(streams, prefill_ms[1:], decode_ms[decode_steps:])
        finally:
            context.close()
            batch.close()

    # --- speed ---

    def measure_latency(self, prompt_ids: torch.Tensor, decode_steps: int, repeats: int) -> LatencyFigures:
        """Batch 1: prefill of the prompt (ttft) and single-token decode steps (tpot), medians over
        repeats after one whole untimed repeat (the first touches the KV cache's and compute buffers' pages:
        a prefill and one step of warm-up left the first timed repeat 20% slow), with the plan's threads."""
        if self._timer is None:
            self._timer = self._context(False)
        llm = self._timer
        prompt = list(map(int, prompt_ids.tolist()))
        feed = prompt * (decode_steps // max(len(prompt), 1) + 1)  # decode speed does not depend on which token

        def prefill() -> float:
            llm.reset()
            began = time.perf_counter()
            llm.eval(prompt)
            return (time.perf_counter() - began) * 1000

        prefill_ms, decode_ms = [], []
        for _ in range(repeats + 1):
            prefill_ms.append(prefill())
            for step in range(decode_steps):
                began = time.perf_counter()
                llm.eval([feed[step]])
                decode_ms.append((time.perf_counter() - began) * 1000)
        return LatencyFigures.of(1, prefill_ms[1:], decode_ms[decode_steps:])  # the first repeat warms up
