"""Hostile text (issue 16): user strings in charts, the dashboard and the reports show as the text they are,
never as markup; NUL and other control characters in a prompt file are refused with the file, the line
and (for raw ones) the column; a JSON error keeps its column.

A chart is checked the way Plotly shows it: Plotly parses tags such as <a href> and <b> in every label and
then decodes &lt; &gt; &amp;, so a label is safe when it has no user tag left and decodes back to the
user's text exactly (escaped once, not twice).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from engine.charts.catalogue import run_charts
from engine.charts.results import compare_runs
from engine.evaluation.prompts import PromptFileError, parse_prompts
from engine.reports.figures import comparison_figures, run_figures
from engine.reports.html import Figures

LINK = '<a href="https://evil.example/">link</a>'
CATEGORY = f"{LINK} & <b>bold</b>"  # a prompt file's category, as in the issue
PLAN = "int8:<b>bold plan</b>"  # a stored record may carry any plan string
CALIBRATED = "<i>sq</i>"  # a step name, as the calibration chart spells a plan
MODEL = "<i>italic model</i> &amp; co"  # an entity typed by the user must show as typed
BACKEND = "<b>torch</b>"
USER_TAG = re.compile(r"<a\b|<b>bold|<i>(?:sq|italic)|<b>torch", re.IGNORECASE)
FILE_NAME = "[click](https:evil.example) <img src=x onerror=alert(1)> *y*.jsonl"  # a browser sends no slash


def shown(label: str) -> str:
    """What Plotly displays for a label: its tags dropped, then &lt; &gt; &amp; and numeric entities decoded
    in one pass (plotly.js convertEntities)."""
    text = re.sub(r"<[^<>]*>", "", label)
    names = {"lt": "<", "gt": ">", "amp": "&"}
    return re.sub(r"&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp);",
                  lambda m: names.get(m.group(1)) or chr(int(m.group(1)[2:], 16) if m.group(1)[1] == "x"
                                                         else int(m.group(1)[1:])), text)


def strings(node) -> list[str]:
    """Every string anywhere in a figure's JSON."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list | tuple):
        return [s for value in node for s in strings(value)]
    return []


def plan(name: str, usd: float, acc: float, steps: list | None = None, **extra) -> dict:
    rows = [{"batch_size": b, "tokens_per_s": 10.0 * b, "ttft_ms": 5.0, "tpot_ms": 10.0 + b,
             "usd_per_1k_queries": usd / b, "decode_path": BACKEND} for b in (1, 4)]
    return {"plan": name, "status": "ok", "backend": BACKEND, "kernel_path": BACKEND, "runtime": {"name": BACKEND},
            "steps": steps or [{"name": name, "params": {}}],
            "size": {"weight_bytes": 2e8, "compression_ratio": 2.0, "bits_per_weight": 8.0},
            "latency": {"ttft_ms": 5.0, "tpot_ms": 11.0, "batch_size": 1, "decode_path": BACKEND, "by_batch": rows,
                        "best_batch": {**rows[1], "max_tpot_ms": 50.0}},
            "cost": {"usd_per_1k_queries": usd},
            "accuracy": {"applicable": True, "task_accuracy": acc, "accuracy_delta_pts": (acc - 0.8) * 100,
                         "kl_divergence": 0.01, "top1_agreement": 0.9},
            "slices": {"numbers": {"prompts": 2, "task_accuracy": acc, "accuracy_delta_pts": 0.0},
                       CATEGORY: {"prompts": 3, "task_accuracy": acc, "accuracy_delta_pts": -5.0}},
            "verdict": {"within": True, "metric": "task_accuracy"}, **extra}


def _calibrated(source: str) -> list:
    return [{"name": CALIBRATED, "params": {"calib": source}}]


