"""Fuzzing the prompt-file readers (issue 16): whatever bytes arrive, as a file on disk (the CLI's way in)
or as an upload (the dashboard's), the reader either returns prompts that are safe to store, hash and
export, or raises its own PromptFileError naming the file, the line (or a file-level problem), the
problem and the fix. Nothing else may escape: no JSON, CSV, Unicode or recursion error.

Every property is checked against what the test itself can see in the input, never against the reader's
own helpers: a reported line exists in the file, a reported column holds the control character the
message names, and an accepted prompt is the stripped text of the row it came from.
"""

from __future__ import annotations

import csv
import io
import json
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.evaluation.prompts import Limits, PromptFileError, PromptSet, load_prompts, parse_prompts

# generated examples per test; their sum is the number of fuzzed inputs this module tries on every run
EXAMPLES = {
    "any_bytes": 1500,
    "jsonl_documents": 1200,
    "csv_documents": 900,
    "txt_documents": 600,
    "valid_sets": 800,  # each read three times: JSONL, CSV and TXT
    "odd_encodings": 800,
    "tight_limits": 500,
    "huge_documents": 40,
}
TOTAL_EXAMPLES = sum(EXAMPLES.values())  # 6,340

SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")  # what no accepted text may carry
RAW_MARK = re.compile(r"(?:NUL character|control character U\+([0-9A-F]{4})) at column (\d+)")
JSON_MARK = re.compile(r"raw control character U\+([0-9A-F]{4}) inside a string")


def fuzz(name: str):
    """Hypothesis settings for one test: its share of EXAMPLES, no deadline, nothing written to the checkout."""
    return settings(max_examples=EXAMPLES[name], deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


def read(tmp_path, data: bytes, suffix: str, limits: Limits = Limits(),
         upload: bool = False) -> PromptSet | PromptFileError:
    """The reader's answer to these bytes, checked: the prompts, or a well-formed rejection. Any other
    exception fails the test as it is."""
    name = f"fuzz{suffix}"
    try:
        if upload:
            prompts = parse_prompts(data, name, limits)
        else:
            path = tmp_path / name
            path.write_bytes(data)
            prompts = load_prompts(path, limits)
    except PromptFileError as error:
        check_rejection(error, data, name)
        kind = "file-level" if error.line is None else re.sub(r"[\d,]+|'[^']*'", "#", error.problem)[:40]
        event(f"refused, {kind}")
        return error
    check_accepted(prompts, limits)
    event("accepted")
    return prompts


def _text_lines(data: bytes) -> list[str] | None:
    """The file's lines as the user's editor shows them, when it is UTF-8 (a BOM dropped)."""
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None


def check_rejection(error: PromptFileError, data: bytes, name: str) -> None:
    message = str(error)
    assert error.filename == name and message.startswith(name), message
    assert error.problem.strip() and error.fix.strip(), message
    assert not UNSAFE.search(message), f"the message itself carries raw control text: {message!r}"
    if error.line is None:  # a file-level problem: size, type, encoding, nothing to read
        assert message == f"{name}: {error.problem}; {error.fix}"
        return
    assert message.startswith(f"{name}, line {error.line}: "), message
    # CSV counts a lone carriage return as a line break, as editors do; JSONL and text count line feeds only
    assert 1 <= error.line <= len(re.split(rb"\r\n|\r|\n", data)), f"line {error.line} is not in the file: {message}"
    lines = _text_lines(data)
    raw = RAW_MARK.search(error.problem)
    if raw and lines is not None:  # the column holds the character named
        char = lines[error.line - 1][int(raw.group(2)) - 1]
        assert char == ("\0" if raw.group(1) is None else chr(int(raw.group(1), 16))), message
        if char == "\0":
            assert "binary or UTF-16" in error.problem and "UTF-8" in error.fix
    escaped = JSON_MARK.search(error.problem)
    if escaped and lines is not None:
        column = int(re.search(r"at column (\d+)", error.problem).group(1))
        assert lines[error.line - 1][column - 1] == chr(int(escaped.group(1), 16)), message


def check_accepted(prompts: PromptSet, limits: Limits) -> None:
    assert 1 <= len(prompts) <= limits.max_rows
    for position, item in enumerate(prompts.items):
        assert item.index == position
        assert item.prompt and item.prompt == item.prompt.strip() and len(item.prompt) <= limits.max_prompt_chars
        texts = [item.prompt, item.reference or "", item.category or "", *(item.choices or ())]
        assert not any(UNSAFE.search(t) for t in texts), item
        if item.choices is not None:
            assert len(item.choices) >= 2 and len(set(item.choices)) == len(item.choices)
    stored = json.loads(json.dumps(prompts.to_dict()))  # what the store and the reports write
    assert PromptSet.from_dict(stored) == prompts and re.fullmatch("[0-9a-f]{64}", prompts.sha256)


# ---------------------------------------------------------------- strategies

# mostly text a user could mean (any script, no controls), some with any character at all, and the awkward few
plain_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
any_text = st.text(st.characters(codec="utf-8"), max_size=40)
awkward = st.sampled_from(["", " ", "prompt", '"', '""', ",", "a|b|a", '["x", "y"]', "[1, 2]", "[[[", "\r", "\t", "0",
                           "99", "0" * 5000, "\\u0000", "\x00", "\x07", "\x1b[31m", "\ud800", "x\udfff", "<b>x</b>"])
cells = plain_text | plain_text | plain_text | any_text | awkward
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | cells,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(cells, inner, max_size=3), max_leaves=8)
keys = st.sampled_from(["prompt", "reference", "choices", "category"]) | cells
choice_lists = st.lists(cells, min_size=0, max_size=4)
rows = st.fixed_dictionaries({"prompt": cells}, optional={
    "reference": cells | json_values, "category": cells | json_values, "choices": choice_lists | json_values,
}) | st.dictionaries(keys, json_values, max_size=5)


