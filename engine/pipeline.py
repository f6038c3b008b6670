"""The fixed sequence of a run: load, then for each plan compress a fresh copy, measure,
evaluate against the baseline, price, and store the result the moment it exists."""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import torch

from engine.cost import assumptions, cost_result, price_rows, training_economics
from engine.evaluation import paired, texts
from engine.evaluation.calibration import Calibration, build_calibration
from engine.evaluation.plan_eval import PromptAccuracy
from engine.evaluation.prompts import PromptSet
from engine.evaluation.verdict import Tolerance, default_metric, failed_plans, judge, recommend
from engine.home import DISK_FULL, disk_problem, subdir
from engine.measure.decode_paths import latency_result, resolve_paths
from engine.measure.exclusive import exclusive_device
from engine.measure.memory import PeakMemory, release_memory
from engine.measure.roofline import bandwidth, device_name, linear_macs, matmul_rate, prefill_flops
from engine.measure.size import placement as size_placement
from engine.metrics import pct_change
from engine.models import check_fits, load_model
from engine.plan import Plan
from engine.records import AccuracyResult, PlanResult, SizeResult
from engine.registry import apply_steps
from engine.runtimes import interface as runtimes
from engine.settings import (
    PlanEvent,
    PlanState,
    ProgressEvent,
    RunCancelled,
    RunError,
    RunEvent,
    RunSettings,
    RunState,
    StepContext,
    check_split,
    resolve_device,
)
from engine.store import Store
from engine.versions import library_versions

DEFAULT_TOKENS = 128  # prompt and answer length per query without prompts or flags


def _prompt_ids(loaded, prompt_tokens: int) -> torch.Tensor:
    """The prompt timed for ttft: `prompt_tokens` tokens of the evaluation texts (random ids for a shape)."""
    if loaded.tokenizer is None:
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, loaded.config.vocab_size, (prompt_tokens,), generator=generator)
    text = " ".join(texts.load_eval_texts())
    ids = loaded.tokenizer(text, add_special_tokens=False).input_ids[:prompt_tokens]
    return torch.tensor(ids)


def remove_leftovers(store: Store) -> None:
    """Delete what interrupted runs left half-written: the folder of the plan that was running when its process
    died, and the run's shared files (finished plans keep their model files)."""
    root = subdir("artifacts")
    for row in store.list_runs():
        folder = root / row["run_id"]
        if row["status"] != RunState.INTERRUPTED or not folder.is_dir():
            continue
        finished = {str(position) for position, plan in enumerate(store.get_run(row["run_id"])["plans"])
                    if plan["status"] in (PlanState.OK, PlanState.FAILED)}
        for child in folder.iterdir():
            if child.name.partition("-")[0] not in finished:
                shutil.rmtree(child, ignore_errors=True)


