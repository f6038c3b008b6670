"""One self-contained HTML file: interactive plotly charts (plotly.js embedded once, works
offline) for the screen, or static chart images and a cover page for print (the PDF renders this).

Every string that comes from a run (prompts, outputs, model names, plan strings, notes, errors)
passes through `e()` (html.escape) on its way in; nothing from a run reaches a script.
"""

from __future__ import annotations

import base64
from html import unescape

from engine.reports.content import Report, RunReport
from engine.reports.disclosure import DisclosureCard, card
from engine.reports.figures import ReportFigure, comparison_figures, run_figures
from engine.reports.formatting import num, timestamp
from engine.reports.html_style import CSS
from engine.reports.html_table import e, fields, plan_label, table
from engine.reports.samples import correctness

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
HEADLINE_LABEL = {"recommend": "Recommendation", "keep": "Recommendation: keep the baseline",
                  "none": "No plan within tolerance", "not-applicable": "Size, speed and cost only",
                  "incomplete": "No recommendation"}


class Figures:
    """Turns report figures into HTML: plotly divs (plotly.js inlined with the first one) or images."""

    def __init__(self, images: dict[str, bytes] | None = None, image_format: str = "svg"):
        self.images, self.image_format = images, image_format
        self.count = 0

    def __call__(self, figure: ReportFigure) -> str:
        self.count += 1
        if self.images is not None:
            data = base64.b64encode(self.images[figure.key]).decode("ascii")
            mime = "image/svg+xml" if self.image_format == "svg" else "image/png"
            alt = unescape(figure.fig.layout.title.text or figure.key)  # titles carry Plotly-escaped user text
            body = f'<img alt="{e(alt)}" src="data:{mime};base64,{data}">'
        else:
            height = figure.fig.layout.height or 340
            body = figure.fig.to_html(full_html=False, include_plotlyjs=self.count == 1, config=PLOTLY_CONFIG,
                                      div_id=f"figure-{self.count}", default_width="100%",
                                      default_height=f"{height}px")
        caption = f'<figcaption class="caption">{e(figure.caption)}</figcaption>' if figure.caption else ""
        return f'<figure class="chart{" wide" if figure.wide else ""}">{body}{caption}</figure>'


def callout(run: RunReport) -> str:
    h = run.headline
    out = ""
    if h.warning:
        out += (f'<div class="callout warning"><div class="label">Incomplete run</div>'
                f'<p class="sentence">{e(h.warning)}</p></div>')
    out += (f'<div class="callout {e(h.kind)}"><div class="label">{e(HEADLINE_LABEL[h.kind])}</div>'
            f'<p class="sentence">{e(h.sentence)}</p></div>')
    return out


def key_points(run: RunReport) -> str:
    if not run.key_points:
        return ""
    return '<ul class="key-points">' + "".join(f"<li>{e(point)}</li>" for point in run.key_points) + "</ul>"


def facts(run: RunReport) -> str:
    items = "".join(f"<div><dt>{e(label)}</dt><dd>{e(value)}</dd></div>" for label, value in run.facts)
    return f'<dl class="facts">{items}</dl>'


def savings_cards(run: RunReport) -> str:
    cards = []
    labels = {c.key: c.label for c in run.savings.columns}
    for row in run.savings.rows[1:]:
        if row.note:
            body = f'<p class="caption">{e(row.status)}: {e(row.note)}</p>'
        else:
            items = "".join(
                f'<dt>{e(labels[key])}</dt><dd class="{e(row.cells[key].tone)}">{e(row.cells[key].text)}</dd>'
                for key in ("size", "cost", "speed", "accuracy") if key in labels)
            body = f"<dl>{items}</dl>"
        verdict = row.cells.get("verdict")
        badge = (f'<span class="badge {e(verdict.text)}">{e(verdict.text)}</span>'
                 if verdict and verdict.text in ("within", "outside", "inconclusive") else "")
        rec = '<span class="badge rec">recommended</span>' if row.recommended else ""
        cards.append(f'<div class="card" style="--plan:{e(row.colour)}"><div class="name">'
                     f'<span class="swatch" style="background:{e(row.colour)}"></span><code>{e(row.plan)}</code>'
                     f"{rec}{badge}</div>{body}</div>")
    base = run.savings.rows[0] if run.savings.rows else None
    intro = ""
    if base is not None and not base.note:
        intro = (f'<p class="caption">Against the baseline <code>{e(base.plan)}</code>: '
                 f"{e(base.cells['size'].text.split('(')[-1].rstrip(')'))} of weights, "
                 f"{e(base.cells['cost'].text.split('(')[-1].rstrip(')'))} per 1,000 queries, "
                 f"{e(base.cells['speed'].text.split('(')[-1].rstrip(')'))} per output token. "
                 "Negative size, cost and time are savings.</p>")
    return f'<div class="screen-only">{intro}<div class="cards">{"".join(cards)}</div></div>'


