"""Time a whole run with prompt evaluation (issue 3's speed target), model load included.

    python bench/eval_speed.py [--preset pm-int8-vs-int4] [--prompts sample_data/prompts.jsonl] [--limit N]

Prints the wall time of each stage and of the whole run, for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--preset", default="pm-int8-vs-int4")
    parser.add_argument("--prompts", default="sample_data/prompts.jsonl")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    from engine.evaluation.prompts import load_prompts
    from engine.pipeline import run
    from engine.settings import ProgressEvent, RunSettings, plans_for

    began = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def progress(event) -> None:
        if isinstance(event, ProgressEvent):
            if event.done == event.total:
                marks.append((f"  {event.stage} {event.total}", time.perf_counter() - began))
        else:
            marks.append((event, time.perf_counter() - began))

    prompts = load_prompts(args.prompts)
    record = run(args.model, plans_for(None, args.preset, "cpu"), RunSettings(device="cpu", limit=args.limit),
                 progress=progress, prompts=prompts)
    total = time.perf_counter() - began
    for label, at in marks:
        print(f"{at:7.1f} s  {label}")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"run {record['run_id']}: {args.preset} on {len(prompts) if not args.limit else args.limit} prompts, "
          f"total {total:.1f} s (model load included)")


if __name__ == "__main__":
    main()
