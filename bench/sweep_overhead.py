"""What a sweep costs over running its cells one after another (issue 17).

Times, on one machine and in one go, (1) `compecon sweep` over models × plans through a local Ray and (2) the
same cells as one `compecon run` per model, one after another, with the same settings and prompts, in one
fresh COMPECON_HOME (the embedded model's one-off GGUF conversion is done first, untimed). The overhead per
cell is the difference divided by the cells: a fresh Ray worker per cell (Python, torch and the model loaded
again), Ray's start and the baseline's reference outputs crossing the object store.

    .venv/bin/python bench/sweep_overhead.py [--out bench/sweep_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("smollm2-135m", "shape:smollm2-135m")
PLANS = ("fp32", "int8", "int4")
COMMON = ["--prompts", "sample_data/prompts.jsonl", "--limit", "8"]
BIN = Path(sys.executable).parent / "compecon"


def timed(args: list[str], env: dict) -> tuple[float, str]:
    load = os.getloadavg()[0]
    began = time.perf_counter()
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return wall, f"load {load:.2f} -> {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/sweep_overhead.json")
    out = Path(parser.parse_args().out)
    home = tempfile.mkdtemp(prefix="sweep-bench-")
    env = {**os.environ, "COMPECON_HOME": home}
    plans = [x for p in PLANS for x in ("--plan", p)]
    subprocess.run([str(BIN), "run", "--model", MODELS[0], "--plan", "fp32", "--decode-steps", "1", "--repeats",
                    "1", "--no-keep-artifacts", *COMMON], env=env, capture_output=True, check=True)  # conversion
    sweep_s, sweep_load = timed(["sweep", *[x for m in MODELS for x in ("--model", m)], *plans, *COMMON], env)
    runs = [timed(["run", "--model", m, *plans, *COMMON], env) for m in MODELS]
    runs_s = sum(wall for wall, _ in runs)
    cells = len(MODELS) * len(PLANS)
    result = {"cells": cells, "sweep_s": round(sweep_s, 1), "sweep_load": sweep_load,
              "runs_s": round(runs_s, 1), "runs": [{"model": m, "wall_s": round(w, 1), "load": load}
                                                   for m, (w, load) in zip(MODELS, runs)],
              "ratio": round(sweep_s / runs_s, 2), "overhead_per_cell_s": round((sweep_s - runs_s) / cells, 1),
              "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