def samples(run: RunReport) -> str:
    if not run.samples:
        return '<p class="caption">No per-prompt records: the run was not evaluated on a prompt file.</p>'
    blocks = []
    for s in run.samples:
        reference = f"<span>reference: <b>{e(s.reference)}</b></span>" if s.reference is not None else ""
        blocks.append(
            f'<div class="sample" style="--plan:{e(s.colour)}"><div class="head">'
            f"<span>{plan_label(s.plan, s.colour)}</span><span>prompt #{e(s.index)}</span>"
            f"<span>category: {e(s.category or '-')}</span>{reference}"
            f"<span>KL {e(num(s.kl, '.3f', 'nats'))}</span><span><b>{e(s.why)}</b></span></div>"
            f'<p class="prompt">{e(s.prompt)}</p><div class="outs">'
            f'<div class="out"><h5>Baseline output ({e(correctness(s.baseline_correct))})</h5>'
            f"<p>{e(s.baseline_output)}</p></div>"
            f'<div class="out"><h5>Plan output ({e(correctness(s.correct))})</h5><p>{e(s.output)}</p></div>'
            "</div></div>")
    return ('<p class="caption">For each compressed plan, its prompts in this order: answers it broke (right for '
            'the baseline, wrong for the plan), then outputs that changed, then the highest KL.</p>'
            f'<div class="samples">{"".join(blocks)}</div>')


def plans(run: RunReport) -> str:
    """Each plan as run: its steps with every parameter (defaults filled in), library and kernel path."""
    blocks = []
    for position, spec in enumerate(run.plans):
        label = plan_label(spec.plan, spec.colour, position == 0, spec.plan == run.headline.plan)
        meta = " · ".join(e(x) for x in (spec.runtime, spec.backend, spec.kernel_path, spec.decode_path) if x)
        rows = "".join(
            f"<tr><td><code>{e(step.text)}</code></td>"
            f"<td><code>{e(', '.join(f'{k}={v}' for k, v in step.params.items()) or 'none')}</code></td>"
            f'<td>{e(step.doc)}</td><td class="num">{e(num(step.seconds, ",.1f"))}</td></tr>' for step in spec.steps)
        notes = "".join(f"<li>{e(note)}</li>" for note in spec.notes)
        if spec.error:
            notes += f'<li class="bad">{e(spec.status)}: {e(spec.error)}</li>'
        blocks.append(
            f'<div class="plan-block" style="--plan:{e(spec.colour)}"><div class="name">{label}</div>'
            + (f'<p class="caption">{meta}</p>' if meta else "")
            + '<table class="data steps"><thead><tr><th>Step</th><th>Parameters (defaults filled in)</th>'
              '<th>What it does</th><th class="num">Time (s)</th></tr></thead>'
            + f"<tbody>{rows}</tbody></table>"
            + (f'<ul class="notes">{notes}</ul>' if notes else "") + "</div>")
    return "".join(blocks)


def command(run: RunReport) -> str:
    notes = "".join(f"<li>{e(n)}</li>" for n in run.command_notes)
    return f'<pre class="command"><code>{e(run.command)}</code></pre><ul class="notes">{notes}</ul>'


def explanations(run: RunReport, expanded: bool) -> str:
    opened = " open" if expanded else ""
    return "".join(f'<details class="why"{opened}><summary>Why is <code>{e(plan)}</code> slower than the baseline '
                   f"here?</summary><p>{e(text)}</p></details>" for plan, text in run.explanations)


