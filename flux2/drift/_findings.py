"""A finding: one difference between two specs and what it means for flux2."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final, Literal

import attrs

Category = Literal["breaking", "additive", "cosmetic"]
CATEGORIES: Final[tuple[Category, ...]] = ("breaking", "additive", "cosmetic")
MISSING: Final[Any] = object()
"""Where one side has no value at all (as opposed to ``null``)."""


def short(value: Any, limit: int = 70) -> str:
    if value is MISSING or value is None:
        return "(absent)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listing(items: Iterable[str], limit: int = 4) -> str:
    names = list(dict.fromkeys(items))
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def jsonable(value: Any) -> Any:
    return None if value is MISSING else value


@attrs.frozen
class Finding:
    """One difference between two specs and what it means for flux2.

    ``category`` is the class (``"breaking"``, ``"additive"`` or ``"cosmetic"``; ``class`` in
    JSON). ``location`` names the operation, schema or field; ``aspect`` what about it changed
    (``"field"``, ``"enum"``, ``"maximum"``, ``"description"`` ...). ``old`` and ``new`` are
    JSON values, ``None`` where one side has nothing. ``subject``, ``member`` and ``change``
    group findings for a short summary (:func:`summarize_changes`).
    """

    category: Category
    location: str
    aspect: str
    old: Any
    new: Any
    message: str
    affects_flux2: bool = True
    subject: str = ""
    member: str | None = None
    change: str = "changed"
    rule: str = ""
    """The rule of :data:`flux2.drift._rules.RULES` that classified it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.category,
            "location": self.location,
            "aspect": self.aspect,
            "old": jsonable(self.old),
            "new": jsonable(self.new),
            "message": self.message,
            "affects_flux2": self.affects_flux2,
            "rule": self.rule,
        }

    def where(self) -> str:
        """``location aspect: old -> new``, shortened for a terminal."""
        head = self.location if self.aspect in ("", "field") else f"{self.location} {self.aspect}"
        if self.aspect == "enum" and isinstance(self.old, list) and isinstance(self.new, list):
            changes = [f"+{v!r}" for v in self.new if v not in self.old]
            changes += [f"-{v!r}" for v in self.old if v not in self.new]
            return (
                f"{head}: {len(self.old)} values -> {len(self.new)} values ({', '.join(changes)})"
            )
        return f"{head}: {short(self.old)} -> {short(self.new)}"


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing is breaking, 1 otherwise."""
    return 1 if any(f.category == "breaking" for f in findings) else 0
