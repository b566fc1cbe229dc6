"""Request bodies checked against the spec's schema, errors answered in FastAPI's shape.

The live service is a FastAPI application: an invalid body gets HTTP 422 with
``{"detail": [{"type", "loc", "msg", "input", "ctx"?}]}`` [doc]. The schema is the spec's own
request schema, checked with jsonschema (OpenAPI 3.1 schemas are JSON Schema 2020-12); the
error types and messages follow pydantic's wording so a client sees what it would see live.
Defaults are not validated (``width`` defaults to 0 while its minimum is 64: that is the
contract, and a client that sends the default gets a 422 live too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from ._policy import MAX_PIXELS

__all__ = ["BodyValidator", "ErrorDetail", "json_error", "missing_query", "too_large"]

ErrorDetail = dict[str, Any]

_TYPE_ERRORS = {
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "string": ("string_type", "Input should be a valid string"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
}

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc)


def _num(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _quoted_list(values: list[Any]) -> str:
    quoted = [repr(v) if isinstance(v, str) else json.dumps(v) for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _is_null_branch(error: ValidationError) -> bool:
    return error.validator == "type" and error.validator_value == "null"


def _leaf(error: ValidationError) -> ValidationError:
    """For an ``anyOf``/``oneOf`` miss, the error of the branch the value was meant for."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        candidates = [e for e in error.context if not _is_null_branch(e)]
        if not candidates:
            break
        # Prefer a branch whose type matched (the value failed a bound, not the type).
        typed = [e for e in candidates if e.validator != "type"]
        error = (typed or candidates)[0]
    return error


def _detail(error: ValidationError, body: Any) -> ErrorDetail:
    error = _leaf(error)
    loc: list[Any] = ["body", *error.absolute_path]
    value = error.instance
    kind = error.validator
    limit: Any = error.validator_value
    detail: ErrorDetail
    if kind == "type":
        expected = limit if isinstance(limit, str) else next(iter(limit), "object")
        if not error.absolute_path and expected == "object":
            detail = {
                "type": "model_attributes_type",
                "msg": "Input should be a valid dictionary or object to extract fields from",
            }
        else:
            code, msg = _TYPE_ERRORS.get(expected, ("value_error", error.message))
            detail = {"type": code, "msg": msg}
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        code, key, words = {
            "minimum": ("greater_than_equal", "ge", "greater than or equal to"),
            "maximum": ("less_than_equal", "le", "less than or equal to"),
            "exclusiveMinimum": ("greater_than", "gt", "greater than"),
            "exclusiveMaximum": ("less_than", "lt", "less than"),
        }[kind]
        detail = {
            "type": code,
            "msg": f"Input should be {words} {_num(limit)}",
            "ctx": {key: _num(limit)},
        }
    elif kind == "enum":
        expected = _quoted_list(list(limit))
        detail = {
            "type": "enum",
            "msg": f"Input should be {expected}",
            "ctx": {"expected": expected},
        }
    elif kind == "minLength":
        unit = "character" if limit == 1 else "characters"
        detail = {
            "type": "string_too_short",
            "msg": f"String should have at least {limit} {unit}",
            "ctx": {"min_length": limit},
        }
    elif kind == "maxLength":
        detail = {
            "type": "string_too_long",
            "msg": f"String should have at most {limit} characters",
            "ctx": {"max_length": limit},
        }
    elif kind == "format" and limit == "uri":
        detail = {"type": "url_parsing", "msg": "Input should be a valid URL"}
    else:
        detail = {"type": "value_error", "msg": f"Value error, {error.message}"}
    return {
        "type": detail.pop("type"),
        "loc": loc,
        "msg": detail.pop("msg"),
        "input": value,
        **detail,
    }


class BodyValidator:
    """Validates request bodies against one schema of an OpenAPI 3.1 document."""

    def __init__(self, document: Mapping[str, Any], schema_name: str) -> None:
        # $refs in the spec point at "#/components/...": keep that tree at the root.
        root = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{schema_name}",
            "components": document.get("components", {}),
        }
        self._validator = Draft202012Validator(root, format_checker=_FORMATS)
        schema = document.get("components", {}).get("schemas", {}).get(schema_name, {})
        self.properties = frozenset(schema.get("properties", {}))
        self.required = tuple(schema.get("required", ()))

    def errors(self, body: Any) -> list[ErrorDetail]:
        """FastAPI-shaped errors for `body`, in field order; empty when it is valid."""
        details: list[ErrorDetail] = []
        missing_done = False
        try:
            found = sorted(self._iter(body), key=lambda e: [str(p) for p in e.absolute_path])
        except RecursionError:
            return [
                {
                    "type": "value_error",
                    "loc": ["body"],
                    "msg": "Value error, nested too deeply",
                    "input": None,
                }
            ]
        for error in found:
            if error.validator == "required":
                # jsonschema reports one error per missing field; FastAPI lists each field.
                if missing_done:
                    continue
                missing_done = True
                for name in self.required:
                    if isinstance(body, dict) and name not in body:
                        details.append(
                            {
                                "type": "missing",
                                "loc": ["body", name],
                                "msg": "Field required",
                                "input": body,
                            }
                        )
                continue
            details.append(_detail(error, body))
        return details

    def _iter(self, body: Any) -> Iterator[ValidationError]:
        return self._validator.iter_errors(body)

    def unknown_fields(self, body: Mapping[str, Any]) -> tuple[str, ...]:
        """Fields the schema does not declare: the live service ignores them silently [seen]."""
        return tuple(name for name in body if name not in self.properties)


def json_error(position: int, message: str) -> list[ErrorDetail]:
    """FastAPI's answer to a body that is not JSON: where reading stopped, and why."""
    return [
        {
            "type": "json_invalid",
            "loc": ["body", position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": message},
        }
    ]


def too_large(pixels: int, body: Any) -> list[ErrorDetail]:
    """The answer to a width and height above the documented 4 MP limit [doc]."""
    limit = MAX_PIXELS
    return [
        {
            "type": "value_error",
            "loc": ["body"],
            "msg": f"Value error, width x height must be at most {limit} pixels (4 MP), "
            f"got {pixels}",
            "input": body,
            "ctx": {"error": f"at most {limit} pixels"},
        }
    ]


def missing_query(name: str) -> list[ErrorDetail]:
    return [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
