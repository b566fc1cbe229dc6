"""Schema nodes read for comparison: alternatives merged into facts, JSON equality, texts.

Built on :mod:`flux2._schema` (references, JSON types, bound keywords); what is added here is
what only a comparison needs: every keyword of a node collected (:class:`Facts`), with the
texts, vendor extensions and defaults kept apart from what constrains a value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from flux2 import _schema, _wire

from ._findings import MISSING

_TEXT_KEYS: Final = frozenset(
    {"title", "description", "summary", "example", "examples", "externalDocs", "$comment"}
)
# Adding or changing one of these narrows what a value may be; removing one widens it.
_NARROWING: Final = (
    "format",
    "pattern",
    "const",
    "multipleOf",
    "uniqueItems",
    "contentEncoding",
    "contentMediaType",
)
_OBJECT_KEYS: Final = ("properties", "required", "additionalProperties", "patternProperties")
_TYPE_BEARING: Final = frozenset(
    {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items", "not"}
)
SECURITY_KEYS: Final = (
    "type",
    "in",
    "name",
    "scheme",
    "bearerFormat",
    "flows",
    "openIdConnectUrl",
)


def is_text(key: str) -> bool:
    return key in _TEXT_KEYS or key.startswith("x-")


def same(a: Any, b: Any) -> bool:
    """JSON equality: 64 equals 64.0, but true does not equal 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def without_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_text(v) for k, v in node.items() if not is_text(k)}
    if isinstance(node, list):
        return [without_text(v) for v in node]
    return node


@attrs.define
class Facts:
    """A schema node flattened: ``anyOf`` branches merged, types and constraints collected."""

    types: set[str] = attrs.Factory(set)
    enum: list[Any] | None = None
    bounds: dict[str, Any] = attrs.Factory(dict)
    narrowing: dict[str, Any] = attrs.Factory(dict)
    refs: set[str] = attrs.Factory(set)
    properties: dict[str, Any] = attrs.Factory(dict)
    required: set[str] = attrs.Factory(set)
    extra: dict[str, Any] = attrs.Factory(dict)
    """additionalProperties / patternProperties."""
    has_object: bool = False
    items: list[Any] = attrs.Factory(list)
    other: dict[str, Any] = attrs.Factory(dict)
    texts: dict[str, Any] = attrs.Factory(dict)
    default: Any = MISSING
    deprecated: bool = False


def deref(document: Mapping[str, Any], node: Any) -> Any:
    return _schema.resolve(document, node, lenient=True)


def facts_of(document: Mapping[str, Any], node: Any, fold: bool) -> Facts:
    facts = Facts()
    _collect(document, node, facts, fold, 0, in_ref=False)
    if facts.enum is not None and not (facts.types - {"any"}):
        facts.types.discard("any")
        facts.types.update(_schema.json_type(v) for v in facts.enum)
    return facts


def _collect(  # noqa: PLR0917
    document: Mapping[str, Any], node: Any, facts: Facts, fold: bool, depth: int, in_ref: bool
) -> None:
    if node is True or node == {}:
        facts.types.add("any")
        return
    if not isinstance(node, dict) or depth > 24:
        return
    top = depth == 0
    if "$ref" in node:
        facts.refs.add(str(node["$ref"]))
        if fold:
            target = deref(document, {"$ref": node["$ref"]})
            _collect(document, target, facts, fold, depth + 1, True)
    if not _TYPE_BEARING & node.keys():
        facts.types.add("any")
    if any(k in node for k in _OBJECT_KEYS):
        facts.has_object = True
    for key, value in node.items():
        if key == "$ref":
            continue
        if key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            for branch in value:
                _collect(document, branch, facts, fold, depth + 1, in_ref)
        elif key == "type":
            facts.types.update(value if isinstance(value, list) else [value])
        elif key == "nullable":
            if value:
                facts.types.add("null")
        elif key == "enum" and isinstance(value, list):
            known = facts.enum or []
            facts.enum = [*known, *[v for v in value if not any(same(v, k) for k in known)]]
        elif key in _schema.LOWER_BOUNDS or key in _schema.UPPER_BOUNDS:
            facts.bounds.setdefault(key, value)
        elif key in _NARROWING:
            facts.narrowing.setdefault(key, value)
        elif key == "properties" and isinstance(value, dict):
            for name, prop in value.items():
                facts.properties.setdefault(name, prop)
        elif key == "required" and isinstance(value, list):
            facts.required.update(str(v) for v in value)
        elif key in _OBJECT_KEYS:
            facts.extra.setdefault(key, value)
        elif key == "items":
            facts.items.append(value)
        elif key == "default":
            if facts.default is MISSING and (top or not in_ref):
                facts.default = value
        elif key == "deprecated":
            facts.deprecated = facts.deprecated or bool(value)
        elif is_text(key):
            if not in_ref:
                facts.texts[key if top else f"{key} (of an alternative)"] = value
        elif not in_ref or top:
            facts.other.setdefault(key, value)


def types_text(types: Iterable[str]) -> str:
    order = ["string", "integer", "number", "boolean", "object", "array", "any", "null"]
    return " | ".join(sorted(types, key=lambda t: (order.index(t) if t in order else 99, t)))


def compatible(expected: str, types: set[str], nullable_ok: bool) -> bool:
    """Whether every type of the candidate is one flux2 reads as `expected`."""
    if expected == "any":
        return True
    allowed = {expected, "integer"} if expected == "number" else {expected}
    if nullable_ok:
        allowed.add("null")
    return bool(types) and types <= allowed


def describe_scheme(scheme: Any) -> str:
    if not isinstance(scheme, dict):
        return "(absent)"
    kind = scheme.get("type")
    if kind == "apiKey":
        return f"API key in {scheme.get('in')} {scheme.get('name')!r}"
    if kind == "http":
        return f"HTTP {scheme.get('scheme')} (Authorization header)"
    return str(kind)


def flux2_can_send(scheme: Any) -> bool:
    return (
        isinstance(scheme, dict)
        and scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == _wire.AUTH_HEADER.lower()
    )


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def describe_field(node: Any, document: Mapping[str, Any]) -> str:
    facts = facts_of(document, node, fold=True)
    text = types_text(facts.types) or "any"
    if facts.enum is not None:
        text += " in " + ", ".join(repr(v) for v in facts.enum)
    if facts.default is not MISSING:
        text += f", default {json.dumps(facts.default)}"
    return text
