#!/usr/bin/env bash
# Issue 18 (and 17's GPU tests) on the lent GPU, one call per stage (device tool; carry [".whl"]: torchao,
# bitsandbytes, optimum-quanto, gguf, evaluate, datasets, dill, multiprocess wheels for Python 3.12).
#   stage 1: GPU tests of placement and energy; bf16/int8/int4/fp8 at batch 1 and 64 on the plain and
#            CUDA-graph paths with energy; ttft at 1,024 and 4,096 prompt tokens with the prefill roofline
#   stage 2: the compiled path at batch 1, three separate compilations of bf16, int8 and fp8
#   stage 3: stage 1 without the prompt lengths, then one compilation of stage 2 (one call's budget)
#   stage 5: a call of about five minutes: issue 19's rows (gptq 4-bit, 2:4 on the semi-structured sparse
#            kernels) on the plain path, their GPU tests, then energy on the CUDA-graph path only
set -u
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
bench() { timeout "$1" python3 bench/gpu_bench.py "${@:2}" 2>&1 | tee -a "$OUT/log.txt"; }
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/log.txt"; }
gpu_tests() {  # $1: time limit, then the test files (default: every file with GPU tests of issues 17-19)
    local limit=$1
    shift
    [ $# -gt 0 ] || set -- tests/engine/test_placement.py tests/engine/measure/test_energy.py \
        tests/engine/methods/test_calibrated.py tests/engine/methods/test_prune.py
    log "gpu tests: $*"
    PYTHONPATH=/tmp/site timeout "$limit" python3 -m pytest -m gpu "$@" -q -p no:cacheprovider 2>&1 | tail -8 \
        | tee -a "$OUT/log.txt"
}
energy() {  # $1: time limit, $2: decode path (both: plain and CUDA-graph)
    log "bf16, int8, int4, fp8 at batch 1 and 64, $2 path(s), with energy"
    bench "$1" speed --name "8b-energy-$2" --decode-path "$2" --batch 1 --batch 64 --plan bf16 --plan int8 \
        --plan int4 --plan fp8
}
compiled() {  # $1: time limit, $2: which compilation, $3: energy block seconds
    log "compiled, batch 1, compilation $2"
    bench "$1" speed --name "8b-compiled-$2" --decode-path compiled --batch 1 --plan bf16 --plan int8 --plan fp8 \
        --energy-seconds "$3"
}

nvidia-smi --query-gpu=name,memory.total,power.limit,driver_version --format=csv | tee -a "$OUT/log.txt"
python3 bench/gpu_bench.py install
case "${1:?stage 1, 2, 3 or 5}" in
1)
    gpu_tests 150
    energy 270 both
    for tokens in 1024 4096; do
        log "prompt of $tokens tokens"
        bench 75 speed --name "8b-prompt-$tokens" --decode-path serving --batch 1 --prompt-tokens "$tokens" \
            --plan bf16 --plan int4
    done
    ;;
3)
    gpu_tests 120
    energy 250 both
    compiled 180 1 0.5
    ;;
5)
    log "issue 19: gptq 4-bit and 2:4 pruning against bf16 and int4"
    bench 140 speed --name 8b-calibrated --decode-path plain --batch 1 --plan bf16 --plan int4 \
        --plan gptq:bits=4,group=64 --plan prune:sparsity=2:4
    gpu_tests 60 tests/engine/methods/test_calibrated.py tests/engine/methods/test_prune.py
    energy 110 serving
    ;;
2)
    for i in 1 2 3; do
        compiled 170 "$i" 0.5
    done
    ;;
esac
log "done"
tar czf /tmp/call.tgz -C "$OUT" --exclude=./ch/models --exclude=./ch/artifacts --exclude=./ch/checkpoints . \
    && rm -rf "${OUT:?}"/* && mv /tmp/call.tgz "$OUT/"
