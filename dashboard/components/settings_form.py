"""The new-run form's measurement, cost and verdict inputs. Every cost input is explicit and
editable, and starts from the project's price table (sample_data/prices.csv)."""

from __future__ import annotations

import streamlit as st

from dashboard.components import services
from dashboard.components.forms import Choice
from engine.evaluation.paired import min_detectable_delta_pts
from engine.metrics import verdict_metrics

PRIMARY = {"auto": "Automatic: task accuracy when prompts have answers, else top-1 agreement",
           **{name: metric.verdict for name, metric in verdict_metrics().items()}}
CALIBRATION = {
    "auto": "Automatic: the held-out prompts when there are any, else generic texts",
    "prompts": "The held-out share of my prompts",
    "texts": "Generic texts shipped with the tool",
    "both": "Both",
}
# Lighter than the CLI's defaults so a first run on a 2-core CPU takes minutes; raise them for publication.
DECODE_PATHS = {"auto": "auto (plain + serving on a GPU, plain on a CPU)", "plain": "plain transformers loop",
                "serving": "serving: static KV cache + CUDA graph", "both": "both plain and serving",
                "compiled": "serving + torch.compile (slow to compile)", "all": "all three"}
EFFORT = {"decode_steps": 8, "repeats": 2, "max_new_tokens": 16, "eval_tokens": 1024, "eval_batch": 16}


def _hardware(device: str) -> tuple[str, float]:
    prices = services.prices()
    kind = "gpu" if device == "cuda" else "cpu"
    names = [n for n, row in prices.items() if row["kind"] == kind] or list(prices)
    hardware = st.selectbox("Priced as", names, key=f"hardware_{kind}",
                            help="The machine you would pay for in production (rows of sample_data/prices.csv).")
    row = prices[hardware]
    price = st.number_input("Price (USD per hour)", min_value=0.0, value=float(row["usd_per_hour"]), step=0.01,
                            format="%.3f", key=f"price_{hardware}",
                            help="Edit it to your own contract price; it is stored with the run.")
    st.caption(f"{hardware}: {row['memory_gb']:g} GB, {row['bandwidth_gb_s']:g} GB/s. Source: {row['source']} "
               f"({row['date']}).")
    return hardware, price


