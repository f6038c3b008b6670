import hashlib
import json

import pytest

from engine.plan import Plan, PlanError, parse
from engine.registry import STEPS


def test_parse_steps_and_params():
    plan = parse("int4:group=32,backend=quanto")
    assert [s.name for s in plan.steps] == ["int4"]
    assert plan.steps[0].param("group") == 32
    assert plan.steps[0].param("backend") == "quanto"


def test_round_trip_through_json_keeps_plan_and_hash():
    plan = parse("bf16+int4:group=128")
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.key() == plan.key()
    assert str(again) == "bf16+int4:group=128"


def test_hash_ignores_parameter_order_and_is_stable():
    assert parse("int4:group=64,backend=quanto").key() == parse("int4:backend=quanto,group=64").key()
    assert parse("int8").key() != parse("int4").key()
    # Stable across processes: the key is the sha256 of the canonical JSON of the steps.
    canonical = '[{"name":"int8","params":{}}]'
    assert parse("int8").key() == hashlib.sha256(canonical.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("int5", "unknown step 'int5'"),
        ("int4:group=65", "group=65"),
        ("int4:colour=red", "unknown parameter 'colour'"),
        ("int4:group", "'group' is not key=value"),
        ("int8+int4", "quantizes the weights twice"),
        ("", "empty plan"),
        ("int8:backend=gguf", "backend=gguf"),
        ("int4:group=abc", "group"),
    ],
)
def test_invalid_plans_name_the_bad_part(text, fragment):
    with pytest.raises(PlanError) as error:
        parse(text)
    assert fragment in str(error.value)


def test_every_step_has_a_one_line_doc():
    for spec in STEPS.values():
        assert spec.doc and "\n" not in spec.doc
    assert {"fp32", "bf16", "fp16", "int8", "int4", "int2", "nf4"} <= set(STEPS)
