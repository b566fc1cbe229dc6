"""The submit endpoints the emulator serves, read from the OpenAPI document it serves.

A submit endpoint is every ``POST`` operation with a JSON request body whose 200 answer can
carry a ``polling_url`` (``AsyncResponse``): FLUX.2, FLUX.1, Kontext, fill, expand, finetuned
ones and whatever a later spec adds. Their names, request schemas, defaults and image fields
come from the document, so a re-pinned spec is served without a code change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = ["Endpoint", "submit_endpoints"]

# Fields that carry an input image whose size and price count: FLUX.2's and Kontext's
# `input_image`, `input_image_2`..., and the source `image` of fill and expand.
_IMAGE_FIELD: Final = re.compile(r"^(?:input_)?image(?:_(?P<n>\d+))?$")
# FLUX.2 paths are named by their short model name (`/v1/flux-2-klein-4b` -> `klein-4b`),
# as the rest of flux2 names them; other endpoints by their path.
_FLUX2_PREFIX: Final = "flux-2-"


@dataclass(frozen=True)
class Endpoint:
    """One submit operation of the spec."""

    name: str
    path: str
    request_schema: str
    properties: frozenset[str]
    defaults: Mapping[str, Any]
    """Each property's declared default."""
    image_fields: tuple[str, ...]

    def default(self, name: str, fallback: Any = None) -> Any:
        value = self.defaults.get(name)
        return fallback if value is None else value


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    for _ in range(32):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def _answers_with_polling_url(document: Mapping[str, Any], operation: Mapping[str, Any]) -> bool:
    answer = operation.get("responses", {}).get("200", {})
    schema = _resolve(document, answer.get("content", {}).get("application/json", {}).get("schema"))
    if not isinstance(schema, dict):
        return False
    branches = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(
        "polling_url" in _resolve(document, branch).get("properties", {})
        for branch in branches
        if isinstance(_resolve(document, branch), dict)
    )


def _image_order(name: str) -> int:
    match = _IMAGE_FIELD.match(name)
    return int(match.group("n") or 1) if match else 0


def submit_endpoints(document: Mapping[str, Any]) -> dict[str, Endpoint]:
    """Every submit endpoint of ``document``, keyed by path."""
    found: dict[str, Endpoint] = {}
    for path, item in sorted(document.get("paths", {}).items()):
        operation = item.get("post") if isinstance(item, dict) else None
        if not isinstance(operation, dict) or not _answers_with_polling_url(document, operation):
            continue
        content = operation.get("requestBody", {}).get("content", {})
        reference = content.get("application/json", {}).get("schema", {}).get("$ref")
        if not isinstance(reference, str):
            continue
        schema = _resolve(document, {"$ref": reference})
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        short = path.removeprefix("/v1/")
        found[path] = Endpoint(
            name=short.removeprefix(_FLUX2_PREFIX),
            path=path,
            request_schema=reference.rsplit("/", 1)[-1],
            properties=frozenset(properties),
            defaults=MappingProxyType(
                {k: v["default"] for k, v in properties.items() if "default" in v}
            ),
            image_fields=tuple(
                sorted((n for n in properties if _IMAGE_FIELD.match(n)), key=_image_order)
            ),
        )
    return found
