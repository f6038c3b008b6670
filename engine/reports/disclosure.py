"""The compression disclosure card: what was done to the model, what it changed, how it was
validated and where it falls short, in the terms an auditor files. One card per run; Markdown
here, and the same card (this model) inside the HTML and PDF reports."""

from __future__ import annotations

from dataclasses import dataclass

from engine.metrics import METRICS
from engine.records import verdict_metric as record_verdict_metric
from engine.reports import mdtext, tables
from engine.reports.content import Report, RunReport
from engine.reports.formatting import timestamp


@dataclass(frozen=True)
class CardSection:
    title: str
    fields: tuple = ()  # (label, value)
    table: tables.Table | None = None
    items: tuple = ()  # bullet points


@dataclass(frozen=True)
class DisclosureCard:
    title: str
    sections: tuple


def _technique_table(run: RunReport) -> tables.Table:
    columns = (tables.Column("plan", "Plan", False), tables.Column("steps", "Technique and parameters", False),
               tables.Column("library", "Library and kernel path", False),
               tables.Column("seconds", "Compression time (s)"))
    rows = []
    for position, spec in enumerate(run.plans):
        steps = "; ".join(
            f"{s.name} (" + (", ".join(f"{k}={v}" for k, v in s.params.items()) or "no parameters") + ")"
            + (f": {s.doc.rstrip('.')}" if s.doc else "") for s in spec.steps)
        seconds = sum(s.seconds for s in spec.steps if s.seconds is not None)
        library = f"{spec.backend or '-'}; {spec.kernel_path or '-'}"
        cells = {"plan": tables.Cell(spec.plan), "steps": tables.Cell(steps), "library": tables.Cell(library),
                 "seconds": tables.Cell(f"{seconds:,.1f}" if spec.status == "ok" else "n/a", seconds)}
        rows.append(tables.Row(spec.plan, spec.colour, spec.status, cells, position == 0,
                               spec.plan == run.headline.plan, spec.error or ""))
    return tables.Table("Techniques", columns, tuple(rows))


SLICE_METRICS = {  # verdict metric -> (slice table column, higher is better, unit)
    "task_accuracy": ("task_change", True, "pts"), "top1_agreement": ("top1_change", True, "pts"),
    "generation_agreement": ("gen_change", True, "pts"), "perplexity": ("ppl_change", False, "%"),
    "kl_divergence": ("kl", False, "nats"),
}


def verdict_metric(run: RunReport) -> str:
    return record_verdict_metric(run.record)


def worst_slices(run: RunReport, metric: str, count: int = 3) -> list[str]:
    """The slices where `metric` fell most against the baseline, worst first."""
    if run.slices is None:
        return []
    key, higher_is_better, unit = SLICE_METRICS[metric]
    falls = []
    for row in run.slices.rows:
        cell = row.cells[key]
        if cell.value is None:
            continue
        loss = -cell.value if higher_is_better else cell.value
        if loss > 1e-9:
            change = cell.text if unit == "%" else f"{cell.text} {unit}"
            label = METRICS[metric].label.lower() if metric in METRICS else metric.replace("_", " ")
            falls.append((loss, f"{row.plan} on prompts {row.cells['slice'].text}: {label} {change}"))
    return [text for _, text in sorted(falls, key=lambda f: -f[0])[:count]]


