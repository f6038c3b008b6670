"""Reports people forward: HTML, PDF, Markdown, CSV/JSON and a compression disclosure card, all
rendered from one report model (engine.reports.content) built from stored runs."""

from __future__ import annotations

from pathlib import Path

from engine.reports import disclosure, html, markdown, pdf, tabular
from engine.reports.content import Report, ReportError, build_report

# format -> (file extension, what it is)
FORMATS = {
    "html": ("html", "one self-contained HTML file with interactive charts (works offline)"),
    "pdf": ("pdf", "the same content paginated for print, with a one-page cover summary"),
    "md": ("md", "the full report as Markdown, ending with the compression disclosure card"),
    "disclosure": ("md", "the compression disclosure card alone (Markdown)"),
    "csv": ("csv", "one row per plan of every run"),
    "json": ("json", "the full run records"),
    "prompts-csv": ("csv", "one row per prompt and plan: baseline and plan outputs side by side"),
    "prompts-jsonl": ("jsonl", "the run's stored prompt set, ready for `compecon run --prompts`"),
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ReportError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    return fmt


# format -> the function that renders a report in it (text, or bytes for the PDF)
RENDERERS = {
    "html": html.render, "pdf": pdf.to_pdf, "md": markdown.to_markdown, "disclosure": disclosure.cards_markdown,
    "csv": tabular.plans_csv,
    "json": tabular.report_json, "prompts-csv": tabular.prompts_csv, "prompts-jsonl": tabular.prompt_set_jsonl,
}


def render(report: Report, fmt: str) -> bytes:
    """The report in one format, as bytes ready to write."""
    out = RENDERERS[check_format(fmt)](report)
    return out if isinstance(out, bytes) else out.encode("utf-8")


def default_path(run_ids: list[str], fmt: str) -> Path:
    suffix = "-prompts" if fmt.startswith("prompts") else "-disclosure" if fmt == "disclosure" else ""
    return Path(f"compecon-report-{'-'.join(run_ids)}{suffix}.{FORMATS[fmt][0]}")


def write_report(store, run_ids: list[str], fmt: str, path: Path | None = None, samples: int = 3) -> Path:
    """Build the report of `run_ids` and write it in `fmt`; returns the path written."""
    check_format(fmt)
    report = build_report(store, run_ids, samples)
    data = render(report, fmt)
    path = Path(path) if path else default_path([r.run_id for r in report.runs], fmt)
    path.write_bytes(data)
    return path


__all__ = ["FORMATS", "Report", "ReportError", "build_report", "check_format", "default_path", "render",
           "write_report"]
