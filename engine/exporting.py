"""Run records to JSON and CSV (one row per plan), with spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
import io
import json

CSV_FIELDS = [
    ("plan", "plan"), ("status", "status"), ("error", "error"), ("backend", "backend"),
    ("kernel_path", "kernel_path"), ("weight_bytes", "size.weight_bytes"), ("disk_bytes", "size.disk_bytes"),
    ("compression_ratio", "size.compression_ratio"), ("bits_per_weight", "size.bits_per_weight"),
    ("ttft_ms", "latency.ttft_ms"), ("tpot_ms", "latency.tpot_ms"), ("tokens_per_s", "latency.tokens_per_s"),
    ("batch_size", "latency.batch_size"), ("roofline_efficiency", "latency.roofline_efficiency"),
    ("decode_path", "latency.decode_path"), ("peak_bytes", "memory.peak_bytes"),
    ("usd_per_1k_queries", "cost.usd_per_1k_queries"), ("hardware", "cost.hardware"),
    ("price_per_hour", "cost.price_per_hour"), ("prompt_tokens", "cost.prompt_tokens"),
    ("output_tokens", "cost.output_tokens"), ("utilisation", "cost.utilisation"),
    ("perplexity", "accuracy.perplexity"), ("ppl_delta_pct", "accuracy.ppl_delta_pct"),
    ("kl_divergence", "accuracy.kl_divergence"), ("top1_agreement", "accuracy.top1_agreement"),
]


def _get(record: dict, dotted: str):
    value = record
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def safe_cell(value):
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @, tab, CR)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2)


def to_csv(record: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run_id", "model"] + [name for name, _ in CSV_FIELDS])
    for plan in record["plans"]:
        writer.writerow([record["run_id"], safe_cell(record["model"]["name"])]
                        + [safe_cell(_get(plan, path)) for _, path in CSV_FIELDS])
    return buffer.getvalue()
