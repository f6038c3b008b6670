"""Rows out of a prompt file, format by format (JSONL, CSV, plain text), each with the line the
user's editor shows; every problem is a PromptFileError naming the file, the line and the fix.

Control characters other than tab, line feed and carriage return are refused wherever they appear, raw
in the file (with the column) or escaped in a JSON string: a prompt never needs one, they are invisible
in every view, and they would be stored and exported as they are. A raw NUL is the mark of a binary or
UTF-16 file read as UTF-8, and the message says so."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

ALLOWED_KEYS = ("prompt", "reference", "choices", "category")
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # C0 controls but tab, line feed, carriage return
SURROGATE = re.compile(r"[\ud800-\udfff]")  # only a JSON escape makes one; UTF-8 cannot store it
CONTROL_FIX = "remove it: tab, line feed and carriage return are the only control characters a prompt file may hold"
SAVE_AS_UTF8 = "open it in a text editor and save it as UTF-8 text (not UTF-16 or 'Unicode')"


class PromptFileError(ValueError):
    """A prompt file the user must fix; the message says where, what is wrong and what to do."""

    def __init__(self, filename: str, line: int | None, problem: str, fix: str):
        where = f"{filename}, line {line}" if line else filename
        super().__init__(f"{where}: {problem}; {fix}")
        self.filename, self.line, self.problem, self.fix = filename, line, problem, fix

    def __reduce__(self):  # keep it picklable despite the custom signature (worker processes)
        return type(self), (self.filename, self.line, self.problem, self.fix)


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text, BOM accepted (spreadsheet exports add one), free of control characters but tab, line
    feed and carriage return; a failure names the line (and the column of a control character)."""
    if data.startswith(_UTF16_BOMS):
        raise PromptFileError(label, None, "the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8",
                              SAVE_AS_UTF8)
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = skip + e.start
        raise PromptFileError(label, data.count(b"\n", 0, offset) + 1, f"not valid UTF-8 (byte offset {offset})",
                              "re-save the file as UTF-8") from None
    found = CONTROL.search(text)
    if found:
        pos = found.start()
        line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        if found.group() == "\0":
            raise PromptFileError(label, line, f"a NUL character at column {column}: this looks like a binary or "
                                  "UTF-16 file, not UTF-8 text", SAVE_AS_UTF8)
        raise PromptFileError(label, line, f"{control_name(found.group())} at column {column}", CONTROL_FIX)
    return text


def control_name(char: str) -> str:
    """A control character as a message names it (they are invisible as they are)."""
    return "a NUL character (U+0000)" if char == "\0" else f"the control character U+{ord(char):04X}"


def check_text(key: str, value: Any, fail) -> None:
    """Refuse what JSON escapes can put in a field (raw ones never get past decode_text): control
    characters, and unpaired surrogates, which no UTF-8 store or report can write."""
    for text in value if isinstance(value, list) else [value]:
        if not isinstance(text, str):
            continue
        if found := CONTROL.search(text):
            raise fail(f"'{key}' contains {control_name(found.group())}", CONTROL_FIX)
        if found := SURROGATE.search(text):
            raise fail(f"'{key}' contains an unpaired surrogate escape (\\u{ord(found.group()):04x})",
                       "write the character itself, or both halves of its surrogate pair")


def json_value(text: str, fail, problem: str, fix: str, where: str = "column") -> Any:
    """json.loads whose every failure is a PromptFileError: the parser's reason with its position, and
    its own limits (nesting depth, digits of an integer) said plainly."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        reason = e.msg.removesuffix(" at").removesuffix(" starting")  # the position follows in our words
        if reason == "Invalid control character":
            reason = (f"raw control character U+{ord(text[e.pos]):04X} inside a string; write a tab as \\t "
                      "and a line break as \\n")
        raise fail(f"{problem} at {where} {e.colno} ({reason})", fix) from None
    except RecursionError:
        raise fail(f"{problem} (nested more deeply than the reader allows)", fix) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise fail(f"{problem} (a number too long to read)", fix) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; split on \\n only, so numbers match the user's editor."""
    return ((n, raw) for n, raw in enumerate(text.split("\n"), 1) if raw.strip())


def jsonl_rows(text: str, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in _lines(text):
        obj = json_value(raw, partial(PromptFileError, label, line), "bad JSON", "each line must be one JSON object")
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
    return json_value(cell, fail, "'choices' is not a valid JSON list", 'write ["a", "b"] or a|b',
                      where="character")


def txt_rows(text: str, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((line, {"prompt": raw}) for line, raw in _lines(text))


def value_kind(value: Any) -> str:
    """A JSON-flavoured name of the value's type, for messages read by non-programmers."""
    names = {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
