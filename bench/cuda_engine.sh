#!/usr/bin/env bash
# The engine's CUDA path on shape-only models (random weights, no downloads), run on the lent GPU:
#   device run, carry [".whl"]:  bash bench/cuda_engine.sh
# Writes each run record to $OUT (or ./bench-out) and prints the comparison tables.
set -uo pipefail
out=${OUT:-bench-out}; mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export COMPECON_HOME=${COMPECON_HOME:-/tmp/compecon} PYTHONUNBUFFERED=1
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, torch.cuda.get_device_name())'
for model in ${MODELS:-shape:llama-3.2-1b shape:llama-3-8b}; do
  name=${model#shape:}
  python3 -m engine.cli run --model "$model" --device cuda \
    --plan bf16 --plan int8 --plan int8:backend=bnb --plan int8:backend=quanto --plan int4 --plan nf4 \
    --plan int4:backend=quanto --plan int2 --batch 1 --batch 8 --json "$out/$name.json"
done