class Runner:
    """Holds what every plan of one run shares: the model, the baseline, the inputs."""

    def __init__(self, model_spec: str, plans: list[Plan], settings: RunSettings,
                 store: Store | None = None, progress=print, prompts: PromptSet | None = None,
                 should_cancel=None):
        self.settings = settings
        self.plans = plans
        self._report = progress
        self.should_cancel = should_cancel or (lambda: False)
        self.position = None
        self.store = store  # None for a sweep's cell: the sweep's driver stores what it returns
        self.device = resolve_device(settings.device)
        self.split = settings.device_map == "auto"
        if self.split and self.device != "cuda":
            raise RunError("--device-map auto places a model across GPUs, and this machine has none; leave "
                           "--device-map none")
        check_split(plans, settings)
        self.loaded = load_model(model_spec, progress=progress)
        baseline_dtype = plans[0].steps[-1].name
        check_fits(self.loaded, self.device, {"fp32": 4, "bf16": 2, "fp16": 2}.get(baseline_dtype, 4), self.split)
        self.ctx = StepContext(self.device, self.loaded.tokenizer, self._calibrate, self.loaded.name,
                               self._prompt_progress, str(subdir("checkpoints")), threads=settings.threads,
                               tokenizer_gguf=str(self.loaded.gguf_source) if self.loaded.gguf_source else None)
        self._calibrations: dict[str, Calibration] = {}
        self.calibration = None
        self.device_info = {"type": self.device, "name": device_name(self.device), "libraries": library_versions()}
        self.bandwidth = bandwidth(self.device)
        self.matmul_rate = matmul_rate(self.device)
        self.base_macs = None  # the baseline's, for a plan whose runtime has no torch modules (llama.cpp)
        # a split model runs through accelerate's hooks, which static caches and CUDA graphs do not cross
        self.decode_paths = ("plain",) if self.split else resolve_paths(settings.decode_path, self.device)
        self._prepare_prompts(prompts)
        # Query lengths: the flags where given, else the prompt set's medians (and a second price at its 90th
        # percentiles), else 128.
        self.traffic = self.prompt_accuracy.traffic() if self.prompt_accuracy else None
        t = self.traffic
        self.costs = assumptions(
            self.device, self.device_info["name"], settings.hardware, settings.price_per_hour,
            prompt_tokens=settings.prompt_tokens or (t.prompt_tokens_p50 if t else DEFAULT_TOKENS),
            output_tokens=settings.output_tokens or (t.output_tokens_p50 if t else DEFAULT_TOKENS),
            batch_size=settings.cost_batch or settings.batch_sizes[0], utilisation=settings.utilisation,
            grid_carbon=settings.grid_carbon, electricity_price=settings.electricity_price,
        )
        from_prompts = t is not None and not (settings.prompt_tokens and settings.output_tokens)
        self.lengths_from = "prompts" if from_prompts else "settings"
        self.costs_p90 = replace(self.costs, prompt_tokens=settings.prompt_tokens or t.prompt_tokens_p90,
                                 output_tokens=settings.output_tokens or t.output_tokens_p90) if from_prompts else None
        self.prompt_ids = _prompt_ids(self.loaded, self.costs.prompt_tokens)
        self.windows = None
        if self.loaded.accuracy_applicable:
            self.windows = texts.make_windows(
                self.loaded.tokenizer, texts.load_eval_texts(), max_tokens=settings.eval_tokens)
        self.base_logp = None
        self.base_result: PlanResult | None = None

    def _prepare_prompts(self, prompts: PromptSet | None) -> None:
        """Limit and split the user's prompts; only the evaluation share is ever scored."""
        s = self.settings
        self.prompt_info, self.prompt_accuracy = None, None
        if prompts is not None and self.loaded.accuracy_applicable:
            if s.limit:
                prompts = prompts.limit(s.limit)
            calibration, evaluation = prompts.split(s.calibration_share, s.seed)
            self.calibration = calibration
            self.prompt_accuracy = PromptAccuracy(
                self.loaded.tokenizer, evaluation, self.device, s.max_new_tokens, s.eval_batch,
                progress=self._prompt_progress)
            self.prompt_info = {"name": prompts.name, "sha256": prompts.sha256, "size": len(prompts),
                                "evaluation": len(evaluation), "calibration": len(calibration),
                                "calibration_share": s.calibration_share, "seed": s.seed}
            self.prompt_set = prompts
        has_refs = self.prompt_accuracy.has_references if self.prompt_accuracy else False
        self.tolerance = Tolerance(s.primary or default_metric(has_refs), s.tolerance_pct)

    def _calibrate(self, source: str) -> Calibration:
        """Calibration rows for a calibrated step, built once per source per run."""
        source = self.settings.calibration if source == "auto" else source
        if source not in self._calibrations:
            if self.loaded.tokenizer is None:
                generator = torch.Generator().manual_seed(0)
                rows = torch.randint(0, self.loaded.config.vocab_size, (8, 128), generator=generator)
                self._calibrations[source] = Calibration("random tokens (shape-only model)", rows)
            else:
                items = self.calibration.items if self.calibration is not None else ()
                self._calibrations[source] = build_calibration(self.loaded.tokenizer, source, items)
        return self._calibrations[source]

    def progress(self, event) -> None:
        """Report an event; the cancel check rides on it, so long stages stop promptly."""
        self._report(event)
        if self.should_cancel():
            raise RunCancelled("cancelled by the user")

    def _min_detectable(self) -> float | None:
        """What this prompt set can resolve in task accuracy (points), from its scored prompts' count."""
        if self.prompt_accuracy is None:
            return None
        return paired.min_detectable_delta_pts(sum(i.reference is not None for i in self.prompt_accuracy.prompts.items))

    def _prompt_progress(self, stage: str, done: int, total: int, detail: dict | None = None) -> None:
        self.progress(ProgressEvent(stage, done, total, self.position, detail))

    def _stage(self, plan: Plan, message: str) -> None:
        self.progress(PlanEvent(self.position, str(plan), "stage", message))

    def header(self) -> dict:
        """The run's description as the store keeps it: model, device, and settings with what this run measured
        or derived for every plan (costs, bandwidth, traffic, the verdict rule)."""
        return {
            "model": {**self.loaded.info(), "notes": list(self.loaded.notes)},
            "device": self.device_info,
            "settings": {**asdict(self.settings), "cost": asdict(self.costs), "bandwidth": self.bandwidth,
                         "matmul_rate": self.matmul_rate,
                         "traffic": self.traffic.to_dict() if self.traffic else None,
                         "lengths_from": self.lengths_from, "prompts": self.prompt_info,
                         "verdict": {"metric": self.tolerance.metric, "tolerance_pct": self.tolerance.pct,
                                     "rule": self.tolerance.describe(), "method": paired.METHOD,
                                     "min_detectable_delta_pts": self._min_detectable()}},
            "accuracy_applicable": self.loaded.accuracy_applicable,
        }

    def run(self) -> dict:
        remove_leftovers(self.store)
        if self.prompt_info:
            self.store.save_prompt_set(self.prompt_set)
        header = self.header()
        run_id = self.store.create_run(header["model"], header["device"], header["settings"],
                                       [str(p) for p in self.plans])
        self.run_id = run_id
        shared = subdir("artifacts") / run_id / "shared"
        self.ctx = replace(self.ctx, shared_dir=str(shared))
        try:
            self.progress(RunEvent(run_id, "created",
                                   f"run {run_id}: {len(self.plans)} plans on {self.device_info['name']}"))
            with self.store.heartbeat(run_id):
                done = [self._run_one(position, plan) for position, plan in enumerate(self.plans)]
        except RunCancelled:
            self.store.finish_run(run_id, RunState.CANCELLED)
            self._report(RunEvent(run_id, RunState.CANCELLED, f"run {run_id} cancelled; finished plans are kept"))
            raise
        finally:
            shutil.rmtree(shared, ignore_errors=True)
        summary = {"recommendation": recommendation(done, self.loaded.accuracy_applicable, self.tolerance)}
        self.store.finish_run(run_id, RunState.DONE, summary)
        self._report(RunEvent(run_id, RunState.DONE, f"run {run_id} done"))
        return self.store.get_run(run_id)

    def cell(self, position: int, plan: Plan) -> tuple[dict, list[dict]]:
        """Measure one plan: its record and per-prompt records. The baseline (position 0) becomes what every later
        plan of this Runner is compared with."""
        self.position = position
        self._prompt_records = []
        result = self.run_plan(position, plan)
        if position == 0 and result.status == PlanState.OK:
            self.base_result = result
        return result.to_dict(), self._prompt_records

    def baseline_state(self) -> dict:
        """What comparing a plan with the baseline needs, for plans measured by another process (a sweep's cells):
        the baseline's result, its evaluation-text log-probs and its answers to the prompts."""
        prompts = self.prompt_accuracy.baseline_state() if self.prompt_accuracy else None
        return {"result": self.base_result.to_dict(), "logp": self.base_logp, "prompts": prompts}

    def adopt_baseline(self, state: dict) -> None:
        self.base_result = PlanResult.from_dict(state["result"])
        self.base_logp = state["logp"]
        if self.prompt_accuracy is not None:
            self.prompt_accuracy.adopt_baseline(state["prompts"])

    def _run_one(self, position: int, plan: Plan) -> dict:
        count = f"[{position + 1}/{len(self.plans)}] {plan}"
        self.progress(PlanEvent(position, str(plan), "started", f"{count} ..."))
        record, prompt_records = self.cell(position, plan)
        self.store.add_plan_result(self.run_id, position, record, prompt_records)
        if position == 0 and record["status"] != PlanState.OK:
            self.store.finish_run(self.run_id, RunState.FAILED)
            raise RunError(f"the baseline plan '{plan}' failed: {record['error']}")
        detail = f" ({record['error']})" if record["error"] else f" in {record['seconds']:.1f} s"
        self.progress(PlanEvent(position, str(plan), record["status"], f"{count}: {record['status']}{detail}"))
        return record

    def run_plan(self, position: int, plan: Plan) -> PlanResult:
        started = time.perf_counter()
        try:
            return self._measure(position, plan, started)
        except RunCancelled:
            raise
        except Exception as error:  # one plan failing never stops the others
            shutil.rmtree(self._folder(position, plan), ignore_errors=True)  # no half-written model file stays
            detail = traceback.format_exception_only(type(error), error)[-1].strip()
            if isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "can't allocate memory" in detail:
                detail = (f"out of memory on the {self.device}: try a smaller batch size or model, or fewer plans "
                          f"in one run ({detail})")
            elif isinstance(error, OSError) and error.errno in DISK_FULL:
                detail = disk_problem(error, self._folder(position, plan))
            return PlanResult(plan=str(plan), status=PlanState.FAILED, error=detail,
                              seconds=time.perf_counter() - started,
                              steps=tuple(s.to_dict() for s in plan.steps))
        finally:
            release_memory(self.device)

    def _folder(self, position: int, plan: Plan) -> Path:
        return subdir("artifacts") / self.run_id / f"{position}-{plan.key()}"

    def _measure(self, position: int, plan: Plan, started: float) -> PlanResult:
        s = self.settings
        folder = self._folder(position, plan)
        with PeakMemory(self.device) as memory:
            self._stage(plan, "compressing")
            model = self.loaded.fresh_copy(self.device, split=self.split)
            outcome, step_seconds = apply_steps(model, plan, replace(self.ctx, artifact_dir=str(folder)))
            model = outcome.model
            self._stage(plan, "measuring latency")
            skipped: list[str] = []
            rows = runtimes.latency_rows(model, self.prompt_ids, s.batch_sizes, s.decode_steps, s.repeats,
                                         self.device, self.decode_paths, lambda message: self._stage(plan, message),
                                         skipped, s.energy_s)
            outcome.notes += skipped
        placement = size_placement(model)
        keep = s.keep_artifacts and self.loaded.source != "shape"
        try:
            size = self._size(model, plan, outcome.extras)
            keep = keep and self._keep(model, folder, plan, size.disk_bytes, outcome.notes)
            runtime = runtimes.describe(model, folder, keep)
            latency = latency_result(price_rows(rows, self.costs), size.weight_bytes, outcome.kernel_path,
                                     self.bandwidth, s.max_tpot_ms, self._prefill_floor(model))
            cost = cost_result(latency, self.costs, self.device, self.costs_p90, self.lengths_from)
            self._stage(plan, "evaluating accuracy")
            acc, slices = self._accuracy(model, position)
        finally:
            runtimes.release(model, folder, keep)
        del model
        return PlanResult(
            plan=str(plan), status=PlanState.OK, backend=outcome.backend, kernel_path=outcome.kernel_path,
            notes=tuple(outcome.notes), size=size, latency=latency,
            memory={"peak_bytes": memory.peak_bytes,
                    "kind": "cuda max allocated" if self.device == "cuda" else "peak RSS growth",
                    "method": memory.method, "per_gpu": memory.per_gpu or None, "placement": placement},
            cost=cost, accuracy=acc, seconds=time.perf_counter() - started,
            steps=tuple(st.to_dict() for st in plan.steps), slices=slices, verdict=self._verdict(acc),
            step_seconds=step_seconds, extras=outcome.extras, runtime=runtime,
            economics=training_economics(outcome.extras, cost, self.base_result and self.base_result.cost,
                                         self.costs),
        )

    def _prefill_floor(self, model):
        """(batch size) -> the fastest possible prefill of the timed prompt in ms at the measured matmul rate."""
        macs = linear_macs(model) or self.base_macs
        self.base_macs = self.base_macs or macs
        config = getattr(model, "config", None) or self.loaded.config or getattr(self.loaded.base, "config", None)
        if macs is None or config is None:
            return None
        tokens, rate = len(self.prompt_ids), self.matmul_rate["flops_per_s"]
        return lambda batch: prefill_flops(macs, config, tokens, batch) / rate * 1000.0

    def _verdict(self, acc: AccuracyResult) -> dict | None:
        if not acc.applicable:
            return None
        metric = self.tolerance.metric
        value = getattr(acc, metric)
        if self.base_result is None:  # the baseline against itself: no change, nothing to decide
            return judge(value, value, self.tolerance, None)
        return judge(value, getattr(self.base_result.accuracy, metric), self.tolerance, self._changes.get(metric))

    def _artifact_metadata(self, plan: Plan) -> dict:
        return {"plan": str(plan), "model": self.loaded.name}

    def _keep(self, model, folder: Path, plan: Plan, disk_bytes: int, notes: list) -> bool:
        """Save the plan's artifact. The file is optional: a save that fails (a full disk) costs the file, never
        the plan's measurements, and says why in the plan's notes."""
        try:
            runtimes.save(model, folder, self._artifact_metadata(plan))
            return True
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            notes.append(f"model file not kept: {disk_problem(error, folder, disk_bytes)}; every figure of this plan "
                         "was measured all the same")
            return False

    def _size(self, model, plan: Plan, extras: dict) -> SizeResult:
        held = runtimes.held_bytes(model)
        disk = runtimes.artifact_size(model, self._artifact_metadata(plan))
        base = self.base_result.size.weight_bytes if self.base_result else held
        params = extras.get("training", {}).get("student_params", self.loaded.params)  # a student is smaller
        return SizeResult(weight_bytes=held, disk_bytes=disk, compression_ratio=base / held,
                          bits_per_weight=8 * held / params, params=params)

    def _accuracy(self, model, position: int) -> tuple[AccuracyResult, dict]:
        self._changes = {}
        if self.windows is None:
            return AccuracyResult(applicable=False), {}
        text_figures = None
        if self.prompt_accuracy is None or not self.prompt_accuracy.perplexity_from_references:
            text_figures = self._eval_text_figures(model, position)  # perplexity falls back to evaluation texts
            text_changes = text_figures.pop("changes")
        if self.prompt_accuracy is None:
            self._changes = text_changes
            return AccuracyResult(**text_figures), {}
        overall, slices, self._prompt_records = self.prompt_accuracy.measure(model)
        self._changes = overall.pop("changes")
        if text_figures is not None:
            self._changes = {**self._changes, "perplexity": text_changes.get("perplexity")}
        ppl_keys = ("perplexity", "ppl_delta_pct")  # from the references, else from the evaluation texts
        fields = {k: overall.get(k) for k in AccuracyResult.metric_fields() if k not in ppl_keys}
        ppl = {k: overall[k] for k in ppl_keys}
        ppl_source, ppl_tokens = "references", self.prompt_accuracy.reference_tokens
        if text_figures is not None:
            ppl, ppl_source = {k: text_figures[k] for k in ppl_keys}, "eval_texts"
            ppl_tokens = text_figures["eval_tokens"]
        diverged = ppl["perplexity"] is None or ppl["perplexity"] > 1e4
        return AccuracyResult(**fields, **ppl, diverged=diverged, scored_prompts=overall["scored_prompts"],
                              prompts=overall["prompts"], source="prompts", perplexity_source=ppl_source,
                              eval_tokens=ppl_tokens, reference_tokens=self.prompt_accuracy.reference_tokens), slices

    def _eval_text_figures(self, model, position: int) -> dict:
        logp = texts.window_log_probs(model, self.windows, self.device)
        if position == 0:
            self.base_logp = logp
        figures = texts.compare(logp, self.base_logp, self.windows.input_ids[:, 1:])
        base_ppl = figures["perplexity"] if position == 0 else self.base_result.accuracy.perplexity
        if position > 0 and self.base_result.accuracy.perplexity_source != "eval_texts":
            base_ppl = None
        return {**figures, "ppl_delta_pct": pct_change(figures["perplexity"], base_ppl)}


def recommendation(records: list[dict], accuracy_applicable: bool, tolerance: Tolerance) -> dict:
    """The run's recommendation; a random-weight shape has no accuracy to weigh."""
    if not accuracy_applicable:
        return {"plan": None, "reason": "Accuracy is not applicable to a random-weight shape; "
                                        "compare size, speed and cost only." + failed_plans(records)}
    return recommend(records, tolerance)


def run(model_spec: str, plans: list[Plan], settings: RunSettings = RunSettings(),
        store: Store | None = None, progress=print, prompts: PromptSet | None = None,
        should_cancel=None) -> dict:
    """Run every plan on the model and return the stored run record. The device is held for the whole run
    (engine/measure/exclusive.py): another run on it waits, so no run times another's work."""
    should_cancel = should_cancel or (lambda: False)
    store = store or Store()
    store.check_writable()  # a full disk is said before the model loads
    try:
        with exclusive_device(resolve_device(settings.device), f"a run of {model_spec}", progress, should_cancel):
            return Runner(model_spec, plans, settings, store, progress, prompts, should_cancel).run()
    except InterruptedError as stopped:
        raise RunCancelled(str(stopped)) from None
