"""Hypothesis strategies for values a schema of the pinned spec allows.

Leaves (strings, numbers, enums, formats) come from hypothesis-jsonschema; objects, arrays and
alternatives are composed here, because hypothesis-jsonschema 0.23's object strategy relies on a
Hypothesis internal (`many.more`) that current Hypothesis no longer has.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def values(document: dict[str, Any], node: Any, *, skip: frozenset[str] = frozenset()) -> Any:
    """A strategy for values `node` allows; object fields named in `skip` are never drawn."""
    node = resolve(document, node)
    if node is True or node == {} or not isinstance(node, dict):
        return ANY_JSON
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return st.one_of([values(document, b, skip=skip) for b in branches])
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return objects(document, node, skip=skip)
    if kind == "array":
        return st.lists(values(document, node.get("items", {}), skip=skip), max_size=3)
    leaf = {k: v for k, v in node.items() if k not in ("title", "description", "example")}
    return from_schema(leaf)


def objects(
    document: dict[str, Any], node: dict[str, Any], *, skip: frozenset[str] = frozenset()
) -> Any:
    properties: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    if not properties:
        return st.dictionaries(st.text(max_size=8), JSON_LEAVES, max_size=3)
    return st.fixed_dictionaries(
        {
            name: values(document, p, skip=skip)
            for name, p in properties.items()
            if name in required
        },
        optional={
            name: values(document, p, skip=skip)
            for name, p in properties.items()
            if name not in required and name not in skip
        },
    )
