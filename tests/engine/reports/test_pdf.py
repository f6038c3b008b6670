"""The PDF: printed by headless Chromium from the print HTML (vector charts by kaleido), with a
cover summary and every section; pages convert to PNG with pdftoppm (copies in test-artifacts)."""

import shutil
import subprocess

import pytest

from engine.reports.pdf import to_pdf

SECTIONS = ("Recommendation", "All runs side by side", "Charts", "Size, speed and cost",
            "Accuracy against the baseline", "Accuracy by slice", "Prompts each plan broke first",
            "Cost assumptions", "Evaluation data", "Plans, exactly as run", "Repeat this run",
            "Compression disclosure card", "Known limits")


@pytest.fixture(scope="module")
def pdf_file(two_run_report, tmp_path_factory, artifacts):
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    path.write_bytes(to_pdf(two_run_report))
    shutil.copy(path, artifacts / "report.pdf")
    return path


def test_pages_convert_to_png(pdf_file, artifacts):
    assert shutil.which("pdftoppm"), "pdftoppm (poppler-utils) is needed: apt-get install poppler-utils"
    out = pdf_file.parent / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf_file), str(out)], check=True, timeout=120)
    pages = sorted(pdf_file.parent.glob("page-*.png"))
    assert len(pages) >= 6
    for page in pages:
        assert page.stat().st_size > 2000
        shutil.copy(page, artifacts / f"pdf-{page.name}")


def test_cover_then_every_section(pdf_file, two_run_report):
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(pdf_file), "-"], check=True, capture_output=True,
                              text=True, timeout=120).stdout
    else:  # fall back on the HTML the PDF was printed from
        from engine.reports.pdf import print_html

        text = print_html(two_run_report)
    pages = text.split("\f")
    cover = pages[0]
    run = two_run_report.runs[0]
    assert "smollm2-135m" in cover and "RECOMMENDATION" in cover.upper()
    assert run.headline.plan in cover and "Size" in cover and "Cost per 1,000" in cover
    for section in SECTIONS:
        assert section.lower() in text.lower(), section


def test_pdf_carries_no_script_or_link(pdf_file):
    data = pdf_file.read_bytes()
    assert data.startswith(b"%PDF")
    for marker in (b"/JavaScript", b"/JS ", b"/Launch", b"/URI"):
        assert marker not in data
