#!/usr/bin/env bash
# Issue 5: calibrated and error-minimising methods against plain rounding, on the embedded model (CPU).
# Accuracy on sample_data/eval_texts.txt; calibration on sample_data/calibration_texts.txt (disjoint).
set -euo pipefail
cd "$(dirname "$0")/.."
compecon run --model smollm2-135m \
  --plan fp32 --plan int4:group=64 --plan hqq4:group=64 --plan int2:group=32 --plan hqq2:group=32 \
  --plan w8a8 --plan smoothquant:alpha=0.5+w8a8 --plan smoothquant:alpha=auto+w8a8 \
  --plan mixed:bits=4,group=128,budget_bpw=4.95 \
  --decode-steps 4 --repeats 1 --json "${1:-calibration_bench.json}"