def known_limits(run: RunReport) -> tuple:
    items = []
    metric = verdict_metric(run)
    falls = worst_slices(run, metric)
    items += [f"Largest fall on a slice: {text}." for text in falls]
    if run.slices is not None and not falls:
        items.append(f"No slice lost {metric.replace('_', ' ')} (the verdict metric) against the baseline.")
        if metric != "top1_agreement":
            items += [f"Largest fall in agreement with the baseline on a slice: {text}."
                      for text in worst_slices(run, "top1_agreement")]
    for spec in run.plans:
        if spec.status == "failed":
            items.append(f"{spec.plan} failed and has no figures: {spec.error}")
        elif spec.status != "ok":
            items.append(f"{spec.plan} did not finish ({spec.status}).")
    if run.accuracy is None:
        items.append("Accuracy is not applicable: the model has random weights (shape-only), so this card "
                     "discloses size, speed and cost only.")
    else:
        info = (run.record.get("settings") or {}).get("prompts") or {}
        evaluated = info.get("evaluation")
        if evaluated:
            items.append(f"Accuracy rests on {evaluated} evaluated prompts: one prompt moves a share by "
                         f"{100 / evaluated:.1f} percentage points.")
        else:
            items.append("No user prompts were evaluated: accuracy comes from generic evaluation texts only.")
    items += [f"Model: {note}" for note in run.model_notes]
    if any("gguf" in note.lower() for note in run.model_notes):
        grouped_32 = [spec.plan for spec in run.plans
                      if any(s.params.get("group") == 32 and "4" in s.name + str(s.params.get("bits", ""))
                             for s in spec.steps)]
        if grouped_32:
            items.append(f"{', '.join(grouped_32)}: 4-bit groups of 32 match the GGUF's own Q4_1 blocks, so they "
                         "can look nearly lossless on this model by construction.")
    for spec in run.plans:
        items += [f"{spec.plan}: {note}" for note in spec.notes if "calibrat" not in note.lower()]
    for plan, _ in run.explanations:
        items.append(f"{plan} decodes slower than the baseline on this hardware (see 'Why some plans are slower').")
    return tuple(dict.fromkeys(items))


def _calibration_items(run: RunReport) -> tuple:
    items = [f"{spec.plan}: {text}" for spec in run.plans for text in spec.calibration]
    info = (run.record.get("settings") or {}).get("prompts") or {}
    if info.get("calibration"):
        items.append(f"{info['calibration']} prompts of the set were held out for calibration and never scored.")
    if not items:
        items.append("No step of these plans used calibration data (rounding methods need none).")
    return tuple(items)


def card(run: RunReport, report: Report) -> DisclosureCard:
    model = run.model
    params = model.get("params")
    sections = (
        CardSection("Model", (("Name", model["name"]), ("Source", model.get("source", "?")),
                              ("Parameters", f"{params:,}" if params else "n/a"),
                              ("Baseline (uncompressed reference)", run.plans[0].plan if run.plans else "n/a"))),
        CardSection("Techniques", table=_technique_table(run)),
        CardSection("Size and cost change", table=run.savings),
        CardSection("Accuracy change on each metric", table=run.accuracy,
                    items=() if run.accuracy else ("Not applicable (random-weight shape-only model).",)),
        CardSection("Accuracy change on each slice", table=run.slices,
                    items=() if run.slices else ("No slices: the run was not evaluated on a prompt file.",)),
        CardSection("Evaluation data", run.evaluation),
        CardSection("Calibration data", items=_calibration_items(run)),
        CardSection("Hardware and software", run.hardware + (("Tool", f"compecon {report.tool_version}"),)
                    + tuple(report.software[1:3])
                    + (("Libraries (report machine)", ", ".join(f"{n} {v}" for n, v in report.software[3:])),)),
        CardSection("Dates", (("Run", timestamp(run.created)), ("Card generated", timestamp(report.generated)))),
        CardSection("Known limits", items=known_limits(run)),
    )
    return DisclosureCard(f"Compression disclosure card: {model['name']} (run {run.run_id})", sections)


def to_markdown(card_: DisclosureCard, level: int = 2) -> str:
    hashes = "#" * level
    parts = [f"{hashes} {mdtext.text(card_.title)}"]
    for section in card_.sections:
        parts.append(f"{hashes}# {mdtext.text(section.title)}")
        if section.fields:
            parts.append(mdtext.fields(section.fields))
        if section.table is not None:
            parts.append(mdtext.report_table(section.table))
        if section.items:
            parts.append("\n".join(f"- {mdtext.text(item)}" for item in section.items))
    return "\n\n".join(parts) + "\n"


def cards_markdown(report: Report) -> str:
    """Every run's card, for `compecon report --format md` and the disclosure file."""
    return "\n".join(to_markdown(card(run, report)) for run in report.runs)
