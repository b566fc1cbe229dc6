"""Compare two BFL OpenAPI documents."""

from __future__ import annotations

from typing import Any

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operations(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in _METHODS
    }


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    return schemas


def summarize_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Short human summary: endpoints and schemas added, removed or changed."""
    if old is None:
        return [f"first pin: {len(_operations(new))} operations, {len(_schemas(new))} schemas"]
    lines: list[str] = []
    old_ops, new_ops = _operations(old), _operations(new)
    lines += [f"endpoint added: {op}" for op in sorted(new_ops - old_ops)]
    lines += [f"endpoint removed: {op}" for op in sorted(old_ops - new_ops)]
    lines += [
        f"endpoint changed: {op}"
        for op in sorted(old_ops & new_ops)
        if _op(old, op) != _op(new, op)
    ]
    old_s, new_s = _schemas(old), _schemas(new)
    lines += [f"schema added: {name}" for name in sorted(new_s.keys() - old_s.keys())]
    lines += [f"schema removed: {name}" for name in sorted(old_s.keys() - new_s.keys())]
    for name in sorted(old_s.keys() & new_s.keys()):
        if old_s[name] == new_s[name]:
            continue
        old_p = old_s[name].get("properties", {})
        new_p = new_s[name].get("properties", {})
        parts = [f"+{p}" for p in sorted(new_p.keys() - old_p.keys())]
        parts += [f"-{p}" for p in sorted(old_p.keys() - new_p.keys())]
        parts += [f"~{p}" for p in sorted(old_p.keys() & new_p.keys()) if old_p[p] != new_p[p]]
        if not parts and old_s[name].get("enum") != new_s[name].get("enum"):
            parts.append(f"enum {old_s[name].get('enum')} -> {new_s[name].get('enum')}")
        lines.append(f"schema changed: {name}" + (f" ({', '.join(parts)})" if parts else ""))
    if old.get("components", {}).get("securitySchemes") != new.get("components", {}).get(
        "securitySchemes"
    ):
        lines.append("security schemes changed")
    return lines or ["no endpoint or schema changes (descriptions or layout only)"]


def _op(document: dict[str, Any], op: str) -> Any:
    method, path = op.split(" ", 1)
    return document["paths"][path][method.lower()]
