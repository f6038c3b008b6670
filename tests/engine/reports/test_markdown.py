"""The Markdown report and the disclosure card: complete, and inert when rendered."""

from markdown_it import MarkdownIt

from engine import __version__
from engine.reports.disclosure import cards_markdown
from engine.reports.markdown import to_markdown

from .conftest import FORMULA


def test_markdown_has_every_section_and_the_card(two_run_report):
    text = to_markdown(two_run_report)
    for heading in ("## All runs side by side", "### Savings against the baseline", "### Size, speed and cost",
                    "### Accuracy against the baseline", "### Accuracy by slice", "### Prompts each plan broke first",
                    "### Cost assumptions", "### Evaluation data", "### Plans, exactly as run", "### Repeat this run",
                    "# Compression disclosure cards", "### Known limits"):
        assert heading in text, heading
    assert text.index("**Recommendation:**") < text.index("### Size, speed and cost")


def test_user_text_is_inert(two_run_report):
    text = to_markdown(two_run_report)
    assert "<script>" not in text and "<test>" not in text
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in rendered and "&lt;script&gt;alert(1)" in rendered
    assert FORMULA in rendered  # shown as text in a table cell


def test_disclosure_card_discloses(report, embedded_run, prompt_set):
    card = cards_markdown(report)
    for fact in ("smollm2-135m", "int8 (backend=auto)", prompt_set.sha256, f"compecon {__version__}",
                 "Calibration data", "Known limits", "GGUF", "Accuracy change on each slice",
                 embedded_run["device"]["name"]):
        assert fact.replace("_", "\\_") in card or fact in card, fact
    size = {r.plan: r for r in report.runs[0].savings.rows}["int8"].cells["size"].text
    assert size.split(" ")[0] in card
