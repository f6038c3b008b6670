"""The limit for the product's llama.cpp figures: the GGUF files a run kept, timed directly through
llama-cpp-python with no product code (a plain prefill + decode loop), beside the run's own tpot.

    python bench/llamacpp_direct.py RUN_ID [--threads N] [--steps 64] [--repeats 3]

Prints, per GGUF plan: the product's tpot, the direct tpot, their ratio, and each plan's tpot and
cost as ratios to the run's torch baseline (all from one run, on one machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    record = json.loads(subprocess.run([sys.executable, "-m", "engine.cli", "export", args.run_id],
                                       capture_output=True, text=True, check=True).stdout)
    base = record["plans"][0]
    prompt = list(range(1000, 1000 + record["settings"]["prompt_tokens"]))
    print(f"run {record['run_id']} on {record['device']['name']}; load {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores; baseline {base['plan']} tpot {base['latency']['tpot_ms']:.2f} ms")
    print(f"{'plan':<18} {'product ms':>10} {'direct ms':>10} {'product/direct':>14} {'speed vs base':>13} "
          f"{'cost vs base':>12}")
    for plan in record["plans"]:
        runtime = plan.get("runtime") or {}
        if plan["status"] != "ok" or runtime.get("name") != "llama.cpp" or not runtime.get("artifact"):
            continue
        direct = direct_tpot(runtime["artifact"], runtime["threads"], prompt, args.steps, args.repeats)
        tpot = plan["latency"]["tpot_ms"]
        print(f"{plan['plan']:<18} {tpot:>10.2f} {direct:>10.2f} {tpot / direct:>14.2f} "
              f"{base['latency']['tpot_ms'] / tpot:>12.2f}x "
              f"{plan['cost']['usd_per_1k_queries'] / base['cost']['usd_per_1k_queries']:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
