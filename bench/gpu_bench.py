"""GPU speed you can quote (issue 8): every plan on both decode paths, roofline, throughput
curve, big shapes, and CPU/GPU perplexity parity, through the engine's own CLI.

On the lent GPU (device tool), in few calls:
    python3 bench/gpu_bench.py speed --model shape:llama-3-8b --plan bf16 --plan int4 ...
    python3 bench/gpu_bench.py parity --cpu bench/parity_cpu.json --model /tmp/gguf/model.gguf
Here, on the CPU, for the parity reference:
    python bench/gpu_bench.py parity-reference -o bench/parity_cpu.json
Installs the carried wheels (.whl*/ folders) into /tmp/site first when they are present. Each
command writes run records and a Markdown table under $OUT (or bench-out) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(os.environ.get("OUT", "bench-out"))
PARITY_PLANS = ("fp32", "int8", "int4:backend=quanto", "int2", "hqq4")
SITE = "/tmp/site"


def _environment(carried: bool) -> dict:
    """carried: install the wheels carried to the GPU machine (built for its Python) and use them."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not carried:
        return env
    # the run store under $OUT comes back even when the call is cut off mid-run (plans are stored as they finish)
    env.setdefault("COMPECON_HOME", str(OUT / "ch"))
    # every carried wheel folder (.whl, .whl-a, .whl2, ...); a later call may carry wheels an earlier one did not
    marker = Path(SITE, ".installed")
    done = set(marker.read_text().split("\n")) if marker.exists() else set()
    wheels = sorted(str(p) for p in Path(".").glob(".whl*/*.whl"))
    new = [w for w in wheels if Path(w).name not in done]
    if new:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", SITE, *new], check=True)
        marker.write_text("\n".join(sorted(done | {Path(w).name for w in new})))
    if Path(SITE).is_dir():
        env["PYTHONPATH"] = SITE + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(model: str, plans: list[str], batches: list[int], json_path: Path, device: str, extra=()) -> dict:
    command = [sys.executable, "-m", "engine.cli", "run", "--model", model, "--device", device,
               "--json", str(json_path), *extra]
    for plan in plans:
        command += ["--plan", plan]
    for batch in batches:
        command += ["--batch", str(batch)]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, env=_environment(carried=device == "cuda"), check=True)
    return json.loads(json_path.read_text())


