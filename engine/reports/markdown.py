"""The whole report as Markdown (no charts: the HTML and PDF carry them), ending with the
compression disclosure card of each run. Every user string goes through mdtext.text."""

from __future__ import annotations

from engine.reports import mdtext
from engine.reports.content import Report, RunReport
from engine.reports.disclosure import card
from engine.reports.disclosure import to_markdown as card_markdown
from engine.reports.formatting import num, timestamp
from engine.reports.samples import correctness

HEADLINE_LABEL = {"recommend": "Recommendation", "keep": "Recommendation", "none": "No plan within tolerance",
                  "not-applicable": "Size, speed and cost only", "incomplete": "No recommendation"}


def _samples(run: RunReport) -> str:
    if not run.samples:
        return "No per-prompt records: the run was not evaluated on a prompt file."
    rows = [[f"`{s.plan}`", str(s.index), mdtext.text(s.category or "-"), mdtext.text(s.prompt, 240),
             mdtext.text(s.reference if s.reference is not None else "-", 80),
             mdtext.text(s.baseline_output, 160) + f" ({correctness(s.baseline_correct)})",
             mdtext.text(s.output, 160) + f" ({correctness(s.correct)})", num(s.kl, ".3f"), s.why]
            for s in run.samples]
    return mdtext.table(["Plan", "#", "Category", "Prompt", "Reference", "Baseline output", "Plan output",
                         "KL (nats)", "Why shown"], rows, [False, True, False, False, False, False, False, True,
                                                           False])


def _plans(run: RunReport) -> str:
    lines = []
    for spec in run.plans:
        lines.append(f"- `{spec.plan}` ({mdtext.text(spec.status)}), backend {mdtext.text(spec.backend or '-')}, "
                     f"kernel path: {mdtext.text(spec.kernel_path or '-')}"
                     + (f", runtime {mdtext.text(spec.runtime)}" if spec.runtime else ""))
        for step in spec.steps:
            params = ", ".join(f"{k}={v}" for k, v in step.params.items()) or "no parameters"
            took = f", {step.seconds:,.1f} s" if step.seconds is not None else ""
            lines.append(f"  - step `{step.text}`: {mdtext.text(params)}{took}. {mdtext.text(step.doc)}")
        for note in spec.notes:
            lines.append(f"  - note: {mdtext.text(note)}")
        if spec.error:
            lines.append(f"  - error: {mdtext.text(spec.error)}")
    return "\n".join(lines)


def run_markdown(run: RunReport) -> str:
    h = run.headline
    parts = [f"## {mdtext.text(run.model['name'])}, run {mdtext.text(run.run_id)}"]
    if h.warning:
        parts.append(f"> **Warning:** {mdtext.text(h.warning)}")
    parts.append(f"> **{HEADLINE_LABEL[h.kind]}:** {mdtext.text(h.sentence)}")
    if run.key_points:
        parts.append("\n".join(f"- {mdtext.text(point)}" for point in run.key_points))
    parts.append(mdtext.fields(run.facts))
    parts += ["### Savings against the baseline", mdtext.report_table(run.savings), mdtext.text(run.savings.caption)]
    parts += ["### Size, speed and cost", mdtext.report_table(run.performance), mdtext.text(run.performance.caption)]
    if run.accuracy:
        parts += ["### Accuracy against the baseline", mdtext.report_table(run.accuracy),
                  mdtext.text(run.accuracy.caption)]
    else:
        parts += ["### Accuracy", "Not applicable: the model has random weights (shape-only)."]
    if run.slices:
        parts += ["### Accuracy by slice", mdtext.report_table(run.slices), mdtext.text(run.slices.caption)]
    parts += ["### Prompts each plan broke first", _samples(run)]
    parts += ["### Cost assumptions", mdtext.fields(run.cost_assumptions)]
    parts += ["### Evaluation data", mdtext.fields(run.evaluation)]
    parts += ["### Plans, exactly as run", _plans(run)]
    parts += ["### Repeat this run", mdtext.code_block(run.command, "bash"),
              "\n".join(f"- {mdtext.text(n)}" for n in run.command_notes)]
    if run.explanations:
        parts += ["### Why some plans are slower than the baseline here",
                  "\n\n".join(f"**{mdtext.text(plan)}**: {mdtext.text(text)}" for plan, text in run.explanations)]
    parts += ["### Hardware", mdtext.fields(run.hardware)]
    return "\n\n".join(parts)


def to_markdown(report: Report) -> str:
    parts = [f"# {mdtext.text(report.title)}",
             f"Generated {timestamp(report.generated)} by compecon {report.tool_version}. Charts are in the HTML "
             "and PDF versions of this report."]
    if report.comparison is not None:
        parts += ["## All runs side by side", mdtext.report_table(report.comparison),
                  mdtext.text(report.comparison.caption)]
    parts += [run_markdown(run) for run in report.runs]
    parts += ["# Compression disclosure cards" if len(report.runs) > 1 else "# Compression disclosure card"]
    parts += [card_markdown(card(run, report), level=2) for run in report.runs]
    return "\n\n".join(parts) + "\n"
