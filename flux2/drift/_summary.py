"""A short summary of a re-pin, one line per changed part (for ``scripts/regenerate``)."""

from __future__ import annotations

from typing import Any

from ._document import operations_of
from ._findings import CATEGORIES, Finding
from ._nodes import as_dict
from ._walk import compare


def summarize_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Short human summary of what re-pinning from `old` to `new` changes, one line per part.

    Lines look like ``schema changed: Flux2Inputs (+disable_pup, +transparent_bg) [additive]``:
    ``+`` a field added, ``-`` removed, ``~`` changed, the worst class of the part in brackets.
    """
    if old is None:
        ops = len(operations_of(new))
        schemas = len(as_dict(as_dict(new.get("components")).get("schemas")))
        return [f"first pin: {ops} operations, {schemas} schemas"]
    findings = compare(new, old)
    if not findings:
        return ["no differences (key order or whitespace only)"]
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.subject or finding.location, []).append(finding)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    lines: list[str] = []
    for subject in sorted(groups):
        group = groups[subject]
        worst = min((f.category for f in group), key=order.__getitem__)
        kind, _, name = subject.partition(" ")
        whole = [f for f in group if f.member is None and f.change in ("added", "removed")]
        if kind in ("endpoint", "schema") and whole and name:
            head = f"{kind} {whole[0].change}: {name}"
            if whole[0].change == "removed" and any(f.change == "renamed" for f in group):
                head = f"{kind} renamed: {name} -> {whole[0].new}"
            lines.append(f"{head} [{worst}]")
            continue
        renames = [f for f in group if f.change == "renamed" and f.member is None]
        if kind == "endpoint" and renames:
            lines.append(f"endpoint renamed: {name} -> {renames[0].new} [{worst}]")
            continue
        parts: list[str] = []
        members = [f for f in group if f.member is not None]
        for sign, change in (("+", "added"), ("-", "removed")):
            parts += [f"{sign}{f.member}" for f in members if f.change == change]
        for f in members:
            if f.change == "renamed":
                parts += [f"-{f.member}", f"+{f.new}"]
        changed = {f.member for f in members if f.change == "changed"} - {
            f.member for f in members if f.change != "changed"
        }
        parts += [f"~{m}" for m in sorted(m for m in changed if m is not None)]
        for aspect in sorted({f.aspect or "content" for f in group if f.member is None}):
            if aspect != "enum":
                parts.append(aspect)
                continue
            for f in group:
                if f.aspect == "enum" and isinstance(f.old, list) and isinstance(f.new, list):
                    parts += [f"enum +{v!r}" for v in f.new if v not in f.old]
                    parts += [f"enum -{v!r}" for v in f.old if v not in f.new]
        parts = list(dict.fromkeys(parts))
        is_part = kind in ("endpoint", "schema") and name
        label = f"{kind} changed: {name}" if is_part else f"{subject} changed"
        lines.append(f"{label} ({', '.join(parts)}) [{worst}]")
    return lines
