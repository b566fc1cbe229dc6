"""flux2._schema: one reading of JSON Schema nodes, the same answer wherever flux2 asks."""

from __future__ import annotations

from typing import Any

import pytest

import flux2
from flux2 import _convert, _schema
from flux2.conformance import validate
from flux2.decisions.requests import build_request

INTEGER = {"type": "integer"}


@pytest.mark.parametrize(
    ("value", "integer"),
    [(3, True), (3.0, False), (True, False), ("3", False)],
)
def test_an_integer_is_the_same_for_requests_answers_and_strict_mode(
    value: Any, integer: bool
) -> None:
    assert _schema.has_type(value, "integer") is integer
    assert (validate({}, INTEGER, value) == []) is integer
    if integer:
        assert build_request("x", model="flex", steps=value).params["steps"] == value
    else:
        with pytest.raises(flux2.InputError):
            build_request("x", model="flex", steps=value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "1"])
def test_a_number_is_finite_and_not_a_boolean_everywhere(value: Any) -> None:
    assert not _schema.has_type(value, "number")
    assert validate({}, {"type": "number"}, value) != []
    with pytest.raises(_convert.WireError):
        _convert.credits_from_body({"credits": value})


def test_references_resolve_and_bad_ones_are_named() -> None:
    document = {"components": {"schemas": {"A": {"$ref": "#/components/schemas/B"}, "B": {}}}}
    assert _schema.resolve(document, {"$ref": "#/components/schemas/A"}) == {}
    with pytest.raises(_schema.SchemaError, match="points at nothing"):
        _schema.resolve(document, {"$ref": "#/components/schemas/C"})
    assert _schema.resolve(document, {"$ref": "#/components/schemas/C"}, lenient=True) == {}
    loop = {"components": {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}}
    with pytest.raises(_schema.SchemaError, match="loop"):
        _schema.resolve(loop, {"$ref": "#/components/schemas/A"})


def test_flatten_merges_alternatives_and_nullability() -> None:
    document = {"components": {"schemas": {"F": {"enum": ["a", "b"]}}}}
    node = {"anyOf": [{"$ref": "#/components/schemas/F"}, {"type": "null"}]}
    flat = _schema.flatten(document, node)
    assert (flat.types, flat.nullable, flat.enum) == (("string",), True, ("a", "b"))
    ranged = _schema.flatten({}, {"type": "integer", "minimum": 1, "maximum": 5, "nullable": True})
    assert ranged.nullable
    assert dict(ranged.constraints) == {"minimum": 1, "maximum": 5}


def test_bounds_apply_to_what_they_measure() -> None:
    limits = {"minimum": 2, "maxLength": 1, "exclusiveMinimum": True}
    assert list(_schema.broken_bounds(limits, 1)) == [("minimum", ">=", 2)]
    assert list(_schema.broken_bounds(limits, "ab")) == [("maxLength", "length <=", 1)]
    assert list(_schema.broken_bounds(limits, 5)) == []