@st.composite
def jsonl_line(draw) -> bytes:
    kind = draw(st.sampled_from(["row", "row", "row", "choices", "value", "cut", "text", "deep", "blank"]))
    if kind == "row":
        obj = draw(rows)
    elif kind == "choices":
        choices = draw(choice_lists)
        obj = {"prompt": draw(cells), "choices": choices,
               "reference": draw(st.sampled_from([None, *choices]) | st.integers(-2, 6) | cells)}
    elif kind == "value":
        obj = draw(json_values)
    elif kind == "text":
        return draw(cells).encode("utf-8", "surrogatepass")
    elif kind == "deep":
        depth = draw(st.integers(1, 3000))
        return ("[" * depth + "]" * depth).encode()
    else:
        return b"   "
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))  # ascii: controls and surrogates as \u escapes
    if kind == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", "surrogatepass")  # an unpaired surrogate becomes bytes UTF-8 refuses


@st.composite
def jsonl_document(draw) -> bytes:
    lines = draw(st.lists(jsonl_line(), max_size=8))
    return draw(st.sampled_from([b"\n", b"\r\n"])).join(lines) + draw(st.sampled_from([b"", b"\n"]))


@st.composite
def csv_document(draw) -> bytes:
    names = st.sampled_from(["prompt", "Prompt", " reference", "choices", "category", "answer"])
    header = draw(st.lists(names | names | cells, min_size=1, max_size=4))
    if draw(st.integers(0, 3)):
        header[draw(st.integers(0, len(header) - 1))] = "prompt"
    body = draw(st.lists(st.lists(cells, min_size=len(header) - 1, max_size=len(header) + 1), max_size=6))
    if draw(st.booleans()):  # well-formed CSV, quoting as a spreadsheet would
        out = io.StringIO()
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *body])
        text = out.getvalue()
    else:  # hand-joined: unbalanced quotes, ragged rows
        text = "\n".join(",".join(row) for row in [header, *body])
    return text.encode("utf-8", "surrogatepass")


@st.composite
def txt_document(draw) -> bytes:
    lines = draw(st.lists(cells, max_size=10))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return ending.join(lines).encode("utf-8", "surrogatepass")


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "shift_jis",
             "gb18030", "koi8-r", "mac_roman", "utf-7")


# a prompt set a user could well write: any script, no control characters, already stripped and unambiguous
words = plain_text.filter(lambda t: t and t == t.strip())


@st.composite
def valid_row(draw) -> dict:
    row = {"prompt": draw(words)}
    if draw(st.booleans()):
        row["category"] = draw(words)
    if draw(st.booleans()):
        row["choices"] = draw(st.lists(words, min_size=2, max_size=4, unique=True))
        row["reference"] = draw(st.sampled_from(row["choices"]))
    elif draw(st.booleans()):
        row["reference"] = draw(words)
    return row


def as_jsonl(rows: list[dict], ascii_only: bool = False) -> bytes:
    return "\n".join(json.dumps(row, ensure_ascii=ascii_only) for row in rows).encode("utf-8")


def as_csv(rows: list[dict], ending: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=ending)
    writer.writerow(["prompt", "reference", "choices", "category"])
    writer.writerows([[row["prompt"], row.get("reference", ""), json.dumps(row["choices"]) if "choices" in row else "",
                       row.get("category", "")] for row in rows])
    return out.getvalue().encode("utf-8")


def as_txt(rows: list[dict], ending: str = "\n") -> bytes:
    return ending.join(row["prompt"] for row in rows).encode("utf-8")


