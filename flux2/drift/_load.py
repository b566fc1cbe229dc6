"""Reading a document to compare, from a URL or a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

LIVE_SPEC_URL: Final = "https://api.bfl.ai/openapi.json"
FETCH_TIMEOUT: Final = 30.0


class DriftInputError(Exception):
    """A document could not be read or is not an OpenAPI document; one line."""


def load_document(source: str | Path, *, timeout: float = FETCH_TIMEOUT) -> dict[str, Any]:
    """Read an OpenAPI document from a URL or a path; raise DriftInputError saying why not."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(text, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise DriftInputError(
                f"could not fetch {text}: HTTP {exc.response.status_code}; "
                "use --spec PATH to check a saved copy"
            ) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise DriftInputError(
                f"could not fetch {text}: {reason}; use --spec PATH to check a saved copy"
            ) from None
        raw = response.content
    else:
        try:
            raw = Path(text).read_bytes()
        except OSError as exc:
            raise DriftInputError(f"could not read {text}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DriftInputError(f"{text} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise DriftInputError(f"{text} is not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    if not isinstance(document.get("paths"), dict):
        raise DriftInputError(f"{text} is not an OpenAPI document: 'paths' is not an object")
    return document
