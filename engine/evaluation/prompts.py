"""Load the user's prompt file (JSONL, CSV or plain text) into a validated, hashed PromptSet.

Every problem is a PromptFileError naming the file, the line and what to do: the message is all the user sees.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from engine.evaluation.prompt_rows import (  # noqa: F401  (PromptFileError is part of this module's API)
    ALLOWED_KEYS,
    PromptFileError,
    check_text,
    csv_rows,
    decode_text,
    jsonl_rows,
    txt_rows,
    value_kind,
)

PARSERS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".txt": "txt"}


@dataclass(frozen=True)
class PromptItem:
    """One prompt, with its expected answer and multiple-choice options when the user gave them."""

    index: int
    prompt: str
    reference: str | None = None
    choices: tuple[str, ...] | None = None
    category: str | None = None

    @property
    def answer_index(self) -> int | None:
        """Position of the reference among the choices, for multiple-choice scoring."""
        if self.reference is None or self.choices is None or self.reference not in self.choices:
            return None
        return self.choices.index(self.reference)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "prompt": self.prompt, "reference": self.reference,
                "choices": list(self.choices) if self.choices is not None else None, "category": self.category}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PromptItem:
        choices = d.get("choices")
        return cls(int(d["index"]), d["prompt"], d.get("reference"),
                   tuple(choices) if choices is not None else None, d.get("category"))


def _content_hash(items: Iterable[PromptItem]) -> str:
    """Hash of the content only, so the same prompts in CSV or JSONL give the same hash."""
    blob = json.dumps([i.to_dict() for i in items], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PromptSet:
    """An ordered, immutable set of prompts; its sha256 ties every result to the exact prompts used."""

    name: str
    items: tuple[PromptItem, ...]
    sha256: str

    @classmethod
    def of(cls, name: str, items: Iterable[PromptItem]) -> PromptSet:
        items = tuple(items)
        return cls(name, items, _content_hash(items))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_references(self) -> bool:
        """Whether accuracy can be scored against answers (otherwise only agreement with the original)."""
        return any(i.reference is not None or i.choices is not None for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptSet:
        built = cls.of(data["name"], (PromptItem.from_dict(d) for d in data["items"]))
        if data.get("sha256") not in (None, built.sha256):
            raise ValueError(f"prompt set {data['name']!r}: stored sha256 does not match its items (edited?)")
        return built

    def limit(self, n: int) -> PromptSet:
        """The first n prompts, re-indexed from 0, for quick runs."""
        if n < 1:
            raise ValueError(f"limit must be at least 1, got {n}")
        return PromptSet.of(self.name, (replace(it, index=i) for i, it in enumerate(self.items[:n])))

    def split(self, calibration_share: float, seed: int = 0) -> tuple[PromptSet, PromptSet]:
        """(calibration, evaluation): disjoint, seeded, original order and indices kept, so that
        methods that calibrate on prompts are never scored on the prompts they saw."""
        if not 0 <= calibration_share < 1:
            raise ValueError(f"calibration share must be in [0, 1), got {calibration_share}")
        order = list(range(len(self.items)))
        random.Random(seed).shuffle(order)
        chosen = set(order[: round(calibration_share * len(order))])
        if len(chosen) == len(order):
            raise ValueError(f"a calibration share of {calibration_share} of {len(order)} prompts "
                             "leaves none for evaluation; lower the share or add prompts")
        calibration = [it for pos, it in enumerate(self.items) if pos in chosen]
        evaluation = [it for pos, it in enumerate(self.items) if pos not in chosen]
        return (PromptSet.of(f"{self.name}[calibration]", calibration),
                PromptSet.of(f"{self.name}[evaluation]", evaluation))


@dataclass(frozen=True)
class Limits:
    """Caps that keep an upload from exhausting memory or running for days."""

    max_bytes: int = 20_000_000
    max_rows: int = 50_000
    max_prompt_chars: int = 20_000


def load_prompts(path: str | Path, limits: Limits = Limits(), name: str | None = None) -> PromptSet:
    """Read and validate a prompt file from disk (the CLI's way in)."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise PromptFileError(str(p), None, "no such file", "check the path")
    if not p.is_file():
        what = "a directory" if p.is_dir() else "not a regular file"
        raise PromptFileError(str(p), None, f"is {what}", "give the path of a .jsonl, .csv or .txt prompt file")
    _parser_for(p.name)
    _check_size(p.stat().st_size, p.name, limits)  # before reading, so a huge file is never loaded
    return parse_prompts(p.read_bytes(), p.name, limits, name=name)


def parse_prompts(data: bytes, filename: str, limits: Limits = Limits(), name: str | None = None) -> PromptSet:
    """Validate prompt-file bytes (the dashboard's uploads arrive as bytes); name defaults to the file stem."""
    label = Path(filename).name
    kind = _parser_for(filename)
    _check_size(len(data), label, limits)
    text = decode_text(data, label)
    rows = {"jsonl": jsonl_rows, "csv": csv_rows, "txt": txt_rows}[kind](text, label)
    items: list[PromptItem] = []
    for line, fields in rows:
        if len(items) >= limits.max_rows:
            raise PromptFileError(label, line, f"more than {limits.max_rows:,} prompts (the limit)",
                                  "split the file into sets of at most that many prompts")
        items.append(_item(fields, len(items), partial(PromptFileError, label, line), limits))
    if not items:
        raise PromptFileError(label, None, "no prompts found (the file is empty, blank or only a header)",
                              "add at least one prompt")
    return PromptSet.of(name or Path(filename).stem, items)


def _parser_for(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in PARSERS:
        raise PromptFileError(Path(filename).name, None, f"unsupported file type '{suffix or '(none)'}'",
                              "supported types are .jsonl and .json (one JSON object a line), .csv and .txt")
    return PARSERS[suffix]


def _check_size(size: int, label: str, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise PromptFileError(label, None, f"file is {size:,} bytes, over the {limits.max_bytes:,}-byte limit",
                              "split it into smaller files")


def _item(fields: dict[str, Any], index: int, fail, limits: Limits) -> PromptItem:
    for key in fields:
        if key not in ALLOWED_KEYS:
            raise fail(f"unknown key {key!r}", f"allowed keys are {', '.join(ALLOWED_KEYS)}")  # repr: escapes shown
    for key, value in fields.items():
        check_text(key, value, fail)
    prompt = fields.get("prompt")
    if prompt is None:
        raise fail("missing 'prompt'", "every row needs the prompt text")
    if not isinstance(prompt, str):
        raise fail(f"'prompt' must be a string, got {value_kind(prompt)}", "write the prompt as text in quotes")
    prompt = prompt.strip()
    if not prompt:
        raise fail("'prompt' is empty", "every row needs the prompt text")
    if len(prompt) > limits.max_prompt_chars:
        raise fail(f"prompt is {len(prompt):,} characters, over the {limits.max_prompt_chars:,}-character limit",
                   "shorten it (a prompt this long is a document, not a query)")
    choices = _choices(fields.get("choices"), fail)
    return PromptItem(index, prompt, _reference(fields.get("reference"), choices, fail), choices,
                      _category(fields.get("category"), fail))


def _choices(value: Any, fail) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise fail(f"'choices' must be a list of strings, got {value_kind(value)}", 'write e.g. ["Paris", "Rome"]')
    out = tuple(c.strip() for c in value)
    if any(not c for c in out):
        raise fail("'choices' has an empty choice", "remove it")
    if len(out) < 2:
        raise fail(f"'choices' needs at least 2 choices, got {len(out)}", "add choices or drop the field")
    dupes = sorted(c for c, n in Counter(out).items() if n > 1)  # linear: a list may hold 100,000 choices
    if dupes:
        raise fail(f"duplicate choice '{dupes[0]}'", "each choice must be different")
    return out


def _reference(value: Any, choices: tuple[str, ...] | None, fail) -> str | None:
    """The expected answer as text; with choices, a 0-based index is resolved to the choice's text."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise fail(f"'reference' must be a string, got {value_kind(value)}", 'write the answer as text, e.g. "Paris"')
    text = str(value).strip()
    if not text or choices is None or text in choices:
        return text or None
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        index = int(digits) if len(digits) < 10 else None  # int() refuses thousands of digits
        if index is not None and index < len(choices):
            return choices[index]
        shown = index if index is not None else f"{digits[:9]}… ({len(digits):,} digits)"
        raise fail(f"reference index {shown} out of range for {len(choices)} choices",
                   "use a 0-based index or the exact text of one choice")
    raise fail(f"reference '{text}' is not one of the choices", "use the exact text of one choice or its 0-based index")


def _category(value: Any, fail) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"'category' must be a string, got {value_kind(value)}", 'write a label such as "billing"')
    return value.strip().lower() or None