RECORD = {
    "run_id": "run-1", "model": {"name": MODEL}, "device": {"type": "cpu", "name": "cpu"}, "status": "done",
    "settings": {"verdict": {"metric": "task_accuracy"}},
    "plans": [
        plan("fp32", 2.0, 0.8),
        plan(PLAN, 1.0, 0.75, economics={"training_usd": 0.2, "break_even_queries": 100.0},
             extras={"sensitivity": [{"block": 0, "kl": 0.1}, {"block": 1, "kl": 0.3}], "kept_blocks": [1]}),
        plan(f"{CALIBRATED}:calib=texts", 1.2, 0.7, _calibrated("texts")),
        plan(f"{CALIBRATED}:calib=prompts", 1.1, 0.72, _calibrated("prompts")),
    ],
}


def _figures() -> dict[str, object]:
    figures = {chart.key: chart.fig for chart in run_charts(RECORD) if chart.fig is not None}
    figures["compare"] = compare_runs([RECORD, {**RECORD, "run_id": "run-2"}], "usd_per_1k_queries")
    return figures


def test_no_chart_lets_user_text_become_markup():
    figures = _figures()
    assert {"slices", "size", "latency", "accuracy", "scatter", "throughput", "cost-by-batch", "break-even",
            "calibration", "sensitivity-1", "compare"} <= set(figures)
    for key, fig in figures.items():
        labels = strings(fig.to_plotly_json())
        assert not [s for s in labels if USER_TAG.search(s)], key


def test_the_slice_chart_shows_a_category_as_written():
    heatmap = _figures()["slices"].data[0]
    assert [shown(y) for y in heatmap.y] == ["numbers (2)", f"{CATEGORY} (3)"]
    assert [shown(x) for x in heatmap.x] == [PLAN, f"{CALIBRATED}:calib=texts", f"{CALIBRATED}:calib=prompts"]


def test_plan_model_and_backend_names_show_as_written_on_every_chart():
    figures = _figures()
    bars = figures["size"].data[0]
    assert shown(bars.x[1]) == PLAN
    assert shown(bars.hovertext[1]).startswith(f"{PLAN} ({BACKEND}, in {BACKEND})")
    assert [shown(t.name) for t in figures["throughput"].data if t.showlegend is not False] == [
        "fp32", PLAN, f"{CALIBRATED}:calib=texts", f"{CALIBRATED}:calib=prompts"]
    assert shown(figures["scatter"].data[2].text[0]) == PLAN
    assert shown(figures["sensitivity-1"].layout.title.text).startswith(f"Layer sensitivity measured by {PLAN} ")
    assert [shown(x) for x in figures["calibration"].data[0].x] == [CALIBRATED]
    assert shown(figures["compare"].data[0].name) == f"run-1 · {MODEL}"
    # a name in a hover template is taken from the (escaped) trace name, never pasted into the template
    assert all("%{fullData.name}" in t.hovertemplate for t in figures["cost-by-batch"].data)


def test_report_figures_and_their_image_alt_text_escape_once():
    figures, _ = run_figures(RECORD)
    figures += comparison_figures([RECORD, {**RECORD, "run_id": "run-2"}])
    for figure in figures:
        assert not [s for s in strings(figure.fig.to_plotly_json()) if USER_TAG.search(s)], figure.key
    size = next(f for f in figures if f.key.endswith("-size"))
    assert shown(size.fig.layout.xaxis.ticktext[1].replace("<br>", "")) == PLAN  # wrapped ticks of the print copy
    sensitivity = next(f for f in figures if f.key.endswith("-sensitivity-1"))
    body = Figures(images={sensitivity.key: b"<svg/>"})(sensitivity)
    title = f"Layer sensitivity measured by {PLAN} (red: kept at 8 bits)"
    assert f'alt="{html.escape(title)}"' in body  # escaped for the attribute once, not twice


def _markdown_shows(source: str) -> tuple[str, str]:
    """(the HTML a CommonMark renderer, as Streamlit's, makes of the text, the text a reader sees)."""
    rendered = MarkdownIt("commonmark").render(source)
    return rendered, html.unescape(re.sub(r"<[^<>]*>", "", rendered))


def _upload_page():
    from dashboard.components import prompt_form

    prompt_form.prompt_picker(True).show()


