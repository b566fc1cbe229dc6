"""flux2.conformance: strict mode's response checker, held to jsonschema on the spec's schemas."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from typing import Any

import pytest
from _strategies import ANY_JSON, values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2._spec import pinned_spec
from flux2.conformance import (
    ConformanceError,
    Flux2ConformanceWarning,
    ResponseChecker,
    validate,
)

SPEC = pinned_spec()

VALID_ANSWERS: list[tuple[str, str, int, Any]] = [
    (
        "POST",
        "/v1/flux-2-pro",
        200,
        {"id": "t1", "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=t1", "cost": 6.0},
    ),
    ("POST", "/v1/flux-2-klein-4b", 200, {"id": "t1", "status": "Pending", "webhook_url": "u"}),
    (
        "GET",
        "/v1/get_result",
        200,
        {
            "id": "t1",
            "status": "Ready",
            "progress": None,
            "result": {"sample": "https://delivery-eu1.bfl.ai/x.jpg", "seed": 3},
            "details": None,
            "preview": None,
        },
    ),
    ("GET", "/v1/get_result?id=t1", 200, {"id": "t1", "status": "Pending", "progress": 0.4}),
    ("GET", "/v1/credits", 200, {"credits": 12}),
    (
        "POST",
        "/v1/flux-2-flex",
        422,
        {"detail": [{"loc": ["body", "steps"], "msg": "too big", "type": "less_than_equal"}]},
    ),
    # Error statuses the spec leaves out are BFL-documented, not deviations.
    ("POST", "/v1/flux-2-flex", 429, {"detail": "Too many active tasks"}),
    ("POST", "/v1/flux-2-flex", 402, {"detail": "Insufficient credits"}),
    ("GET", "/v1/get_result", 503, "Service Unavailable"),
]


@pytest.mark.parametrize("answer", VALID_ANSWERS, ids=lambda a: f"{a[0]} {a[1]} {a[2]}")
def test_conforming_answers_pass_silently(answer: tuple[str, str, int, Any]) -> None:
    checker = ResponseChecker()
    assert checker.check(*answer) == []
    assert ResponseChecker(on_deviation="error").check(*answer) == []


def test_an_unknown_status_is_reported_once_naming_operation_field_and_value() -> None:
    checker = ResponseChecker()
    body = {"id": "t1", "status": "Generating", "progress": 0.5}
    with pytest.warns(Flux2ConformanceWarning) as caught:
        first = checker.check("GET", "/v1/get_result", 200, body)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("GET /v1/get_result (HTTP 200): status 'Generating' is not in ")
    assert "StatusResponse" in message
    assert "'Pending'" in message
    assert [(d.operation, d.field, d.value) for d in first] == [
        ("GET /v1/get_result", "status", "Generating")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checker.check("GET", "/v1/get_result", 200, {**body, "progress": 0.7}) == []
    with pytest.warns(Flux2ConformanceWarning, match="'Reasoning'"):
        checker.check("GET", "/v1/get_result", 200, {**body, "status": "Reasoning"})


def test_error_mode_raises_for_every_deviating_answer() -> None:
    checker = ResponseChecker(on_deviation="error")
    body = {"id": "t1", "cost": "6"}
    for _ in range(2):
        with pytest.raises(ConformanceError) as raised:
            checker.check("POST", "/v1/flux-2-max", 200, body)
        assert raised.value.body == body
        assert raised.value.status_code == 200
        fields = {d.field for d in raised.value.deviations}
        assert fields == {"polling_url", "cost"}
        assert "POST /v1/flux-2-max (HTTP 200): polling_url is missing" in str(raised.value)
        assert "cost '6' is string, the spec says number or null" in str(raised.value)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (("GET", "/v1/credits", 200, {"credits": "12"}), "credits '12' is string"),
        (("GET", "/v1/credits", 200, "<html>"), "body '<html>' is string, the spec says object"),
        (("GET", "/v1/credits", 200, {}), "credits is missing"),
        (("POST", "/v1/flux-2-pro", 201, {}), "HTTP 201 is not a status the spec documents"),
        (("GET", "/v1/nothing", 200, {}), "GET /v1/nothing (HTTP 200): the pinned spec declares"),
        (
            ("POST", "/v1/flux-2-flex", 422, {"detail": [{"loc": [], "msg": 1, "type": "t"}]}),
            "detail[0].msg 1 is integer, the spec says string",
        ),
    ],
)
def test_deviations_say_what_and_where(answer: tuple[str, str, int, Any], says: str) -> None:
    with pytest.warns(Flux2ConformanceWarning, match=None) as caught:
        ResponseChecker().check(*answer)
    assert any(says in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_on_deviation_is_checked() -> None:
    with pytest.raises(ValueError, match="'warn' or 'error'"):
        ResponseChecker(on_deviation="loud")  # type: ignore[arg-type]


def test_the_subset_validator_covers_the_keywords_it_claims() -> None:
    document: dict[str, Any] = {
        "components": {"schemas": {"Kind": {"enum": ["a", "b"], "title": "Kind"}}}
    }
    schema = {
        "type": "object",
        "required": ["n"],
        "additionalProperties": False,
        "properties": {
            "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "k": {"$ref": "#/components/schemas/Kind"},
            "c": {"const": True},
            "xs": {"type": "array", "items": {"type": "number"}, "maxItems": 2},
            "o": {"oneOf": [{"type": "null"}, {"allOf": [{"type": "object"}]}]},
        },
    }
    assert validate(document, schema, {"n": 1, "s": "ab", "k": "a", "c": True, "xs": [1.5]}) == []
    # flux2's one rule (flux2._schema), stricter than JSON Schema: 3.0 is a number, not an
    # integer, as request building and response parsing read it too.
    assert [r for _, _, r in validate(document, schema, {"n": 3.0})] == [
        "is number, the spec says integer"
    ]
    bad = {"n": 10, "s": "a", "k": "z", "c": 1, "xs": [1, "2", 3], "o": 4, "extra": 0}
    problems = {field: reason for field, _, reason in validate(document, schema, bad)}
    assert set(problems) == {"n", "s", "k", "c", "xs", "xs[1]", "o", "extra"}
    assert "< 10" in problems["n"]
    assert "Kind" in problems["k"]
    assert validate(document, schema, {"n": True})[0][2].startswith("is boolean")


def _flux2_rules() -> Any:
    """jsonschema's validator with flux2's integers (``3.0`` is not one; flux2._schema)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)


