#!/usr/bin/env bash
# Issue 5: mixed precision with HQQ rounding for its low-bit blocks, against uniform int4 (plain and HQQ)
# at the same or a smaller size; same evaluation texts and generic calibration texts as before.
set -euo pipefail
cd "$(dirname "$0")/.."
compecon run --model smollm2-135m \
  --plan fp32 --plan int4:group=64 --plan mixed:bits=4,group=128,budget_bpw=4.95,method=hqq \
  --plan mixed:bits=4,group=64,budget_bpw=5.0,method=hqq --plan hqq4:group=128 \
  --decode-steps 4 --repeats 1 --json "${1:-calibration_bench_3.json}"