def test_the_uploaded_file_name_shows_as_written_in_the_error(compecon_home):
    at = AppTest.from_function(_upload_page, default_timeout=60).run()
    at.radio(key="prompt_source").set_value("Upload your own").run()
    at.file_uploader(key="prompt_upload").upload(FILE_NAME, b'{"prompt": "a\\u0000b"}\n', "application/jsonl").run()
    (error,) = [e.value for e in at.error]
    rendered, seen = _markdown_shows(error)
    assert "<a " not in rendered and "<em>" not in rendered and "<img" not in rendered
    assert f"{FILE_NAME}, line 1: 'prompt' contains a NUL character" in seen


def test_categories_in_the_upload_preview_show_as_written(compecon_home):
    category = "[x](https://evil.example) *b*"
    rows = "".join(json.dumps({"prompt": f"q{n}", "category": category}) + "\n" for n in range(13))
    at = AppTest.from_function(_upload_page, default_timeout=60).run()
    at.radio(key="prompt_source").set_value("Upload your own").run()
    at.file_uploader(key="prompt_upload").upload("mine.jsonl", rows.encode(), "application/jsonl").run()
    (caption,) = [c.value for c in at.caption if c.value.startswith("First 12")]
    rendered, seen = _markdown_shows(caption)
    assert "<a " not in rendered and "<em>" not in rendered
    assert f"Categories: {category}." in seen


def _headline_page(record):
    from dashboard.components import results_view

    results_view.headline(record)


def test_the_prompt_file_and_model_names_show_as_written_on_the_results_page(compecon_home):
    record = {"status": "done", "plans": [], "model": {"name": "[m](https://evil.example) _x_"},
              "device": {"name": "cpu"}, "settings": {"prompts": {"name": FILE_NAME, "evaluation": 3}}}
    at = AppTest.from_function(_headline_page, args=(record,), default_timeout=60).run()
    (caption,) = [c.value for c in at.caption]
    rendered, seen = _markdown_shows(caption)
    assert "<a " not in rendered and "<em>" not in rendered and "<img" not in rendered
    assert seen.strip() == f"[m](https://evil.example) _x_ on cpu · 3 prompts evaluated from '{FILE_NAME}'"


def test_ids_from_a_link_show_as_written_in_errors(compecon_home):
    """A shared link's ?run= or ?job= is user text too: a page that cannot find it says so without markup."""
    from tests.dashboard.conftest import APP

    hostile = "[x](https://evil.example)"
    for page, query in (("results", {"run": hostile}), ("run", {"job": hostile})):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params.update(query)
        at.run()
        at.switch_page(f"app_pages/{page}.py").run()
        errors = [e.value for e in at.error]
        assert errors, page
        for error in errors:
            rendered, seen = _markdown_shows(error)
            assert "<a " not in rendered and hostile in seen, (page, error)


# ---------------------------------------------------------------- NUL and control characters in prompt files


def _refusal(data: bytes, filename: str) -> PromptFileError:
    with pytest.raises(PromptFileError) as info:
        parse_prompts(data, filename)
    return info.value


@pytest.mark.parametrize(("field", "row"), [
    ("prompt", {"prompt": "a\u0000b"}),
    ("reference", {"prompt": "a", "reference": "\u0000"}),
    ("category", {"prompt": "a", "category": "x\u0000"}),
    ("choices", {"prompt": "a", "choices": ["x", "y\u0000"]}),
])
def test_an_escaped_nul_in_any_field_is_refused_with_its_line(field, row):
    data = (json.dumps({"prompt": "fine"}) + "\n" + json.dumps(row) + "\n").encode()
    assert b"\\u0000" in data  # escaped in the JSON text, as a user's export writes it
    error = _refusal(data, "p.jsonl")
    assert error.line == 2 and str(error).startswith(f"p.jsonl, line 2: '{field}' contains a NUL character")


