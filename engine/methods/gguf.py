"""GGUF plans: the model written to a GGUF file and quantized by llama.cpp's own quantizer, then
served and measured by llama.cpp (`engine/runtimes/`), as Ollama, LM Studio and most CPU and edge
deployments would run it. `gguf:type=f32` shows the runtime's own gain apart from quantization's;
`distill:keep=0.5+gguf:type=q4_k_m` exports the distilled student.

Gerganov et al., llama.cpp (github.com/ggml-org/llama.cpp): k-quants (Q2_K-Q6_K) store super-blocks
of 256 weights with 6-8 bit sub-block scales; Q4_0/Q8_0 blocks of 32 with one scale.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.registry import CALIBRATION_SOURCES, Param, StepOutcome, resolved_params, step
from engine.runtimes.gguf_export import write_gguf
from engine.runtimes.llamacpp import FILE_TYPES, GgufModel, default_threads, importance_matrix, quantize

IMATRIX_ROWS = 64  # calibration rows of 128 tokens behind an importance matrix (8k tokens)


@step("gguf", "Write the model as GGUF and quantize it with llama.cpp (type=q8_0, q4_k_m, q4_0, ..., f32); "
              "measured in llama.cpp. calib= adds an importance matrix from that data.", kind="runtime",
      params={"type": Param(str, "q8_0", tuple(FILE_TYPES), "GGUF tensor type (llama.cpp's quantize names)"),
              "calib": Param(str, "none", ("none", *CALIBRATION_SOURCES),
                             "importance-matrix data (none: plain llama.cpp quantization)")})
def gguf_plan(model, plan_step, ctx) -> StepOutcome:
    params = resolved_params(plan_step)
    file_type = params["type"]
    folder = Path(ctx.artifact_dir)
    folder.mkdir(parents=True, exist_ok=True)
    threads = ctx.threads or default_threads()
    source, shared = _float_gguf(model, ctx, folder)
    path, notes, extras = source, [], {}
    if file_type not in ("f32", "f16", "bf16") and params["calib"] != "none":
        calibration = ctx.calibrate(params["calib"])
        imatrix = importance_matrix(model, calibration.rows[:IMATRIX_ROWS], ctx.device)
        extras["calibration"] = calibration.describe()
        notes.append(f"importance matrix ({len(imatrix)} tensors) from {min(len(calibration.rows), IMATRIX_ROWS)} "
                     f"rows of {calibration.describe()}")
    else:
        imatrix = None
    if file_type != "f32":
        path = quantize(source, folder / f"model-{file_type}.gguf", file_type, threads, imatrix)
        if not shared:
            source.unlink()
    elif shared:  # the plan's own file (kept or dropped with its folder), the same bytes
        path = folder / source.name
        try:
            os.link(source, path)
        except OSError:
            shutil.copyfile(source, path)
    if file_type.endswith(("_k_m", "_k_s", "_k_l", "_k")) and model.config.hidden_size % 256:
        notes.append(f"{model.config.hidden_size}-wide rows are not a multiple of 256: llama.cpp stores those k-quant "
                     "tensors in a fallback type (q5_0/q8_0), so the file is larger than the type's name suggests")
    return StepOutcome(GgufModel(path, threads, file_type=file_type), backend="llama.cpp",
                       kernel_path=f"llama.cpp ggml CPU kernels ({file_type}, {threads} threads)", notes=notes,
                       extras=extras)


def _float_gguf(model, ctx, folder: Path) -> tuple[Path, bool]:
    """The model as an F32 GGUF, and whether the file is the run's shared one: the loaded model, untouched
    by earlier steps, is written once per run and every GGUF plan quantizes from that file."""
    own_gguf = Path(ctx.tokenizer_gguf) if ctx.tokenizer_gguf else None

    def write(path: Path) -> Path:
        return write_gguf(model, path, "f32", name=ctx.model_name or "model", tokenizer=ctx.tokenizer,
                          tokenizer_gguf=own_gguf)

    if ctx.step_index > 0 or not ctx.shared_dir:
        return write(folder / "model-f32.gguf"), False
    shared = Path(ctx.shared_dir) / "model-f32.gguf"
    if not shared.is_file():
        partial_file = shared.with_suffix(".partial")
        write(partial_file)
        partial_file.replace(shared)  # a file that is there is whole
    return shared, True
