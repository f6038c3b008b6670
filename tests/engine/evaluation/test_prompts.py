"""Prompt files: every malformed kind gets a message naming the line; good files load the same from any format."""

from __future__ import annotations

import json
import pickle

import pytest

from engine.evaluation.prompts import (
    Limits,
    PromptFileError,
    PromptItem,
    PromptSet,
    load_prompts,
    parse_prompts,
)
from engine.home import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "prompts.jsonl"


def _jsonl(*rows: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode("utf-8")


OK = {"prompt": "fine"}

MALFORMED = [
    # (id, filename, data, line or None, key phrase)
    ("bad-json", "p.jsonl", _jsonl(OK, '{"prompt": "a",, }'), 2, "bad JSON"),
    ("not-object", "p.jsonl", _jsonl(OK, OK, "[1, 2]"), 3, "expected a JSON object, got a list"),
    ("missing-prompt", "p.jsonl", _jsonl({"reference": "x"}), 1, "missing 'prompt'"),
    ("prompt-not-string", "p.jsonl", _jsonl(OK, {"prompt": 5}), 2, "'prompt' must be a string, got a number"),
    ("prompt-blank", "p.jsonl", _jsonl(OK, {"prompt": "   "}), 2, "'prompt' is empty"),
    ("unknown-key", "p.jsonl", _jsonl({"prompt": "a", "answer": "b"}), 1,
     "unknown key 'answer'; allowed keys are prompt, reference, choices, category"),
    ("reference-not-string", "p.jsonl", _jsonl({"prompt": "a", "reference": ["x"]}), 1, "'reference' must be a string"),
    ("choices-not-list", "p.jsonl", _jsonl({"prompt": "a", "choices": "a|b"}), 1, "'choices' must be a list"),
    ("choices-not-strings", "p.jsonl", _jsonl({"prompt": "a", "choices": ["a", 2]}), 1, "list of strings"),
    ("one-choice", "p.jsonl", _jsonl({"prompt": "a", "choices": ["x"]}), 1, "at least 2 choices"),
    ("duplicate-choice", "p.jsonl", _jsonl({"prompt": "a", "choices": ["x", "y", "x "]}), 1, "duplicate choice 'x'"),
    ("reference-index-range", "p.jsonl", _jsonl(OK, {"prompt": "a", "reference": 5, "choices": ["x", "y", "z"]}), 2,
     "reference index 5 out of range for 3 choices"),
    ("reference-not-a-choice", "p.jsonl", _jsonl({"prompt": "a", "reference": "w", "choices": ["x", "y"]}), 1,
     "not one of the choices"),
    ("category-not-string", "p.jsonl", _jsonl({"prompt": "a", "category": 3}), 1, "'category' must be a string"),
    ("prompt-too-long", "p.jsonl", _jsonl(OK, {"prompt": "x" * 20_001}), 2, "over the 20,000-character limit"),
    ("not-utf8", "p.jsonl", b'{"prompt": "a"}\n{"prompt": "caf\xe9"}\n', 2, "not valid UTF-8"),
    ("empty-file", "p.jsonl", b"", None, "no prompts found"),
    ("only-blank-lines", "p.txt", b"\n   \n\n", None, "no prompts found"),
    ("unsupported-type", "p.xlsx", b"prompt\n", None, "supported types are .jsonl"),
    ("csv-no-prompt-column", "p.csv", b"question,answer\nq,a\n", 1, "columns found: question, answer"),
    ("csv-unknown-column", "p.csv", b"prompt,answer\nq,a\n", 1, "unknown column 'answer'"),
    ("csv-duplicate-column", "p.csv", b"prompt,Prompt\nq,a\n", 1, "appears twice"),
    ("csv-ragged-row", "p.csv", b"prompt,reference\na,b\nc,d,e\n", 3, "3 fields but the header has 2"),
    ("csv-header-only", "p.csv", b"prompt,reference\n", None, "no prompts found"),
    ("csv-bad-choices-json", "p.csv", b'prompt,choices\nq,"[""a"",]"\n', 2, "not a valid JSON list"),
    ("csv-unclosed-quote", "p.csv", b'prompt\nok\n"never closed\nmore\n', 3, "unreadable CSV"),
    # a quoted cell spanning lines 2-3 shifts the next row to line 4
    ("csv-multiline-then-empty-prompt", "p.csv", b'prompt,category\n"two\nlines",x\n,y\n', 4, "missing 'prompt'"),
    ("txt-line-too-long", "p.txt", b"short\n\n" + b"y" * 20_001 + b"\n", 3, "characters, over the"),
]


@pytest.mark.parametrize(("filename", "data", "line", "phrase"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_files_name_the_file_line_and_problem(filename, data, line, phrase):
    with pytest.raises(PromptFileError) as info:
        parse_prompts(data, filename)
    message = str(info.value)
    assert message.startswith(filename)
    assert phrase in message
    assert info.value.line == line
    if line is not None:
        assert f"{filename}, line {line}: " in message


def test_limits_on_size_and_rows():
    data = _jsonl(OK, OK, OK)
    with pytest.raises(PromptFileError, match=r"p.jsonl: file is [\d,]+ bytes, over the 10-byte limit"):
        parse_prompts(data, "p.jsonl", Limits(max_bytes=10))
    with pytest.raises(PromptFileError, match=r"p.jsonl, line 3: more than 2 prompts"):
        parse_prompts(data, "p.jsonl", Limits(max_rows=2))
    assert len(parse_prompts(data, "p.jsonl", Limits(max_rows=3))) == 3


def test_load_checks_the_path(tmp_path):
    with pytest.raises(PromptFileError, match="no such file"):
        load_prompts(tmp_path / "missing.jsonl")
    with pytest.raises(PromptFileError, match="is a directory"):
        load_prompts(tmp_path)
    big = tmp_path / "big.jsonl"
    big.write_bytes(_jsonl(OK, OK))
    with pytest.raises(PromptFileError, match="over the 5-byte limit"):
        load_prompts(big, Limits(max_bytes=5))


def test_error_survives_pickling():
    error = PromptFileError("p.csv", 3, "bad", "fix it")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "p.csv, line 3: bad; fix it" and copy.line == 3


def test_jsonl_happy_path(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_jsonl(
        {"prompt": "  What is 7 plus 5?  ", "reference": 12, "category": " Arithmetic "},
        "",
        {"prompt": "Capital of France?", "reference": None},
        {"prompt": "Which says moo?", "reference": "cow", "choices": ["dog", " cow", "cat"], "category": "MC"},
        {"prompt": "Pick the second", "reference": 1, "choices": ["a", "b"]},
        {"prompt": "Pick the digit", "reference": "1", "choices": ["0", "1"]},
    ) + b"\n")
    prompts = load_prompts(str(path))
    assert prompts.name == "mine" and len(prompts) == 5 and prompts.has_references
    first, second, moo, second_choice, digit = prompts.items
    assert first == PromptItem(0, "What is 7 plus 5?", "12", None, "arithmetic")
    assert second == PromptItem(1, "Capital of France?")
    assert moo.choices == ("dog", "cow", "cat") and moo.answer_index == 1 and moo.category == "mc"
    assert second_choice.reference == "b" and second_choice.answer_index == 1
    assert digit.reference == "1" and digit.answer_index == 1  # a choice's own text wins over an index
    assert first.answer_index is None
    assert load_prompts(path, name="custom").name == "custom"


def test_csv_happy_path_with_both_choice_styles():
    data = (
        b"Prompt, reference ,choices,category\n"
        b'"Which says moo?",cow,"[""dog"", ""cow""]",Multiple_Choice\n'
        b"Which says woof?,0,dog|cat| horse,\n"
        b'"Say hello, politely",,,greetings\n'
        b"\n"
    )
    prompts = parse_prompts(data, "uploaded.csv")
    assert [i.prompt for i in prompts.items] == ["Which says moo?", "Which says woof?", "Say hello, politely"]
    assert prompts.items[0].choices == ("dog", "cow") and prompts.items[0].category == "multiple_choice"
    assert prompts.items[1].choices == ("dog", "cat", "horse") and prompts.items[1].reference == "dog"
    assert prompts.items[1].category is None
    assert prompts.items[2] == PromptItem(2, "Say hello, politely", None, None, "greetings")


def test_txt_happy_path():
    prompts = parse_prompts(b"  first prompt \n\n\r\nsecond prompt\r\n", "notes.txt")
    assert [i.prompt for i in prompts.items] == ["first prompt", "second prompt"]
    assert [i.index for i in prompts.items] == [0, 1] and not prompts.has_references


@pytest.mark.parametrize(("filename", "data"), [
    ("b.jsonl", b'\xef\xbb\xbf{"prompt": "hi", "reference": "x"}\n'),
    ("b.csv", b"\xef\xbb\xbfprompt,reference\r\nhi,x\r\n"),
    ("b.txt", b"\xef\xbb\xbfhi\n"),
])
def test_utf8_bom_is_accepted(filename, data):
    prompts = parse_prompts(data, filename)
    assert prompts.items[0].prompt == "hi"


def test_bom_does_not_shift_the_reported_line():
    with pytest.raises(PromptFileError, match=r"line 2: not valid UTF-8 \(byte offset 9\)"):
        parse_prompts(b"\xef\xbb\xbfhello\n\xff\n", "b.txt")


def test_same_content_in_csv_and_jsonl_has_the_same_hash():
    jsonl = _jsonl({"prompt": "Which says moo?", "reference": "cow", "choices": ["dog", "cow"], "category": "mc"},
                   {"prompt": "What is 2+2?", "reference": 4})
    csv = b'prompt,reference,choices,category\nWhich says moo?,1,dog|cow,MC\nWhat is 2+2?,4,,\n'
    a, b = parse_prompts(jsonl, "a.jsonl"), parse_prompts(csv, "b.csv")
    assert a.items == b.items and a.sha256 == b.sha256 and len(a.sha256) == 64
    assert parse_prompts(_jsonl({"prompt": "What is 2+2?"}), "c.jsonl").sha256 != a.sha256


def test_to_dict_round_trips_and_catches_edits():
    rows = ({"prompt": "a", "reference": "x", "choices": ["x", "y"]}, {"prompt": "b"})
    prompts = parse_prompts(_jsonl(*rows), "r.jsonl")
    data = json.loads(json.dumps(prompts.to_dict()))
    assert PromptSet.from_dict(data) == prompts
    data["items"][1]["prompt"] = "edited"
    with pytest.raises(ValueError, match="does not match"):
        PromptSet.from_dict(data)


def _numbered(n: int) -> PromptSet:
    return parse_prompts(_jsonl(*({"prompt": f"prompt {i}"} for i in range(n))), "set.jsonl")


def test_split_is_seeded_disjoint_complete_and_keeps_indices():
    prompts = _numbered(50)
    calibration, evaluation = prompts.split(0.2, seed=1)
    assert calibration.name == "set[calibration]" and evaluation.name == "set[evaluation]"
    assert len(calibration) == 10 and len(evaluation) == 40
    cal, ev = [i.index for i in calibration.items], [i.index for i in evaluation.items]
    assert not set(cal) & set(ev) and sorted(cal + ev) == list(range(50))
    assert cal == sorted(cal) and ev == sorted(ev)  # original relative order
    assert all(prompts.items[i.index] == i for i in calibration.items + evaluation.items)
    assert prompts.split(0.2, seed=1) == (calibration, evaluation)
    assert prompts.split(0.2, seed=2)[0].items != calibration.items
    assert calibration.sha256 != prompts.sha256


def test_split_edges():
    prompts = _numbered(5)
    calibration, evaluation = prompts.split(0.0)
    assert len(calibration) == 0 and evaluation.items == prompts.items
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            prompts.split(bad)
    with pytest.raises(ValueError, match="none for evaluation"):
        _numbered(1).split(0.9)


def test_limit_takes_the_first_n_and_reindexes():
    prompts = _numbered(10)
    first3 = prompts.limit(3)
    assert [i.prompt for i in first3.items] == ["prompt 0", "prompt 1", "prompt 2"]
    assert [i.index for i in first3.items] == [0, 1, 2] and first3.sha256 != prompts.sha256
    assert prompts.limit(100) == prompts
    _, evaluation = prompts.split(0.5, seed=3)
    assert [i.index for i in evaluation.limit(2).items] == [0, 1]
    with pytest.raises(ValueError):
        prompts.limit(0)


def test_shipped_sample_prompts_load():
    prompts = load_prompts(SAMPLE)
    assert len(prompts) >= 300
    assert sum(i.reference is not None or i.choices is not None for i in prompts.items) >= 150
    assert {"arithmetic", "multiple_choice"} <= {i.category for i in prompts.items}
    assert all(i.answer_index is not None for i in prompts.items if i.choices)


def test_ten_thousand_prompts_load(tmp_path):
    path = tmp_path / "big.jsonl"
    rows = ({"prompt": f"Question number {i}?", "reference": str(i), "category": f"c{i % 7}"} for i in range(10_000))
    path.write_bytes(_jsonl(*rows))
    prompts = load_prompts(path)
    assert len(prompts) == 10_000 and prompts.items[-1].index == 9_999