@pytest.mark.parametrize(("filename", "data", "line", "column"), [
    ("p.txt", b"first\nsec\x00ond\n", 2, 4),
    ("p.csv", b"prompt,category\nq,ok\nq2,b\x00d\n", 3, 5),
    ("p.jsonl", b'{"prompt": "a"}\n{"prompt": "b\x00"}\n', 2, 14),
])
def test_a_raw_nul_reads_as_a_binary_or_utf16_file(filename, data, line, column):
    error = _refusal(data, filename)
    assert error.line == line
    assert f"a NUL character at column {column}: this looks like a binary or UTF-16 file" in error.problem
    assert "save it as UTF-8" in error.fix


def test_utf16_files_are_named_as_such():
    text = "prompt,category\nWhat is 2 + 2?,maths\n"
    no_bom = _refusal(text.encode("utf-16-le"), "p.csv")
    assert no_bom.line == 1 and "column 2: this looks like a binary or UTF-16 file" in no_bom.problem
    with_bom = _refusal(text.encode("utf-16"), "p.csv")
    assert with_bom.line is None and "UTF-16" in with_bom.problem and "UTF-8" in with_bom.fix


@pytest.mark.parametrize(("data", "line", "problem"), [
    (b"ok\nbell \x07 here\n", 2, "the control character U+0007 at column 6"),
    (b"ok\n\x1b[31mred\n", 2, "the control character U+001B at column 1"),
    (b"page one\x0cpage two\n", 1, "the control character U+000C at column 9"),
])
def test_other_raw_control_characters_are_refused_with_line_and_column(data, line, problem):
    error = _refusal(data, "p.txt")
    assert error.line == line and error.problem == problem
    assert "tab, line feed and carriage return are the only control characters" in error.fix


def test_escaped_control_characters_are_refused_but_tab_and_line_breaks_are_kept():
    error = _refusal(b'{"prompt": "ring \\u0007"}\n', "p.jsonl")
    assert error.line == 1 and "'prompt' contains the control character U+0007" in error.problem
    kept = parse_prompts(b'{"prompt": "a\\tb\\nc\\r\\nd"}\n', "p.jsonl")
    assert kept.items[0].prompt == "a\tb\nc\r\nd"
    assert parse_prompts(b"col\tumn\r\n", "p.txt").items[0].prompt == "col\tumn"


def test_a_json_error_keeps_line_and_column():
    line = '{"prompt": "tab\there"}'
    error = _refusal(b'{"prompt": "ok"}\n' + line.encode() + b"\n", "p.jsonl")
    column = line.index("\t") + 1  # 1-based, as an editor counts
    assert error.line == 2
    assert error.problem.startswith(f"bad JSON at column {column} (raw control character U+0009 inside a string")
    assert "\\t" in error.problem
    other = _refusal(b'{"prompt": "a",, }\n', "p.jsonl")
    assert other.line == 1
    assert other.problem == "bad JSON at column 16 (Expecting property name enclosed in double quotes)"


def test_unpaired_surrogates_are_refused_and_pairs_kept():
    error = _refusal(b'{"prompt": "x\\ud800"}\n', "p.jsonl")
    assert error.line == 1 and "unpaired surrogate" in error.problem
    assert parse_prompts(b'{"prompt": "smile \\ud83d\\ude00"}\n', "p.jsonl").items[0].prompt == "smile \U0001F600"


@pytest.mark.parametrize(("data", "problem"), [
    (b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "nested more deeply than the reader allows"),
    (b'{"prompt": "a", "reference": ' + b"7" * 5000 + b"}\n", "a number too long to read"),
])
def test_the_json_parsers_own_limits_are_refused_plainly(data, problem):
    error = _refusal(data, "p.jsonl")
    assert error.line == 1 and problem in error.problem


def test_a_reference_index_of_thousands_of_digits_is_out_of_range():
    row = {"prompt": "a", "choices": ["x", "y"], "reference": "9" * 5000}
    error = _refusal(json.dumps(row).encode(), "p.jsonl")
    assert error.line == 1 and "out of range for 2 choices" in error.problem and len(str(error)) < 300
    assert parse_prompts(json.dumps({**row, "reference": "0001"}).encode(), "p.jsonl").items[0].reference == "y"
