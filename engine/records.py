"""Result records: frozen dataclasses that serialise to the run record's JSON contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class SizeResult:
    weight_bytes: int
    disk_bytes: int | None
    compression_ratio: float
    bits_per_weight: float
    params: int


@dataclass(frozen=True)
class LatencyResult:
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    batch_size: int
    roofline_efficiency: float | None
    roofline_tpot_ms: float | None
    decode_path: str
    kernel_path: str
    bandwidth_source: str
    # one row per (decode path, batch size): path, decode_path, batch_size, ttft_ms, tpot_ms,
    # tokens_per_s, usd_per_1k_queries, roofline_efficiency (batch 1)
    by_batch: tuple = ()
    best_batch: dict | None = None  # cheapest batch size within the acceptable time per token


@dataclass(frozen=True)
class CostResult:
    usd_per_1k_queries: float
    hardware: str
    price_per_hour: float
    prompt_tokens: int
    output_tokens: int
    utilisation: float
    batch_size: int
    seconds_per_query: float


@dataclass(frozen=True)
class AccuracyResult:
    perplexity: float | None = None
    ppl_delta_pct: float | None = None
    kl_divergence: float | None = None
    top1_agreement: float | None = None
    generation_agreement: float | None = None
    task_accuracy: float | None = None
    accuracy_delta_pts: float | None = None
    diverged: bool = False
    eval_tokens: int = 0
    prompts: int = 0
    scored_prompts: int = 0
    source: str = "eval_texts"  # where kl/top-1 come from: eval_texts or prompts
    perplexity_source: str = "eval_texts"  # references (given their prompts) or eval_texts
    applicable: bool = True


@dataclass(frozen=True)
class PlanResult:
    plan: str
    status: str  # ok | failed | interrupted
    error: str | None = None
    backend: str | None = None
    kernel_path: str | None = None
    notes: tuple = ()
    size: SizeResult | None = None
    latency: LatencyResult | None = None
    memory: dict | None = None
    cost: CostResult | None = None
    accuracy: AccuracyResult | None = None
    seconds: float = 0.0
    steps: tuple = field(default_factory=tuple)
    slices: dict = field(default_factory=dict)
    verdict: dict | None = None
    step_seconds: dict = field(default_factory=dict)  # what each step cost in time
    extras: dict = field(default_factory=dict)  # step-specific results (layer sensitivity, calibration)
    economics: dict | None = None  # training_usd, savings_per_1k_usd, break_even_queries (trained plans)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["notes"] = list(self.notes)
        if self.latency is not None:
            data["latency"]["by_batch"] = list(self.latency.by_batch)
        return data
