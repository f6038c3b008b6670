"""The limit for the product's llama.cpp figures: the GGUF files a run kept, timed directly through
llama-cpp-python with no product code (a plain prefill + decode loop), beside the run's own tpot.

    python bench/llamacpp_direct.py RUN_ID [--steps 16] [--repeats 3] [--rounds 5]

On a shared 2-core machine two samples taken a minute apart differ by more than 10%, so besides the
run's stored figure, each file is timed in alternating rounds by the direct loop and by the product's
own measurement (`GgufModel.measure_latency`, the run's protocol), medians over rounds with their
range. Prints, per GGUF plan, those figures, their ratios, and each plan's tpot and cost as ratios to
the run's torch baseline (from the run itself).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def direct_tpot(path: str, threads: int, prompt: list[int], steps: int, repeats: int) -> float:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads,
                          verbose=False)
    times = []
    for _ in range(repeats + 1):
        llm.reset()
        llm.eval(prompt)
        for step in range(steps):
            began = time.perf_counter()
            llm.eval([prompt[step % len(prompt)]])
            times.append((time.perf_counter() - began) * 1000)
    llm.close()
    return statistics.median(times[steps:])  # the first repeat warms up


def product_tpot(path: str, threads: int, prompt: list[int], steps: int, repeats: int) -> float:
    import torch

    from engine.runtimes.llamacpp import GgufModel

    model = GgufModel(Path(path), threads)
    try:
        return model.measure_latency(torch.tensor(prompt), steps, repeats).tpot_ms
    finally:
        model.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--steps", type=int, default=None, help="decode steps per repeat (default: the run's)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default: the run's)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating direct/product rounds per file")
    args = parser.parse_args(argv)
    record = json.loads(subprocess.run([sys.executable, "-m", "engine.cli", "export", args.run_id],
                                       capture_output=True, text=True, check=True).stdout)
    settings = record["settings"]
    steps, repeats = args.steps or settings["decode_steps"], args.repeats or settings["repeats"]
    base = record["plans"][0]
    prompt = list(range(1000, 1000 + settings["prompt_tokens"]))
    print(f"run {record['run_id']} on {record['device']['name']}; load {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores; baseline {base['plan']} tpot {base['latency']['tpot_ms']:.2f} ms; "
          f"{steps} steps x {repeats} repeats, {args.rounds} alternating rounds")
    print(f"{'plan':<16} {'run ms':>7} {'direct ms (range)':>19} {'product ms (range)':>19} {'run/direct':>10} "
          f"{'product/direct':>14} {'speed vs base':>13} {'cost vs base':>12}")
    for plan in record["plans"]:
        runtime = plan.get("runtime") or {}
        if plan["status"] != "ok" or runtime.get("name") != "llama.cpp" or not runtime.get("artifact"):
            continue
        direct, product = [], []
        for _ in range(args.rounds):
            direct.append(direct_tpot(runtime["artifact"], runtime["threads"], prompt, steps, repeats))
            product.append(product_tpot(runtime["artifact"], runtime["threads"], prompt, steps, repeats))
        d, p, tpot = statistics.median(direct), statistics.median(product), plan["latency"]["tpot_ms"]
        print(f"{plan['plan']:<16} {tpot:>7.2f} {d:>7.2f} ({min(direct):.1f}-{max(direct):.1f})"
              f" {p:>7.2f} ({min(product):.1f}-{max(product):.1f}) {tpot / d:>10.2f} {p / d:>14.2f} "
              f"{base['latency']['tpot_ms'] / tpot:>12.2f}x "
              f"{plan['cost']['usd_per_1k_queries'] / base['cost']['usd_per_1k_queries']:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