def run_settings(device: str, scored_prompts: int | None = None) -> Choice:
    """RunSettings fields as a plain dict (JSON-able, for the job spec); `scored_prompts` (prompts with a
    reference answer) says beside the tolerance what the prompt set can resolve."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Hardware and price**")
        hardware, price = _hardware(device)
        utilisation = st.slider("Utilisation (share of paid time spent serving)", 0.05, 1.0, 0.6, 0.05,
                                key="utilisation")
        a, b = st.columns(2)
        grid_carbon = a.number_input("Grid carbon (g CO2 per kWh)", 0.0, 2000.0, 480.0, 10.0, key="grid_carbon",
                                     help="Turns the measured energy per 1,000 queries into CO2 (default: the 2023 "
                                          "world average, Ember).")
        electricity = b.number_input("Electricity (USD per kWh)", 0.0, 10.0, None, 0.01, format="%.3f",
                                     key="electricity_price", placeholder="in the hourly price",
                                     help="For hardware you own: adds the measured energy's price to the cost. "
                                          "Energy is read from NVML on NVIDIA GPUs (RAPL on CPUs where readable); "
                                          "elsewhere it reads 'not measured'.")
    with right:
        st.markdown("**Queries**")
        a, b = st.columns(2)
        prompt_tokens = a.number_input("Prompt tokens per query", 8, 8192, None, 8, key="prompt_tokens",
                                       placeholder="your prompts' median, else 128",
                                       help="Prefill length for time to first token, and the cost of a query.")
        output_tokens = b.number_input("Output tokens per query", 1, 8192, None, 8, key="output_tokens",
                                       placeholder="your answers' median, else 128")
        cost_batch = a.number_input("Batch size (queries served together)", 1, 256, 1, 1, key="cost_batch",
                                    help="Cost per query is measured at this batch size.")
        extra = b.multiselect("Also measure batch sizes", [1, 2, 4, 8, 16, 32, 64], key="batch_sizes",
                              help="Adds a throughput-vs-batch chart; each batch size adds measuring time.")
    batch_sizes = sorted({int(cost_batch), *map(int, extra)})
    st.markdown("**Verdict**")
    a, b, c = st.columns([2, 1, 1])
    primary = a.selectbox("Primary metric", list(PRIMARY), format_func=PRIMARY.get, key="primary")
    tolerance = b.number_input("Tolerance (%)" if primary != "kl_divergence" else "Tolerance (nats)", 0.0, 100.0,
                               1.0, 0.5, key="tolerance", help="A plan is 'within' when its primary metric is at "
                                                                "most this much worse than the baseline's.")
    resolves = min_detectable_delta_pts(scored_prompts) if scored_prompts else None
    if resolves is not None:
        b.caption(f"{scored_prompts:,} prompts with answers resolve task-accuracy changes of about ±{resolves:.1f} "
                  "points (95%, if 10% of answers flip); a plan closer than that to the tolerance reads "
                  "'inconclusive'.")
    calibration = c.number_input("Calibration share", 0.0, 0.9, 0.0, 0.05, key="calibration_share",
                                 help="Share of the prompts held out for methods that calibrate; never scored.")
    source = a.selectbox("Calibration data for calibrated steps", list(CALIBRATION), format_func=CALIBRATION.get,
                         key="calibration_source", help="What SmoothQuant, mixed precision and distillation "
                                                        "learn from, unless a step says otherwise (calib=...).")
    with st.expander("Measurement effort"):
        st.caption("Lighter than the command line's defaults so a first run takes minutes on a CPU. Latency is the "
                   "median of repeats x decode steps after a warm-up.")
        cols = st.columns(5)
        effort = {
            "decode_steps": cols[0].number_input("Decode steps timed", 1, 256, EFFORT["decode_steps"],
                                                 key="decode_steps"),
            "repeats": cols[1].number_input("Repeats", 1, 20, EFFORT["repeats"], key="repeats"),
            "max_new_tokens": cols[2].number_input("Tokens generated per prompt", 1, 256, EFFORT["max_new_tokens"],
                                                   key="max_new_tokens"),
            "eval_tokens": cols[3].number_input("Evaluation-text tokens", 32, 65536, EFFORT["eval_tokens"], 32,
                                                key="eval_tokens", help="For perplexity and KL when prompts "
                                                                        "have no reference answers."),
            "eval_batch": cols[4].number_input("Prompts per batch", 1, 256, EFFORT["eval_batch"], key="eval_batch"),
        }
        a, b = st.columns(2)
        decode_path = a.selectbox(
            "Decode path", list(DECODE_PATHS), format_func=DECODE_PATHS.get, key="decode_path",
            help="How decoding is timed. On a GPU the serving path (static KV cache, CUDA graph) sets the headline "
                 "and the cost; the plain path shows what a naive generate() costs.")
        max_tpot = b.number_input("Slowest acceptable ms per output token", 1.0, 10000.0, 100.0, 10.0,
                                  key="max_tpot_ms", help="The cheapest batch size is picked among those at or "
                                                          "under this time per token.")
        keep = st.checkbox("Keep each compressed model on disk (safetensors, in the store's artifacts folder)",
                           value=True, key="keep_artifacts")
    settings = {
        "device": device, "prompt_tokens": None if prompt_tokens is None else int(prompt_tokens),
        "output_tokens": None if output_tokens is None else int(output_tokens),
        "batch_sizes": batch_sizes, "cost_batch": int(cost_batch), "hardware": hardware, "price_per_hour": price,
        "utilisation": float(utilisation), "primary": None if primary == "auto" else primary,
        "tolerance_pct": float(tolerance), "calibration_share": float(calibration), "keep_artifacts": bool(keep),
        "calibration": source, "decode_path": decode_path, "max_tpot_ms": float(max_tpot),
        "grid_carbon": float(grid_carbon),
        "electricity_price": None if electricity is None else float(electricity),
        **{k: int(v) for k, v in effort.items()},
    }
    errors = []
    if source in ("prompts", "both") and not calibration:
        errors.append("calibrating on your prompts needs a calibration share above 0")
    return Choice(settings, errors)
