#!/usr/bin/env bash
# Issue 18 (and 17's GPU tests) on the lent GPU, one call per stage (device tool; carry [".whl"]: torchao,
# bitsandbytes, optimum-quanto, gguf, evaluate, datasets, dill, multiprocess wheels for Python 3.12).
#   stage 1: GPU tests of placement and energy; bf16/int8/int4/fp8 at batch 1 and 64 on the plain and
#            CUDA-graph paths with energy; ttft at 1,024 and 4,096 prompt tokens with the prefill roofline
#   stage 2: the compiled path at batch 1, three separate compilations of bf16, int8 and fp8
#   stage 3: stage 1 without the prompt lengths, then one compilation of stage 2 (one call's budget)
set -u
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
bench() { timeout "$1" python3 bench/gpu_bench.py "${@:2}" 2>&1 | tee -a "$OUT/log.txt"; }
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,memory.total,power.limit,driver_version --format=csv | tee -a "$OUT/log.txt"
python3 bench/gpu_bench.py install
case "${1:?stage 1, 2 or 3}" in
1)
    log "gpu tests: placement, energy"
    PYTHONPATH=/tmp/site timeout 150 python3 -m pytest -m gpu tests/engine/test_placement.py \
        tests/engine/measure/test_energy.py -q -p no:cacheprovider 2>&1 | tail -8 | tee -a "$OUT/log.txt"
    log "bf16, int8, int4, fp8 at batch 1 and 64, plain and CUDA-graph paths, with energy"
    bench 270 speed --name 8b-energy --decode-path both --batch 1 --batch 64 --plan bf16 --plan int8 --plan int4 \
        --plan fp8
    for tokens in 1024 4096; do
        log "prompt of $tokens tokens"
        bench 75 speed --name "8b-prompt-$tokens" --decode-path serving --batch 1 --prompt-tokens "$tokens" \
            --plan bf16 --plan int4
    done
    ;;
3)
    log "gpu tests: placement, energy"
    PYTHONPATH=/tmp/site timeout 120 python3 -m pytest -m gpu tests/engine/test_placement.py \
        tests/engine/measure/test_energy.py -q -p no:cacheprovider 2>&1 | tail -8 | tee -a "$OUT/log.txt"
    log "bf16, int8, int4, fp8 at batch 1 and 64, plain and CUDA-graph paths, with energy"
    bench 250 speed --name 8b-energy --decode-path both --batch 1 --batch 64 --plan bf16 --plan int8 --plan int4 \
        --plan fp8
    log "compiled, batch 1"
    bench 180 speed --name 8b-compiled-1 --decode-path compiled --batch 1 --plan bf16 --plan int8 --plan fp8 \
        --energy-seconds 0.5
    ;;
2)
    for i in 1 2 3; do
        log "compiled, batch 1, compilation $i"
        bench 170 speed --name "8b-compiled-$i" --decode-path compiled --batch 1 --plan bf16 --plan int8 --plan fp8 \
            --energy-seconds 0.5
    done
    ;;
esac
log "done"
tar czf /tmp/call.tgz -C "$OUT" --exclude=./ch/models --exclude=./ch/artifacts --exclude=./ch/checkpoints . \
    && rm -rf "${OUT:?}"/* && mv /tmp/call.tgz "$OUT/"