_FLUX2_RULES = _flux2_rules()


def _wrapped(schema_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}


_FIELDS = st.sampled_from(
    ["id", "status", "progress", "result", "details", "preview", "polling_url", "cost",
     "input_mp", "output_mp", "webhook_url", "credits", "detail"]
)  # fmt: skip
_RANDOM_ANSWERS = st.dictionaries(
    _FIELDS, ANY_JSON | st.sampled_from(["Ready", "Pending", "Generating"]), max_size=6
)


@pytest.mark.parametrize(
    "schema_name",
    ["ResultResponse", "AsyncResponse", "AsyncWebhookResponse", "CreditsResponse",
     "HTTPValidationError"],
)  # fmt: skip
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verdicts_match_jsonschema(schema_name: str, data: st.DataObject) -> None:
    """Answers the schema allows, and arbitrary ones: both validators must agree on each."""
    valid = values(SPEC, {"$ref": f"#/components/schemas/{schema_name}"})
    answer = data.draw(st.one_of(valid, _RANDOM_ANSWERS))
    schema = _wrapped(schema_name)
    expected = _FLUX2_RULES(schema).is_valid(answer)
    got = validate(SPEC, {"$ref": f"#/components/schemas/{schema_name}"}, answer) == []
    assert got == expected, json.dumps(answer)


def test_core_install_needs_no_jsonschema() -> None:
    code = (
        "import sys; import flux2.conformance as c; c.ResponseChecker().check('GET', "
        "'/v1/credits', 200, {'credits': 1}); print('jsonschema' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
