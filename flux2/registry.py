"""The FLUX.2 models, read from the pinned OpenAPI document.

Every FLUX.2 submit operation in the spec (``POST /v1/flux-2-*``) becomes a :class:`Model`:
its endpoint, its request schema and each request parameter with the type, range, enum and
default the spec declares. Nothing here is typed in by hand, so a regenerated spec changes the
registry without code changes; ``tests/contract`` holds the two equal.

    >>> from flux2.registry import get_model
    >>> get_model("flex").params["steps"].maximum
    50.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

import attrs

from . import _schema
from ._model_name import short_model_name
from ._spec import pinned_spec
from .errors import UnknownModelError

__all__ = [
    "DEFAULT_MODEL",
    "Model",
    "Param",
    "UnknownModelError",
    "all_models",
    "get_model",
    "models_from_spec",
]

DEFAULT_MODEL = "flex"
_SUBMIT_PATH = re.compile(r"^/v1/(?P<endpoint>flux-2-(?P<name>[a-z0-9][a-z0-9.-]*))$")
_IMAGE_SLOT = re.compile(r"^input_image(?:_(?P<n>\d+))?$")


@attrs.frozen
class Param:
    """One request parameter of a model, as the spec declares it.

    ``types`` are the JSON types accepted besides ``null`` (``"string"``, ``"integer"``,
    ``"number"``, ``"boolean"``); ``nullable`` says whether ``null`` is accepted too.
    """

    name: str
    types: tuple[str, ...]
    nullable: bool
    required: bool
    description: str = ""
    default: Any = None
    has_default: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] | None = None
    format: str | None = None

    @property
    def bounds(self) -> dict[str, Any]:
        """The range and length bounds it declares, keyed by their JSON Schema keyword."""
        return {
            key: value
            for key, value in (
                ("minimum", self.minimum),
                ("maximum", self.maximum),
                ("exclusiveMinimum", self.exclusive_minimum),
                ("exclusiveMaximum", self.exclusive_maximum),
                ("minLength", self.min_length),
                ("maxLength", self.max_length),
            )
            if value is not None
        }

    def describe_allowed(self) -> str:
        """What the spec allows, in words: ``"an integer from 1 to 50"``."""
        if self.enum is not None:
            return "one of " + ", ".join(repr(v) for v in self.enum)
        kind = " or ".join(_ARTICLE.get(t, t) for t in self.types) or "any value"
        bounds = []
        if self.minimum is not None and self.maximum is not None:
            bounds.append(f"from {_num(self.minimum)} to {_num(self.maximum)}")
        elif self.minimum is not None:
            bounds.append(f">= {_num(self.minimum)}")
        elif self.maximum is not None:
            bounds.append(f"<= {_num(self.maximum)}")
        if self.exclusive_minimum is not None:
            bounds.append(f"> {_num(self.exclusive_minimum)}")
        if self.exclusive_maximum is not None:
            bounds.append(f"< {_num(self.exclusive_maximum)}")
        if self.min_length is not None or self.max_length is not None:
            low = self.min_length if self.min_length is not None else 0
            high = self.max_length if self.max_length is not None else "any"
            bounds.append(f"of length {low} to {high}")
        if self.format:
            bounds.append(f"in {self.format} format")
        text = " ".join([kind, *bounds])
        return f"{text} or null" if self.nullable else text


_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class Model:
    """A FLUX.2 model: where to submit and what its request accepts."""

    name: str
    """Short name, e.g. ``"flex"`` or ``"klein-9b-preview"``."""
    endpoint: str
    """Endpoint name, e.g. ``"flux-2-flex"``."""
    path: str
    """Submit path, e.g. ``"/v1/flux-2-flex"``."""
    operation_id: str
    request_schema: str
    """Name of the request schema in the spec, e.g. ``"Flux2FlexInputs"``."""
    params: Mapping[str, Param]
    """Every request parameter, keyed by its wire name (``prompt`` included)."""
    image_slots: tuple[str, ...]
    """The input-image fields in order: ``input_image``, ``input_image_2``, ..."""
    summary: str = ""

    @property
    def max_images(self) -> int:
        """How many input images the model takes."""
        return len(self.image_slots)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(name for name, p in self.params.items() if p.required)

    @property
    def options(self) -> Mapping[str, Param]:
        """Parameters other than ``prompt`` and the image slots: what callers set by keyword."""
        return MappingProxyType(
            {
                name: p
                for name, p in self.params.items()
                if name != "prompt" and name not in self.image_slots
            }
        )


def _param(document: dict[str, Any], name: str, schema: dict[str, Any], required: bool) -> Param:
    """A property schema read as a Param (alternatives merged by :func:`flux2._schema.flatten`)."""
    flat = _schema.flatten(document, schema)
    constraints = flat.constraints
    return Param(
        name=name,
        types=flat.types,
        nullable=flat.nullable,
        required=required,
        description=str(schema.get("description", "")),
        default=schema.get("default"),
        has_default="default" in schema,
        minimum=constraints.get("minimum"),
        maximum=constraints.get("maximum"),
        exclusive_minimum=constraints.get("exclusiveMinimum"),
        exclusive_maximum=constraints.get("exclusiveMaximum"),
        min_length=constraints.get("minLength"),
        max_length=constraints.get("maxLength"),
        enum=flat.enum,
        format=constraints.get("format"),
    )


def _slot_order(name: str) -> int:
    match = _IMAGE_SLOT.match(name)
    assert match is not None
    return int(match.group("n") or 1)


def models_from_spec(document: dict[str, Any]) -> dict[str, Model]:
    """Every FLUX.2 submit operation of `document`, keyed by short name, in path order."""
    models: dict[str, Model] = {}
    for path, item in sorted(document.get("paths", {}).items()):
        match = _SUBMIT_PATH.match(path)
        operation = item.get("post") if isinstance(item, dict) else None
        if match is None or not isinstance(operation, dict):
            continue
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = body.get("schema", {}).get("$ref", "")
        schema = _schema.resolve(document, body.get("schema", {}))
        required = set(schema.get("required", []))
        params = {
            name: _param(document, name, prop, name in required)
            for name, prop in schema.get("properties", {}).items()
        }
        slots = sorted((n for n in params if _IMAGE_SLOT.match(n)), key=_slot_order)
        models[match.group("name")] = Model(
            name=match.group("name"),
            endpoint=match.group("endpoint"),
            path=path,
            operation_id=str(operation.get("operationId", "")),
            request_schema=ref.rsplit("/", 1)[-1] if ref else str(schema.get("title", "")),
            params=MappingProxyType(params),
            image_slots=tuple(slots),
            summary=str(operation.get("summary", "")),
        )
    return models


@cache
def _pinned_models() -> dict[str, Model]:
    return models_from_spec(pinned_spec())


def all_models() -> Mapping[str, Model]:
    """The models of the pinned spec, keyed by short name."""
    return MappingProxyType(_pinned_models())


def get_model(name: str | Model) -> Model:
    """Look a model up by short name (``"flex"``) or endpoint name (``"flux-2-flex"``).

    Raises :class:`flux2.UnknownModelError` (an ``InputError`` and ``ValueError``) listing the
    valid names.
    """
    if isinstance(name, Model):
        return name
    models = _pinned_models()
    model = models.get(short_model_name(name))
    if model is None:
        raise UnknownModelError(name, list(models))
    return model
