"""The pinned BFL OpenAPI document, as shipped with the package.

An installed wheel carries it as ``flux2/_data/openapi.json`` (built from ``openapi/openapi.json``);
a source checkout reads ``openapi/openapi.json`` directly. Either way there is one copy.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGED = Path(__file__).resolve().parent / "_data" / "openapi.json"
_CHECKOUT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def pinned_spec_path() -> Path:
    """Where the pinned spec is read from."""
    if _PACKAGED.exists():
        return _PACKAGED
    if _CHECKOUT.exists():
        return _CHECKOUT
    raise FileNotFoundError(
        "flux2's pinned OpenAPI document is missing: reinstall flux2, or in a source checkout "
        "run scripts/regenerate"
    )


@cache
def pinned_spec() -> dict[str, Any]:
    """The pinned document, parsed once. Callers must not mutate it."""
    document: dict[str, Any] = json.loads(pinned_spec_path().read_text(encoding="utf-8"))
    return document
