#!/usr/bin/env bash
# Issue 5 follow-up: 2-bit at group 16 (where HQQ's optimisation pays) and the mixed plan with the
# planner that uses quanto's real per-layer group; same data as calibration_bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
compecon run --model smollm2-135m \
  --plan fp32 --plan int4:group=64 --plan int2:group=16 --plan hqq2:group=16 \
  --plan mixed:bits=4,group=128,budget_bpw=4.95 \
  --decode-steps 4 --repeats 1 --json "${1:-calibration_bench_2.json}"