def disclosure(card_: DisclosureCard) -> str:
    parts = [f'<section class="disclosure"><h3>{e(card_.title)}</h3>']
    for section in card_.sections:
        parts.append(f"<h4>{e(section.title)}</h4>")
        if section.fields:
            parts.append(fields(section.fields))
        if section.table is not None:
            parts.append(table(section.table, caption=False))
        if section.items:
            parts.append('<ul class="notes">' + "".join(f"<li>{e(i)}</li>" for i in section.items) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def run_section(run: RunReport, report: Report, n: int, draw: Figures, print_mode: bool) -> str:
    anchor = f"run{n}"
    figures, left_out = run_figures(run.record)
    toc = [("charts", "Charts"), ("table", "Size, speed and cost"), ("accuracy", "Accuracy"),
           ("samples", "Prompts"), ("cost", "Cost assumptions"), ("plans", "Plans and repeat"),
           ("disclosure", "Disclosure card")]
    nav = "".join(f'<a href="#{anchor}-{key}">{e(label)}</a>' for key, label in toc)
    parts = [f'<section class="run" id="{anchor}">',
             f"<h2>{e(run.model['name'])} <span class=\"meta\">· run {e(run.run_id)}</span></h2>",
             f'<nav class="toc">{nav}</nav>', callout(run), key_points(run), facts(run), savings_cards(run),
             f'<h3 id="{anchor}-charts">Charts</h3>',
             f'<div class="charts">{"".join(draw(f) for f in figures)}</div>']
    if left_out:
        parts.append('<p class="left-out">Not drawn: ' + "; ".join(e(reason) for reason in left_out) + ".</p>")
    parts += [f'<h3 id="{anchor}-table">Size, speed and cost</h3>', table(run.performance)]
    parts.append(f'<h3 id="{anchor}-accuracy">Accuracy against the baseline</h3>')
    parts.append(table(run.accuracy) if run.accuracy else
                 '<p class="caption">Not applicable: the model has random weights (shape-only), so only size, '
                 "speed and cost were measured.</p>")
    if run.slices:
        parts += ["<h3>Accuracy by slice</h3>", table(run.slices)]
    parts += [f'<h3 id="{anchor}-samples">Prompts each plan broke first</h3>', samples(run)]
    if run.explanations:
        parts += ["<h3>Why some plans are slower than the baseline here</h3>", explanations(run, print_mode)]
    parts += [f'<h3 id="{anchor}-cost">Cost assumptions</h3>', fields(run.cost_assumptions),
              "<h3>Evaluation data</h3>", fields(run.evaluation),
              f'<h3 id="{anchor}-plans">Plans, exactly as run</h3>', plans(run),
              "<h3>Repeat this run</h3>", command(run),
              "<h3>Hardware</h3>", fields(run.hardware)]
    if run.model_notes:
        parts.append('<ul class="notes">' + "".join(f"<li>Model note: {e(n)}</li>" for n in run.model_notes)
                     + "</ul>")
    parts.append(f'<div id="{anchor}-disclosure">{disclosure(card(run, report))}</div>')
    parts.append("</section>")
    return "".join(parts)


def cover(report: Report) -> str:
    """The print cover: what a PM reads in 30 seconds."""
    blocks = []
    for run in report.runs:
        cost = run.record["settings"]["cost"]
        prompts = run.record["settings"].get("prompts")
        basis = (f"accuracy on {prompts['evaluation']} prompts from '{prompts.get('name')}'" if prompts
                 else "accuracy on the evaluation texts" if run.accuracy else "accuracy not applicable")
        blocks.append(
            (f"<h3>{e(run.model['name'])} <span class=\"meta\">· run {e(run.run_id)}</span></h3>"
             if len(report.runs) > 1 else "")
            + callout(run) + (key_points(run) if len(report.runs) == 1 else "") + table(run.savings)
            + f'<p class="assumptions">Measured on {e(run.device["name"])}. Cost assumes {e(cost["hardware"])} at '
              f'${e(format(cost["price_per_hour"], "g"))}/h, {e(cost["prompt_tokens"])} prompt + '
              f'{e(cost["output_tokens"])} output tokens per query, batch {e(cost["batch_size"])}, '
              f'{e(format(cost["utilisation"], ".0%"))} utilisation; {e(basis)}.</p>')
    models = ", ".join(dict.fromkeys(run.model["name"] for run in report.runs))
    devices = ", ".join(dict.fromkeys(run.device["name"] for run in report.runs))
    return (f'<section class="cover"><div class="eyebrow">Compression Economics · report</div>'
            f"<h1>{e(models)}</h1>"
            f'<p class="meta">{e(len(report.runs))} run(s) on {e(devices)} · generated '
            f"{e(timestamp(report.generated))} by compecon {e(report.tool_version)}</p>"
            + "".join(blocks) + "</section>")


def render(report: Report, images: dict[str, bytes] | None = None, image_format: str = "svg") -> str:
    """The report as one HTML document; with `images` (figure key -> bytes) it is the print version."""
    print_mode = images is not None
    draw = Figures(images, image_format)
    parts = []
    if print_mode:
        parts.append(cover(report))
    parts.append(f'<header class="report-head{" screen-only" if print_mode else ""}">'
                 f'<div class="eyebrow">Compression Economics · report</div><h1>{e(report.title)}</h1>'
                 f'<p class="meta">Generated {e(timestamp(report.generated))} by compecon {e(report.tool_version)} · '
                 f'{e(len(report.runs))} run(s)</p></header>')
    if report.comparison is not None:
        figures = comparison_figures(report.records)
        parts += ['<section class="comparison"><h2>All runs side by side</h2>', table(report.comparison),
                  f'<div class="charts">{"".join(draw(f) for f in figures)}</div></section>']
    parts += [run_section(run, report, n, draw, print_mode) for n, run in enumerate(report.runs, start=1)]
    body = "".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(report.title)}</title><style>{CSS}</style></head>"
            f'<body><main>{body}<footer class="report-foot">Compression Economics {e(report.tool_version)} · '
            f"{e(timestamp(report.generated))}</footer></main></body></html>")


def figures_of(report: Report) -> list[ReportFigure]:
    """Every figure the report draws, in order (the PDF renders these to images first)."""
    out = comparison_figures(report.records) if report.comparison is not None else []
    for run in report.runs:
        out += run_figures(run.record)[0]
    return out
