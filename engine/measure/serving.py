"""The serving-like decode path: a static KV cache and one decode step captured in a CUDA graph.

Serving stacks (vLLM, TensorRT-LLM, gpt-fast) do not pay Python and a kernel launch per
operator per token: the cache lives at fixed addresses and the whole step replays as one
graph. Measured through a naive `generate()`, a quantized model often looks slower than
bf16 because launches, not memory, set the pace; this path measures what serving sees.

The graph holds the forward pass, the greedy argmax and the position increment, so each
replay is one complete, autonomous decode step. Where capture fails (a kernel that syncs
with the host, such as LLM.int8's outlier search) the same static cache runs eagerly and
the label says why. On a CPU there are no graphs: the static cache runs eagerly.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from engine.measure.energy import measure_energy
from engine.measure.latency import LatencyFigures, repeat_prompt
from engine.measure.timing import Timer

SERVING_PATH = "static KV cache + CUDA graph replay of the whole decode step"
COMPILED_PATH = "static KV cache + torch.compile (inductor-fused decode step) + CUDA graph replay"
STATIC_EAGER_PATH = "static KV cache, eager forward (no CUDA graph)"
# COMPECON_COORDINATE_DESCENT=0 turns the tuning off, for the benchmark's with/without comparison
COMPILE_OPTIONS = {"coordinate_descent_tuning": os.environ.get("COMPECON_COORDINATE_DESCENT", "1") != "0"}


class StaticDecoder:
    """Greedy decoding into a transformers StaticCache with fixed-address inputs."""

    def __init__(self, model, batch_size: int, max_len: int, device: str, compiled: bool = False):
        from transformers import StaticCache

        self.model, self.device = model, device
        # inductor fuses the dozens of small norm/rotary/activation kernels per layer that an eager step
        # launches; compiled for the one-token step only (prefill stays eager), shapes fixed per batch size.
        # Coordinate-descent tuning also makes inductor lower a one-row matmul to a tuned Triton reduction,
        # into which a weight-only dequantize (int8 -> bf16, times scale) fuses, as gpt-fast relies on.
        self._decode_forward = (torch.compile(self._forward, dynamic=False, options=COMPILE_OPTIONS)
                                if compiled else self._forward)
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        self.ids = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(1, dtype=torch.long, device=device)
        self.prompt_len = 0
        self.graph = None

    def _forward(self, ids, positions):
        return self.model(input_ids=ids, past_key_values=self.cache, cache_position=positions,
                          use_cache=True, logits_to_keep=1).logits

    def restart(self) -> None:
        """Forget the cached tokens (transformers >= 5.2x counts positions inside the cache)."""
        self.cache.reset()

    def prefill(self, prompt: torch.Tensor) -> None:
        self.prompt_len = prompt.shape[1]
        logits = self._forward(prompt, torch.arange(self.prompt_len, device=self.device))
        self.ids.copy_(logits[:, -1:].argmax(-1))
        self.position.fill_(self.prompt_len)

    def _eager_step(self) -> None:
        logits = self._decode_forward(self.ids, self.position)
        self.ids.copy_(logits[:, -1:].argmax(-1))
        self.position.add_(1)

    def capture(self) -> None:
        """Record one decode step as a CUDA graph (after a warm-up on a side stream)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self._eager_step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._eager_step()
        self.graph = graph

    def step(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self._eager_step()

    def generate(self, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
        """Greedy continuation (for checking this path against the plain one)."""
        self.restart()
        self.prefill(prompt)
        tokens = [self.ids.clone()]
        for _ in range(new_tokens - 1):
            self.step()
            tokens.append(self.ids.clone())
        return torch.cat(tokens, dim=1)


def _try_capture(decoder: StaticDecoder, compiled: bool) -> str:
    if decoder.device != "cuda":
        return STATIC_EAGER_PATH
    try:
        decoder.capture()
        return COMPILED_PATH if compiled else SERVING_PATH
    except Exception as error:  # capture refuses host syncs; fall back and say so
        torch.cuda.synchronize()
        decoder.graph = None
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        return f"{STATIC_EAGER_PATH}; CUDA graph capture failed: {reason}"


@torch.no_grad()  # not inference_mode: quanto tensors cannot run under it
def measure_serving_latency(model, prompt_ids: torch.Tensor, batch_size: int, decode_steps: int,
                            repeats: int, device: str, compiled: bool = False,
                            energy_s: float = 0.0) -> tuple[LatencyFigures, str]:
    """(figures, decode path label): prefill timed eagerly, decode as `decode_steps` replays per
    timed block (one event pair around the block), median over `repeats` blocks."""
    ids = repeat_prompt(prompt_ids, batch_size, device)
    compiled = compiled and device == "cuda"
    if compiled:
        torch._dynamo.reset()  # compiled code of an earlier plan or batch size must not be reused, nor kept alive
    decoder = StaticDecoder(model, batch_size, ids.shape[1] + decode_steps + 4, device, compiled)
    timer = Timer(device)
    decoder.prefill(ids)  # warm-up; also allocates the cache
    path = _try_capture(decoder, compiled)
    prefill_ms, decode_ms = [], []
    for _ in range(repeats + 1):
        decoder.restart()
        prefill_ms.append(timer.time_ms(lambda: decoder.prefill(ids)))

        def block():
            for _ in range(decode_steps):
                decoder.step()

        decode_ms.append(timer.time_ms(block) / decode_steps)
    # the first block warms the replayed graph; it is not counted
    figures = LatencyFigures.of(batch_size, prefill_ms[1:], decode_ms[1:])

    def fresh():
        decoder.restart()
        decoder.prefill(ids)

    energy = measure_energy(device, fresh, decoder.step, decode_steps, batch_size, energy_s)
    return replace(figures, energy=energy), path
