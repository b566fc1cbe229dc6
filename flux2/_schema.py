"""Reading JSON Schema nodes of an OpenAPI document: the one module that does it.

The registry (request parameters), request building (is this value allowed?), response
parsing (is this field of the type flux2 reads?), strict mode (does this answer conform?) and
the drift check (what changed between two schemas?) all ask the same questions of a schema
node, and get their answers here:

- :func:`resolve` follows a local ``$ref`` (``#/components/schemas/X``); :func:`ref_name`
  names its target;
- :func:`branches` and :func:`flatten` read a node with its alternatives (``anyOf``,
  ``oneOf``, a ``null`` type or OpenAPI 3.0's ``nullable``) as one set of JSON types, an enum
  and constraints;
- :func:`json_type`, :func:`has_type` and :func:`covers` name JSON types;
- :data:`BOUNDS` and :func:`broken_bounds` check numeric ranges and lengths.

What an integer is: a JSON number *written without a fraction* (``3``, not ``3.0``), i.e. a
Python ``int`` that is not a ``bool``. JSON Schema counts ``3.0`` as an integer too; flux2 does
not, in both directions: a request sends what the caller gave, and ``"steps": 30.0`` is not
what the spec declares; an answer's ``3.0`` where the spec says integer does not fit the
generated models' ``int`` fields, so strict mode reports it and parsing treats it as absent.
A number is finite: ``NaN`` and infinities are not JSON.

Request building imports this module on ``import flux2``: it uses the standard library only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NamedTuple

__all__ = [
    "BOUNDS",
    "LOWER_BOUNDS",
    "UPPER_BOUNDS",
    "Flat",
    "SchemaError",
    "branches",
    "broken_bounds",
    "covers",
    "declared_types",
    "flatten",
    "has_type",
    "json_type",
    "ref_name",
    "resolve",
]

_MAX_REF_HOPS: Final = 32


class SchemaError(ValueError):
    """A schema node flux2 cannot read: a ``$ref`` outside the document, missing, or a loop."""


def ref_name(ref: str) -> str:
    """``"OutputFormat"`` for ``"#/components/schemas/OutputFormat"``."""
    return ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")


def _target(document: Mapping[str, Any], ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise SchemaError(f"unsupported $ref {ref!r}")
    target: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or key not in target:
            raise SchemaError(f"$ref {ref!r} points at nothing")
        target = target[key]
    return target


def resolve(document: Mapping[str, Any], node: Any, *, lenient: bool = False) -> Any:
    """`node` with its ``$ref`` chain followed within `document`.

    Raises :class:`SchemaError` for a reference that leads nowhere, or loops; with
    ``lenient=True`` such a node reads as ``{}`` (any value), for documents that are compared
    or checked rather than trusted.
    """
    for _ in range(_MAX_REF_HOPS):
        if not (isinstance(node, Mapping) and "$ref" in node):
            return node
        try:
            node = _target(document, node["$ref"])
        except SchemaError:
            if lenient:
                return {}
            raise
    if lenient:
        return {}
    raise SchemaError(f"$ref loop at {node.get('$ref')!r}")


def branches(node: Mapping[str, Any]) -> list[Any]:
    """The alternatives of `node` (its ``anyOf`` or ``oneOf``), or `node` itself."""
    for key in ("anyOf", "oneOf"):
        listed = node.get(key)
        if isinstance(listed, list) and listed:
            return listed
    return [node]


def declared_types(node: Mapping[str, Any]) -> list[str]:
    """The JSON types `node` itself declares (``type``, a list of them, ``nullable``)."""
    declared = node.get("type")
    kinds = [str(t) for t in (declared if isinstance(declared, list) else [declared]) if t]
    if node.get("nullable") is True and "null" not in kinds:
        kinds.append("null")
    return kinds


def json_type(value: Any) -> str:
    """The JSON type of a parsed JSON value (see the module docstring for integers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def has_type(value: Any, kind: str) -> bool:
    """Whether `value` is of JSON type `kind` (an integer is a number; ``"any"`` is anything)."""
    if kind == "any":
        return True
    actual = json_type(value)
    if actual in ("integer", "number") and not math.isfinite(value):
        return False
    return actual == kind or (kind == "number" and actual == "integer")


def covers(kinds: set[str] | frozenset[str], kind: str) -> bool:
    """Whether a schema of types `kinds` accepts every value of type `kind`."""
    return kind in kinds or "any" in kinds or (kind == "integer" and "number" in kinds)


# keyword -> (what it measures, the check a value must pass, how to say it)
BOUNDS: Final[Mapping[str, tuple[str, Callable[[Any, Any], bool], str]]] = {
    "minimum": ("number", operator.ge, ">="),
    "maximum": ("number", operator.le, "<="),
    "exclusiveMinimum": ("number", operator.gt, ">"),
    "exclusiveMaximum": ("number", operator.lt, "<"),
    "minLength": ("string", operator.ge, "length >="),
    "maxLength": ("string", operator.le, "length <="),
    "minItems": ("array", operator.ge, "items >="),
    "maxItems": ("array", operator.le, "items <="),
    "minProperties": ("object", operator.ge, "fields >="),
    "maxProperties": ("object", operator.le, "fields <="),
}
LOWER_BOUNDS: Final = tuple(k for k in BOUNDS if k.startswith(("min", "exclusiveMin")))
UPPER_BOUNDS: Final = tuple(k for k in BOUNDS if k.startswith(("max", "exclusiveMax")))


def broken_bounds(constraints: Mapping[str, Any], value: Any) -> Iterator[tuple[str, str, Any]]:
    """Each bound in `constraints` that `value` breaks, as ``(keyword, sign, bound)``.

    A bound applies to the values it measures (a length to a string, a range to a number);
    OpenAPI 3.0's boolean ``exclusiveMinimum`` is not a bound of its own.
    """
    for key, (measures, holds, sign) in BOUNDS.items():
        bound = constraints.get(key)
        if bound is None or isinstance(bound, bool) or not isinstance(bound, int | float):
            continue
        if not has_type(value, measures):
            continue
        measured = value if measures == "number" else len(value)
        if not holds(measured, bound):
            yield key, sign, bound


class Flat(NamedTuple):
    """A property's schema with its alternatives merged: what a value of it may be."""

    types: tuple[str, ...]
    """JSON types accepted besides ``null``, in declaration order."""
    nullable: bool
    enum: tuple[Any, ...] | None
    constraints: Mapping[str, Any]
    """Bounds (:data:`BOUNDS` keywords) and ``format``."""


def flatten(document: Mapping[str, Any], node: Mapping[str, Any]) -> Flat:
    """Merge `node`'s alternatives (``anyOf``/``oneOf``, ``null``, a ``$ref`` to an enum)."""
    types: list[str] = []
    nullable = False
    enum: list[Any] | None = None
    constraints: dict[str, Any] = {}
    for raw in branches(node):
        branch = resolve(document, raw)
        declared = declared_types(branch)
        nullable = nullable or "null" in declared
        types += [t for t in declared if t != "null" and t not in types]
        if isinstance(branch.get("enum"), list):
            known = enum or []
            enum = [*known, *(v for v in branch["enum"] if v not in known)]
            if not declared:
                kinds = dict.fromkeys(json_type(v) for v in enum if v is not None)
                types += [t for t in kinds if t not in types]
        for key in (*BOUNDS, "format"):
            if key in branch:
                constraints[key] = branch[key]
    return Flat(
        types=tuple(types),
        nullable=nullable,
        enum=tuple(enum) if enum is not None else None,
        constraints=constraints,
    )