def speed_table(record: dict) -> str:
    """One row per plan, decode path and batch size, with roofline and cost."""
    lines = [f"Model {record['model']['name']} on {record['device']['name']}; bandwidth "
             f"{record['settings']['bandwidth']['bytes_per_s'] / 1e12:.2f} TB/s "
             f"({record['settings']['bandwidth']['source']}); price ${record['settings']['cost']['price_per_hour']}/h.",
             f"Matmul ceiling {record['settings'].get('matmul_rate', {}).get('flops_per_s', 0) / 1e12:.0f} TFLOP/s; "
             f"prompt {record['settings']['cost']['prompt_tokens']} tokens.",
             "", "| plan | kernel | weights GB | path | batch | ms/token | tokens/s | roofline | ttft ms | prefill "
             "roofline | J/token | W mean (samples) | kWh/1k queries | $/1k queries |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for plan in record["plans"]:
        if plan["status"] != "ok":
            lines.append(f"| {plan['plan']} | failed: {plan.get('error', '')[:120]} | | | | | | | |")
            continue
        lat = plan["latency"]
        for row in lat["by_batch"]:
            roof = row.get("roofline_efficiency")
            path = row["path"] + (" (no graph)" if "capture failed" in row["decode_path"] else "")
            prefill = row.get("ttft_roofline_efficiency")
            joules, watts, kwh = row.get("j_per_token"), row.get("watts_mean"), row.get("kwh_per_1k_queries")
            power = "" if watts is None else f"{watts:.0f} ({row.get('power_samples')})"
            lines.append(f"| {plan['plan']} | {plan['kernel_path']} | {plan['size']['weight_bytes'] / 1e9:.2f} | "
                         f"{path} | {row['batch_size']} | {row['tpot_ms']:.2f} | {row['tokens_per_s']:,.0f} | "
                         f"{'' if roof is None else f'{roof:.0%}'} | {row['ttft_ms']:.1f} | "
                         f"{'' if prefill is None else f'{prefill:.0%}'} | "
                         f"{'' if joules is None else f'{joules:.3f}'} | "
                         f"{power} | "
                         f"{'' if kwh is None else f'{kwh:.4f}'} | {row['usd_per_1k_queries']:.4f} |")
        best = lat.get("best_batch")
        if best:
            lines.append(f"| {plan['plan']} | cheapest batch within {best['max_tpot_ms']:.0f} ms/token: "
                         f"{best['batch_size']} | | | | | | | {best['usd_per_1k_queries']:.4f} |")
    failures = {p["plan"]: r["decode_path"] for p in record["plans"] if p["status"] == "ok"
                for r in p["latency"]["by_batch"] if "capture failed" in r["decode_path"]}
    lines += [""] + [f"- {plan}: {label}" for plan, label in failures.items()]
    return "\n".join(lines)


def parity_table(cpu: dict, gpu: dict) -> str:
    lines = [f"CPU: {cpu['device']['name']}; GPU: {gpu['device']['name']}; {cpu['model']['name']}, "
             f"perplexity on the evaluation texts.", "",
             "| plan | CPU ppl | GPU ppl | difference | within 0.5% |", "|---|---|---|---|---|"]
    gpu_plans = {p["plan"]: p for p in gpu["plans"]}
    for plan in cpu["plans"]:
        other = gpu_plans.get(plan["plan"])
        if plan["status"] != "ok" or not other or other["status"] != "ok":
            lines.append(f"| {plan['plan']} | {plan['status']} | {other and other['status']} | | |")
            continue
        a, b = plan["accuracy"]["perplexity"], other["accuracy"]["perplexity"]
        diff = (b - a) / a * 100
        lines.append(f"| {plan['plan']} | {a:.4f} | {b:.4f} | {diff:+.3f}% | {'yes' if abs(diff) <= 0.5 else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("speed", help="plans x decode paths x batch sizes on a (shape) model")
    speed.add_argument("--model", default="shape:llama-3-8b")
    speed.add_argument("--plan", action="append", required=True)
    speed.add_argument("--batch", action="append", type=int, default=None)
    speed.add_argument("--name", default=None, help="file stem for the outputs")
    speed.add_argument("--decode-path", default="both", help="plain, serving, compiled, both or all")
    speed.add_argument("--prompt-tokens", type=int, default=None, help="prompt length timed for ttft")
    speed.add_argument("--energy-seconds", type=float, default=1.0, help="length of each energy block")
    reference = sub.add_parser("parity-reference", help="the CPU run the GPU run is compared with")
    reference.add_argument("-o", "--output", default="bench/parity_cpu.json")
    reference.add_argument("--model", default="smollm2-135m")
    parity = sub.add_parser("parity", help="the same plans on the GPU, compared with the CPU reference")
    parity.add_argument("--cpu", default="bench/parity_cpu.json")
    parity.add_argument("--model", required=True)
    sub.add_parser("install", help="only install the carried wheels into /tmp/site")
    args = parser.parse_args()
    if args.command == "install":
        _environment(carried=True)
        return
    OUT.mkdir(parents=True, exist_ok=True)

    if args.command == "speed":
        stem = args.name or args.model.replace("shape:", "").replace("/", "_")
        extra = ["--decode-path", args.decode_path, "--energy-seconds", str(args.energy_seconds)]
        if args.prompt_tokens:
            extra += ["--prompt-tokens", str(args.prompt_tokens)]
        record = _run(args.model, args.plan, args.batch or [1, 8, 32, 64], OUT / f"{stem}.json", "cuda", extra)
        table = speed_table(record)
    elif args.command == "parity-reference":
        _run(args.model, list(PARITY_PLANS), [1], Path(args.output), "cpu")
        return
    else:
        cpu = json.loads(Path(args.cpu).read_text())
        gpu = _run(args.model, [p["plan"] for p in cpu["plans"]], [1], OUT / "parity_gpu.json", "cuda",
                   ("--eval-tokens", str(cpu["settings"]["eval_tokens"])))
        table = parity_table(cpu, gpu)
        stem = "parity"
    (OUT / f"{stem}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
