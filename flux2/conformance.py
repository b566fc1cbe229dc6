"""Response conformance: does an answer of the API match what the pinned spec promises?

Strict mode (``Client(strict=True)`` or ``FLUX2_STRICT=1``) hands every API answer to a
:class:`ResponseChecker`. Lenient parsing keeps working either way; the checker's job is to tell
the user, once per distinct deviation, that the live service sent something the spec does not
promise, e.g. a task status outside ``StatusResponse`` ([seen]: ``Reasoning``, ``Generating``)::

    GET /v1/get_result (HTTP 200): status 'Generating' is not in StatusResponse
    (allowed: 'Task not found', 'Pending', ...)

The validator covers the part of JSON Schema the BFL document uses (``type``, ``enum``,
``const``, ``required``, ``properties``, ``additionalProperties``, ``anyOf``/``oneOf``/
``allOf``, ``$ref``, ``items``, numeric and length bounds); ``format`` is not checked. It reads
schema nodes through :mod:`flux2._schema`, so it names types and checks ranges exactly as
request building and response parsing do.

Why not ``jsonschema``: strict mode is part of the core library, whose dependencies are httpx
and attrs; ``jsonschema`` (with ``referencing``, ``rpds-py`` and
``jsonschema-specifications``, one of them compiled) would become a third for a feature most
users never turn on, or strict mode would fail on installs without an extra. Its answers would
also differ from the rest of flux2 (it counts ``3.0`` as an integer, which request building and
parsing refuse), and its errors are not what this module reports: the one alternative of an
``anyOf`` the value was meant to match, enum names (``is not in StatusResponse``) and a stable
key per deviation so each is reported once. The subset is small and the suite holds it to
``jsonschema``'s verdicts on the pinned spec (``tests/contract/test_conformance.py``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

import attrs

from . import _schema
from .errors import Flux2Error

__all__ = [
    "ConformanceError",
    "Deviation",
    "Flux2ConformanceWarning",
    "ResponseChecker",
    "validate",
]

_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class Flux2ConformanceWarning(UserWarning):
    """An API answer deviates from the pinned spec (strict mode, ``on_deviation="warn"``)."""


class ConformanceError(Flux2Error):
    """An API answer deviates from the pinned spec (strict mode, ``on_deviation="error"``).

    ``deviations`` lists every deviation found in that answer; ``status_code`` and ``body`` are
    the answer itself, so a caller can still recover what it needs from it (a submission's
    task id, for one: the task exists and is billed whatever its answer looked like).
    """

    def __init__(
        self, deviations: list[Deviation], *, status_code: int | None = None, body: Any = None
    ) -> None:
        self.deviations = deviations
        self.status_code = status_code
        self.body = body
        super().__init__("; ".join(str(d) for d in deviations))


@attrs.frozen
class Deviation:
    """One place where an answer differs from the spec."""

    operation: str
    """``"GET /v1/get_result"``."""
    status_code: int
    field: str
    """Where in the body: ``"status"``, ``"result.sample"``, ``"detail[0].msg"``; ``""`` for
    the body itself."""
    value: Any
    reason: str
    """What the spec says instead: ``"is not in StatusResponse (allowed: ...)"``."""
    present: bool = True
    """False when the field is missing or the deviation concerns the answer as a whole."""
    key: tuple[str, ...] = attrs.field(eq=False, repr=False, default=())

    def __str__(self) -> str:
        head = f"{self.operation} (HTTP {self.status_code})"
        if not self.field and not self.present:
            return f"{head}: {self.reason}"
        where = self.field or "body"
        if self.present:
            where = f"{where} {_show(self.value)}"
        return f"{self.operation} (HTTP {self.status_code}): {where} {self.reason}"


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


@attrs.frozen
class _Error:
    path: tuple[str | int, ...]
    value: Any
    reason: str
    kind: str

    @property
    def field(self) -> str:
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


class _Validator:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, ref: str) -> tuple[Any, str]:
        target = _schema.resolve(self.document, {"$ref": ref}, lenient=True)
        return target, _schema.ref_name(ref)

    def errors(
        self, schema: Any, value: Any, path: tuple[str | int, ...], name: str = "", depth: int = 0
    ) -> Iterator[_Error]:
        if schema is True or not isinstance(schema, Mapping) or depth > 64:
            return
        if "$ref" in schema:
            target, ref_name = self.resolve(str(schema["$ref"]))
            yield from self.errors(target, value, path, ref_name, depth + 1)
        name = str(schema.get("title") or name) if "$ref" not in schema else name
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                yield from self.any_of(schema[key], value, path, name, depth)
        for branch in schema.get("allOf") or []:
            yield from self.errors(branch, value, path, name, depth + 1)
        allowed = _schema.declared_types(schema)
        if allowed and not any(_schema.has_type(value, kind) for kind in allowed):
            actual = _schema.json_type(value)
            says = " or ".join(allowed)
            yield _Error(path, value, f"is {actual}, the spec says {says}", f"type:{actual}")
            return
        if "enum" in schema and not any(_equal(value, v) for v in schema["enum"]):
            listed = ", ".join(_show(v) for v in schema["enum"])
            where = f"in {name}" if name else "an allowed value"
            yield _Error(path, value, f"is not {where} (allowed: {listed})", f"enum:{value!r}")
        if "const" in schema and not _equal(value, schema["const"]):
            yield _Error(path, value, f"is not {_show(schema['const'])}", f"const:{value!r}")
        yield from self.bounds(schema, value, path)
        if isinstance(value, dict):
            yield from self.object(schema, value, path, depth)
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                yield from self.errors(schema["items"], item, (*path, index), "", depth + 1)

    def any_of(
        self, branches: list[Any], value: Any, path: tuple[str | int, ...], name: str, depth: int
    ) -> Iterator[_Error]:
        results: list[list[_Error]] = []
        for branch in branches:
            found = list(self.errors(branch, value, path, name, depth + 1))
            if not found:
                return
            results.append(found)

        def wrong_type(found: list[_Error]) -> bool:
            return all(len(e.path) == len(path) and e.kind.startswith("type:") for e in found)

        # Report the branch whose type the value has: the one the sender most likely meant.
        meant = [found for found in results if not wrong_type(found)]
        if meant:
            yield from min(meant, key=len)
            return
        allowed: list[str] = []
        for branch in branches:
            target = _schema.resolve(self.document, branch, lenient=True)
            if isinstance(target, Mapping):
                allowed += [k for k in _schema.declared_types(target) if k not in allowed]
        says = " or ".join(allowed) if allowed else "something else"
        yield _Error(
            path,
            value,
            f"is {_schema.json_type(value)}, the spec says {says}",
            f"type:{_schema.json_type(value)}",
        )

    @staticmethod
    def bounds(
        schema: Mapping[str, Any], value: Any, path: tuple[str | int, ...]
    ) -> Iterator[_Error]:
        for key, sign, bound in _schema.broken_bounds(schema, value):
            yield _Error(path, value, f"is out of range (the spec says {sign} {bound})", key)

    def object(
        self,
        schema: Mapping[str, Any],
        value: dict[str, Any],
        path: tuple[str | int, ...],
        depth: int,
    ) -> Iterator[_Error]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for field in schema.get("required") or []:
            if field not in value:
                yield _Error((*path, field), None, "is missing (the spec requires it)", "missing")
        extra = schema.get("additionalProperties", True)
        for field, item in value.items():
            if field in properties:
                yield from self.errors(properties[field], item, (*path, field), "", depth + 1)
            elif extra is False:
                yield _Error((*path, field), item, "is not a field the spec declares", "extra")
            elif isinstance(extra, Mapping):
                yield from self.errors(extra, item, (*path, field), "", depth + 1)


def validate(document: Mapping[str, Any], schema: Any, value: Any) -> list[tuple[str, Any, str]]:
    """Every deviation of `value` from `schema` (resolved within `document`).

    Each is ``(field, value, reason)``; empty when the value conforms.
    """
    return [(e.field, e.value, e.reason) for e in _Validator(document).errors(schema, value, ())]


class ResponseChecker:
    """Checks API answers against the pinned spec; reports each distinct deviation once.

    ``on_deviation="warn"`` issues a :class:`Flux2ConformanceWarning` the first time a deviation
    is seen (the same field with the same kind of deviation on the same operation is not
    repeated); ``"error"`` raises :class:`ConformanceError` for every answer that deviates,
    since an error that fired only once would let the next such answer pass silently.
    """

    def __init__(
        self,
        on_deviation: Literal["warn", "error"] = "warn",
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        if on_deviation not in ("warn", "error"):
            raise ValueError(f"on_deviation must be 'warn' or 'error', not {on_deviation!r}")
        if spec is None:
            from ._spec import pinned_spec

            spec = pinned_spec()
        self.on_deviation = on_deviation
        self._spec = spec
        self._validator = _Validator(spec)
        self._seen: set[tuple[str, ...]] = set()
        self._operations: dict[tuple[str, str], Mapping[str, Any]] = {}
        paths = spec.get("paths")
        for path, item in (paths if isinstance(paths, Mapping) else {}).items():
            for method in _METHODS:
                operation = item.get(method) if isinstance(item, Mapping) else None
                if isinstance(operation, Mapping):
                    self._operations[(method.upper(), path)] = operation

    @property
    def reported(self) -> frozenset[tuple[str, ...]]:
        """Keys of the deviations reported so far."""
        return frozenset(self._seen)

    def deviations(
        self, method: str, path_template: str, status_code: int, body: Any
    ) -> list[Deviation]:
        """Every deviation of this answer from the spec, reported or not."""
        operation_name = f"{method.upper()} {path_template.split('?', 1)[0]}"
        operation = self._operations.get((method.upper(), path_template.split("?", 1)[0]))
        if operation is None:
            return [
                Deviation(
                    operation_name,
                    status_code,
                    "",
                    None,
                    "the pinned spec declares no such operation",
                    present=False,
                    key=("operation", operation_name),
                )
            ]
        responses = operation.get("responses")
        responses = responses if isinstance(responses, Mapping) else {}
        response = responses.get(str(status_code), responses.get("default"))
        if response is None:
            if 200 <= status_code < 300:
                documented = ", ".join(sorted(str(c) for c in responses))
                return [
                    Deviation(
                        operation_name,
                        status_code,
                        "",
                        None,
                        f"HTTP {status_code} is not a status the spec documents here "
                        f"(documented: {documented})",
                        present=False,
                        key=("status", operation_name, str(status_code)),
                    )
                ]
            # The spec documents only 200 and 422; the other error statuses (401, 402, 404,
            # 429, 5xx) are documented by BFL outside it [doc] and handled by the client.
            return []
        if "$ref" in response:
            response, _ = self._validator.resolve(str(response["$ref"]))
        content = response.get("content") if isinstance(response, Mapping) else None
        media = content.get("application/json") if isinstance(content, Mapping) else None
        if not isinstance(media, Mapping) or "schema" not in media:
            return []
        found = []
        for error in self._validator.errors(media["schema"], body, ()):
            shape = tuple("[]" if isinstance(p, int) else p for p in error.path)
            key = ("body", operation_name, str(status_code), *shape, error.kind)
            found.append(
                Deviation(
                    operation_name,
                    status_code,
                    error.field,
                    error.value,
                    error.reason,
                    present=error.kind != "missing",
                    key=key,
                )
            )
        return found

    def check(
        self, method: str, path_template: str, status_code: int, body: Any
    ) -> list[Deviation]:
        """Check one answer; warn about (or raise for) its deviations. Returns the new ones.

        `path_template` is the spec's path (``"/v1/flux-2-flex"``, ``"/v1/get_result"``), also
        for a regional ``polling_url``; `body` is the parsed JSON (or the raw text when the
        answer was not JSON).
        """
        found = self.deviations(method, path_template, status_code, body)
        new = [d for d in found if d.key not in self._seen]
        self._seen.update(d.key for d in found)
        if found and self.on_deviation == "error":
            raise ConformanceError(found, status_code=status_code, body=body)
        for deviation in new:
            warnings.warn(str(deviation), Flux2ConformanceWarning, stacklevel=3)
        return new
