"""The drift report, as text for a terminal, JSON for tools, or markdown for a pull request."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ._findings import CATEGORIES, Finding, exit_code, short

FORMATS = ("text", "json", "markdown")


def _counts(findings: Sequence[Finding]) -> str:
    return ", ".join(f"{sum(f.category == c for f in findings)} {c}" for c in CATEGORIES)


def _verdict(findings: Sequence[Finding]) -> str:
    return "breaking for flux2" if exit_code(findings) else "nothing breaking for flux2"


def render_report(findings: Sequence[Finding], *, candidate: str, baseline: str) -> str:
    """The readable report: findings grouped by class, each as ``where: old -> new``."""
    lines = [f"drift: {candidate} compared with {baseline}"]
    if not findings:
        lines.append("no differences")
    for category in CATEGORIES:
        group = [f for f in findings if f.category == category]
        if not group:
            continue
        lines.append("")
        lines.append(f"{category} ({len(group)}):")
        for finding in group:
            lines.append(f"  {finding.where()}")
            if category != "cosmetic":
                lines.append(f"      {finding.message}")
    lines += ["", f"{_counts(findings)}: {_verdict(findings)}"]
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> str:
    """The findings as a JSON list (:meth:`Finding.to_json`)."""
    return json.dumps([f.to_json() for f in findings], indent=2)


def _cell(text: str) -> str:
    """`text` safe in one cell of a markdown table."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def _change(finding: Finding) -> str:
    if finding.aspect == "enum" and isinstance(finding.old, list) and isinstance(finding.new, list):
        added = [f"+{v!r}" for v in finding.new if v not in finding.old]
        removed = [f"-{v!r}" for v in finding.old if v not in finding.new]
        return _cell(", ".join(added + removed) or "order")
    return f"{_cell(short(finding.old, 40))} → {_cell(short(finding.new, 40))}"


def render_markdown(findings: Sequence[Finding], *, candidate: str, baseline: str) -> str:
    """The report as markdown, for a pull request's description: one table per class."""
    verdict = _verdict(findings)
    head = "**Breaking for flux2**" if exit_code(findings) else "Nothing breaking for flux2"
    lines = [
        f"## API spec drift: {verdict}",
        "",
        f"`{_cell(candidate)}` compared with `{_cell(baseline)}`: {_counts(findings)}. {head}.",
    ]
    if not findings:
        lines += ["", "No differences."]
    for category in CATEGORIES:
        group = [f for f in findings if f.category == category]
        if not group:
            continue
        title = f"{category.capitalize()} ({len(group)})"
        if category == "cosmetic":
            lines += ["", f"<details><summary>{title}</summary>", ""]
            lines += [f"- `{_cell(f.location)}` {_cell(f.aspect)}" for f in group]
            lines += ["", "</details>"]
            continue
        lines += ["", f"### {title}", "", "| Where | Change | What it means for flux2 |"]
        lines.append("| --- | --- | --- |")
        for f in group:
            where = f"`{_cell(f.location)}`" + (f" {_cell(f.aspect)}" if f.aspect else "")
            lines.append(f"| {where} | {_change(f)} | {_cell(f.message)} |")
    return "\n".join(lines) + "\n"
