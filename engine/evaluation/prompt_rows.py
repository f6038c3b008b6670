"""Rows out of a prompt file, format by format (JSONL, CSV, plain text), each with the line the
user's editor shows; every problem is a PromptFileError naming the file, the line and the fix."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from functools import partial
from typing import Any

ALLOWED_KEYS = ("prompt", "reference", "choices", "category")
_BOM = b"\xef\xbb\xbf"


class PromptFileError(ValueError):
    """A prompt file the user must fix; the message says where, what is wrong and what to do."""

    def __init__(self, filename: str, line: int | None, problem: str, fix: str):
        where = f"{filename}, line {line}" if line else filename
        super().__init__(f"{where}: {problem}; {fix}")
        self.filename, self.line, self.problem, self.fix = filename, line, problem, fix

    def __reduce__(self):  # keep it picklable despite the custom signature (worker processes)
        return type(self), (self.filename, self.line, self.problem, self.fix)


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text, BOM accepted (spreadsheet exports add one); a failure names the line."""
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = skip + e.start
        raise PromptFileError(label, data.count(b"\n", 0, offset) + 1, f"not valid UTF-8 (byte offset {offset})",
                              "re-save the file as UTF-8") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; split on \\n only, so numbers match the user's editor."""
    return ((n, raw) for n, raw in enumerate(text.split("\n"), 1) if raw.strip())


def jsonl_rows(text: str, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in _lines(text):
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise PromptFileError(label, line, f"bad JSON ({e.msg})", "each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise PromptFileError(label, line, f"expected a JSON object, got {value_kind(obj)}",
                                  'each line must be one JSON object like {"prompt": "..."}')
        yield line, obj


def csv_rows(text: str, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as dicts of non-empty cells; line numbers are physical lines (quoted cells may span several)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _csv_header(row, partial(PromptFileError, label, start))
                continue
            if len(row) != len(header):
                raise PromptFileError(label, start, f"{len(row)} fields but the header has {len(header)}",
                                      "quote cells that contain commas and give every row the header's columns")
            fields: dict[str, Any] = {k: v for k, v in zip(header, row, strict=True) if v.strip()}
            if "choices" in fields:
                fields["choices"] = _cell_choices(fields["choices"], partial(PromptFileError, label, start))
            yield start, fields
    except csv.Error as e:
        raise PromptFileError(label, end + 1, f"unreadable CSV ({e})",
                              'check the quotes: a quoted cell must end with a closing "') from None


def _csv_header(row: list[str], fail) -> list[str]:
    names = [c.strip().lower() for c in row]
    if "prompt" not in names:
        raise fail(f"no 'prompt' column (columns found: {', '.join(names)})",
                   f"the first row must be a header naming the columns, from: {', '.join(ALLOWED_KEYS)}")
    for n in names:
        if n not in ALLOWED_KEYS:
            raise fail(f"unknown column '{n}'", f"allowed columns are {', '.join(ALLOWED_KEYS)}")
        if names.count(n) > 1:
            raise fail(f"column '{n}' appears twice", "keep one")
    return names


def _cell_choices(cell: str, fail) -> Any:
    """A CSV choices cell: a JSON list (["a","b"]) or a|b|c."""
    cell = cell.strip()
    if not cell.startswith("["):
        return cell.split("|")
    try:
        return json.loads(cell)
    except json.JSONDecodeError as e:
        raise fail(f"'choices' is not a valid JSON list ({e.msg})", 'write ["a", "b"] or a|b') from None


def txt_rows(text: str, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((line, {"prompt": raw}) for line, raw in _lines(text))


def value_kind(value: Any) -> str:
    """A JSON-flavoured name of the value's type, for messages read by non-programmers."""
    names = {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