@st.composite
def any_document(draw) -> tuple[bytes, str]:
    """A hostile document of any format, or (one time in three) a valid one."""
    suffix = draw(st.sampled_from(SUFFIXES))
    if draw(st.integers(0, 2)) == 0:
        valid = draw(st.lists(valid_row(), min_size=1, max_size=6))
        return {".csv": as_csv, ".txt": as_txt}.get(suffix, as_jsonl)(valid), suffix
    body = {".jsonl": jsonl_document, ".json": jsonl_document, ".csv": csv_document, ".txt": txt_document}[suffix]
    return draw(body()), suffix


# ---------------------------------------------------------------- properties


@fuzz("any_bytes")
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES), upload=st.booleans())
def test_any_bytes_are_read_or_refused_with_the_line(tmp_path, data, suffix, upload):
    read(tmp_path, data, suffix, upload=upload)


@fuzz("jsonl_documents")
@given(data=jsonl_document(), suffix=st.sampled_from([".jsonl", ".json"]))
def test_jsonl_of_any_shape(tmp_path, data, suffix):
    prompts = read(tmp_path, data, suffix)
    if isinstance(prompts, PromptSet):  # each accepted prompt is the stripped text of a JSON object's "prompt"
        found = [json.loads(raw)["prompt"].strip() for raw in data.decode("utf-8").split("\n") if raw.strip()]
        assert [item.prompt for item in prompts.items] == found


@fuzz("csv_documents")
@given(data=csv_document(), bom=st.booleans())
def test_csv_of_any_shape(tmp_path, data, bom):
    read(tmp_path, b"\xef\xbb\xbf" + data if bom else data, ".csv")


@fuzz("txt_documents")
@given(data=txt_document())
def test_txt_of_any_text(tmp_path, data):
    prompts = read(tmp_path, data, ".txt")
    if isinstance(prompts, PromptSet):  # one prompt per non-blank line, in order
        expected = [line.strip() for line in data.decode("utf-8").split("\n") if line.strip()]
        assert [item.prompt for item in prompts.items] == expected


@fuzz("valid_sets")
@given(rows=st.lists(valid_row(), min_size=1, max_size=8), ascii_only=st.booleans(),
       ending=st.sampled_from(["\n", "\r\n"]))
def test_valid_sets_read_back_as_written_in_every_format(tmp_path, rows, ascii_only, ending):
    """Any text a user could mean is read back as written, and the same rows hash the same in JSONL and CSV."""
    jsonl, table = read(tmp_path, as_jsonl(rows, ascii_only), ".jsonl"), read(tmp_path, as_csv(rows, ending), ".csv")
    txt = read(tmp_path, as_txt(rows, ending), ".txt")
    assert isinstance(jsonl, PromptSet), jsonl
    assert isinstance(table, PromptSet), table
    assert isinstance(txt, PromptSet), txt
    for item, row in zip(jsonl.items, rows, strict=True):
        assert (item.prompt, item.reference, item.choices) == (row["prompt"], row.get("reference"),
                                                               tuple(row["choices"]) if "choices" in row else None)
        assert item.category == (row["category"].lower().strip() or None if "category" in row else None)
    assert table.items == jsonl.items and table.sha256 == jsonl.sha256
    assert [item.prompt for item in txt.items] == [row["prompt"] for row in rows]


@fuzz("odd_encodings")
@given(document=any_document(), encoding=st.sampled_from(ENCODINGS), upload=st.booleans())
def test_documents_in_odd_encodings(tmp_path, document, encoding, upload):
    data, suffix = document
    text = data.decode("utf-8", "surrogateescape")
    read(tmp_path, text.encode(encoding, "replace") if encoding != "utf-8" else data, suffix, upload=upload)


@fuzz("tight_limits")
@given(document=any_document(), max_bytes=st.integers(1, 4000), max_rows=st.integers(1, 4),
       max_prompt_chars=st.integers(1, 30))
def test_limits_hold_for_any_document(tmp_path, document, max_bytes, max_rows, max_prompt_chars):
    data, suffix = document
    limits = Limits(max_bytes=max_bytes, max_rows=max_rows, max_prompt_chars=max_prompt_chars)
    answer = read(tmp_path, data, suffix, limits)
    if len(data) > max_bytes:  # refused for its size before anything is read
        assert isinstance(answer, PromptFileError) and answer.line is None
        assert f"over the {max_bytes:,}-byte limit" in answer.problem


@fuzz("huge_documents")
@given(document=any_document(), copies=st.integers(100, 20_000))
def test_huge_documents(tmp_path, document, copies):
    data, suffix = document
    body = data if data.endswith(b"\n") else data + b"\n"
    copies = min(copies, 3_000_000 // len(body))  # up to 3 MB, over the 2 MB limit set here
    read(tmp_path, body * copies, suffix, Limits(max_bytes=2_000_000, max_rows=5_000))
