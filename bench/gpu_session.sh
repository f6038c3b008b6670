#!/usr/bin/env bash
# Issue 8's device calls, one stage per call, chained within the machine's warm window so that
# the embedded GGUF (98 MB) can travel in two parts under the 64 MiB carry limit.
#   stage 1  carry .whl-a .whl2 .gguf-1 : GPU tests; compiled path (coordinate-descent tuned) at batch 1
#   stage 2  carry .gguf-2              : CPU/GPU perplexity parity of the real model; compiled batch 8/64
#   stage 3  carry .whl-a .whl-b        : bitsandbytes and quanto int8; shape:llama-3-70b int4/int8
#   stage 4  carry .whl-a .whl2         : compiled int4 and fp8 at batch 1 (stage 1's limit cut them)
# Carry folders (ignored by git): `bash ../shared/tools/prepare-gpu-carry.sh .venv/bin/python` makes .whl and
# .gguf-1/.gguf-2; move bitsandbytes' wheel from .whl to .whl-b and the rest to .whl-a; .whl2 holds
# `pip download --no-deps` wheels of evaluate, datasets, dill and multiprocess for Python 3.12.
# Every sub-run has its own time limit, so the call always ends by packing $OUT into one archive
# (the device returns at most 8 files); plans finished before a limit stay in the run store inside.
set -u
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
bench() { timeout "$1" python3 bench/gpu_bench.py "${@:2}" 2>&1 | tee -a "$OUT/log.txt"; }
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/log.txt"; }

case "${1:?stage 1, 2, 3 or 4}" in
1)
    mkdir -p /tmp/gguf && cp .gguf-1/part /tmp/gguf/part1
    nvidia-smi --query-gpu=name,memory.total,clocks.sm,driver_version --format=csv | tee -a "$OUT/log.txt"
    log "gpu tests"
    python3 bench/gpu_bench.py install
    PYTHONPATH=/tmp/site timeout 120 python3 -m pytest -m gpu tests/engine/measure -q -p no:cacheprovider 2>&1 \
        | tail -5 | tee -a "$OUT/log.txt"
    log "compiled, coordinate-descent tuned, batch 1"
    bench 330 speed --name 8b-cdt --decode-path compiled --batch 1 --plan int8 --plan int4 --plan fp8
    log "compiled, without coordinate-descent tuning, batch 1"
    COMPECON_COORDINATE_DESCENT=0 bench 75 speed --name 8b-nocdt --decode-path compiled --batch 1 --plan bf16
    ;;
2)
    cat /tmp/gguf/part1 .gguf-2/part > /tmp/gguf/model.gguf && sha256sum /tmp/gguf/model.gguf | tee -a "$OUT/log.txt"
    log "parity"
    bench 240 parity --cpu bench/parity_cpu.json --model /tmp/gguf/model.gguf
    log "compiled, batch 8 and 64"
    bench 250 speed --name 8b-cdt-batch --decode-path compiled --batch 8 --batch 64 --plan int4
    ;;
3)
    log "bitsandbytes and quanto int8"
    bench 230 speed --name 8b-int8-backends --batch 1 --batch 64 --plan int8:backend=bnb --plan int8:backend=quanto
    log "llama-3-70b"
    bench 280 speed --model shape:llama-3-70b --name 70b --batch 1 --plan int4 --plan int8
    ;;
4)
    log "compiled, coordinate-descent tuned, batch 1 (the plans stage 1's limit cut)"
    bench 390 speed --name 8b-cdt-2 --decode-path compiled --batch 1 --plan int4 --plan fp8
    ;;
esac
log "done"
tar czf /tmp/call.tgz -C "$OUT" --exclude=./ch/models --exclude=./ch/artifacts --exclude=./ch/checkpoints . && rm -rf "${OUT:?}"/* && mv /tmp/call.tgz "$OUT/"
