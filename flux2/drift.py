"""Spec drift: what changed between two BFL OpenAPI documents, and what it means for flux2.

BFL changes its API without notice and the service silently ignores request fields it no
longer knows [seen], so a renamed field is a silent no-op that users pay for. This module
compares a candidate document (by default the live one) with a baseline (by default the pinned
one) and judges every difference against what flux2 relies on:

- the model registry built from the baseline (:func:`flux2.registry.models_from_spec`): the
  FLUX.2 submit endpoints, their request schemas and every parameter's types, range, enum and
  default. flux2 sends a parameter only when the caller sets it, and only if that registry has
  it, so every field of a FLUX.2 request schema in the baseline is one flux2 may send;
- the response fields it reads, the task statuses it knows and the header that carries the key,
  declared once in :mod:`flux2._wire`;
- the server each operation is served from.

Each difference becomes a :class:`Finding` in one of three classes:

breaking
    flux2 built against the baseline would misbehave: an endpoint or request field it uses
    removed or renamed; a range or enum it sends narrowed; a new required request field; a
    response field it reads removed, retyped or no longer promised; a task status it does not
    know; the auth scheme changed; a default it documents changed; an operation it calls moved
    to another server.
additive
    the API offers more and asks nothing of flux2: a new endpoint (a model flux2 could offer), a
    new optional field, a loosened range, a new enum value in a request field. A real change on
    a part of the API flux2 does not use (FLUX.1, Kontext, finetuning, response fields it does
    not read) is reported here too, with a message saying why it is not breaking for flux2.
cosmetic
    descriptions, summaries, examples, titles, vendor extensions (``x-*``), schema names that
    are not on the wire. Key order and whitespace are not differences at all: both documents
    are compared parsed.

Command line (``scripts/check_drift``, ``flux2 drift``)::

    check_drift [--spec URL_OR_PATH] [--against PATH] [--json] [--control]

exits 0 when nothing is breaking, 1 when something is, 2 when it could not run. ``--control``
seeds known drift into copies of the baseline and fails unless each is found and classified as
expected, proving the check can fail.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, TextIO

import attrs

from . import _schema, _wire
from ._spec import pinned_spec, pinned_spec_path
from .registry import Model, models_from_spec

__all__ = [
    "LIVE_SPEC_URL",
    "ControlResult",
    "DriftInputError",
    "Finding",
    "compare",
    "exit_code",
    "load_document",
    "main",
    "render_report",
    "run_control",
    "summarize_changes",
]

Category = Literal["breaking", "additive", "cosmetic"]
CATEGORIES: Final[tuple[Category, ...]] = ("breaking", "additive", "cosmetic")
LIVE_SPEC_URL: Final = "https://api.bfl.ai/openapi.json"
FETCH_TIMEOUT: Final = 30.0

_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_TEXT_KEYS: Final = frozenset(
    {"title", "description", "summary", "example", "examples", "externalDocs", "$comment"}
)
_LOWER_BOUNDS: Final = _schema.LOWER_BOUNDS
_UPPER_BOUNDS: Final = _schema.UPPER_BOUNDS
# Adding or changing one of these narrows what a value may be; removing one widens it.
_NARROWING: Final = (
    "format",
    "pattern",
    "const",
    "multipleOf",
    "uniqueItems",
    "contentEncoding",
    "contentMediaType",
)
_OBJECT_KEYS: Final = ("properties", "required", "additionalProperties", "patternProperties")
_TYPE_BEARING: Final = frozenset(
    {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items", "not"}
)
_SECURITY_KEYS: Final = (
    "type",
    "in",
    "name",
    "scheme",
    "bearerFormat",
    "flows",
    "openIdConnectUrl",
)
_MISSING: Final[Any] = object()


def _is_text(key: str) -> bool:
    return key in _TEXT_KEYS or key.startswith("x-")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 64 equals 64.0, but true does not equal 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _without_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_text(v) for k, v in node.items() if not _is_text(k)}
    if isinstance(node, list):
        return [_without_text(v) for v in node]
    return node


def _short(value: Any, limit: int = 70) -> str:
    if value is _MISSING or value is None:
        return "(absent)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(items: Iterable[str], limit: int = 4) -> str:
    names = list(dict.fromkeys(items))
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _jsonable(value: Any) -> Any:
    return None if value is _MISSING else value


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

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.category,
            "location": self.location,
            "aspect": self.aspect,
            "old": _jsonable(self.old),
            "new": _jsonable(self.new),
            "message": self.message,
            "affects_flux2": self.affects_flux2,
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
        return f"{head}: {_short(self.old)} -> {_short(self.new)}"


@attrs.frozen
class _Scope:
    """Who uses a node of the spec, and how flux2 relies on it."""

    role: Literal["request", "response"]
    affects: bool
    """True when an operation flux2 calls sends or returns this node."""
    subject: str
    models: tuple[str, ...] = ()
    """FLUX.2 endpoints (of the baseline registry) whose requests carry it."""
    outside: tuple[str, ...] = ()
    """Operations flux2 does not call that use it."""
    read_fields: Mapping[str, str] | None = None
    """For an object flux2 reads: the fields it reads and their JSON types (flux2._wire)."""
    read_type: str | None = None
    """For a value flux2 reads: the JSON type it expects."""
    required: bool = False
    status: bool = False
    """A task status: new values are judged against flux2._wire.STATUS_MEANINGS."""
    member: str | None = None
    field: str | None = None

    def child(self, field: str, read_type: str | None, required: bool) -> _Scope:
        return attrs.evolve(
            self,
            read_fields=None,
            read_type=read_type,
            required=required,
            status=read_type is not None and field == "status",
            member=self.member if self.member is not None else field,
            field=field,
        )


@attrs.define
class _Facts:
    """A schema node flattened: ``anyOf`` branches merged, types and constraints collected."""

    types: set[str] = attrs.Factory(set)
    enum: list[Any] | None = None
    bounds: dict[str, Any] = attrs.Factory(dict)
    narrowing: dict[str, Any] = attrs.Factory(dict)
    refs: set[str] = attrs.Factory(set)
    properties: dict[str, Any] = attrs.Factory(dict)
    required: set[str] = attrs.Factory(set)
    extra: dict[str, Any] = attrs.Factory(dict)
    """additionalProperties / patternProperties."""
    has_object: bool = False
    items: list[Any] = attrs.Factory(list)
    other: dict[str, Any] = attrs.Factory(dict)
    texts: dict[str, Any] = attrs.Factory(dict)
    default: Any = _MISSING
    deprecated: bool = False


def _deref(document: Mapping[str, Any], node: Any) -> Any:
    return _schema.resolve(document, node, lenient=True)


def _facts(document: Mapping[str, Any], node: Any, fold: bool) -> _Facts:
    facts = _Facts()
    _collect(document, node, facts, fold, 0, in_ref=False)
    if facts.enum is not None and not (facts.types - {"any"}):
        facts.types.discard("any")
        facts.types.update(_schema.json_type(v) for v in facts.enum)
    return facts


def _collect(  # noqa: PLR0917
    document: Mapping[str, Any], node: Any, facts: _Facts, fold: bool, depth: int, in_ref: bool
) -> None:
    if node is True or node == {}:
        facts.types.add("any")
        return
    if not isinstance(node, dict) or depth > 24:
        return
    top = depth == 0
    if "$ref" in node:
        facts.refs.add(str(node["$ref"]))
        if fold:
            target = _deref(document, {"$ref": node["$ref"]})
            _collect(document, target, facts, fold, depth + 1, True)
    if not _TYPE_BEARING & node.keys():
        facts.types.add("any")
    if any(k in node for k in _OBJECT_KEYS):
        facts.has_object = True
    for key, value in node.items():
        if key == "$ref":
            continue
        if key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            for branch in value:
                _collect(document, branch, facts, fold, depth + 1, in_ref)
        elif key == "type":
            facts.types.update(value if isinstance(value, list) else [value])
        elif key == "nullable":
            if value:
                facts.types.add("null")
        elif key == "enum" and isinstance(value, list):
            known = facts.enum or []
            facts.enum = [*known, *[v for v in value if not any(_same(v, k) for k in known)]]
        elif key in _LOWER_BOUNDS or key in _UPPER_BOUNDS:
            facts.bounds.setdefault(key, value)
        elif key in _NARROWING:
            facts.narrowing.setdefault(key, value)
        elif key == "properties" and isinstance(value, dict):
            for name, prop in value.items():
                facts.properties.setdefault(name, prop)
        elif key == "required" and isinstance(value, list):
            facts.required.update(str(v) for v in value)
        elif key in _OBJECT_KEYS:
            facts.extra.setdefault(key, value)
        elif key == "items":
            facts.items.append(value)
        elif key == "default":
            if facts.default is _MISSING and (top or not in_ref):
                facts.default = value
        elif key == "deprecated":
            facts.deprecated = facts.deprecated or bool(value)
        elif _is_text(key):
            if not in_ref:
                facts.texts[key if top else f"{key} (of an alternative)"] = value
        elif not in_ref or top:
            facts.other.setdefault(key, value)


def _types_text(types: Iterable[str]) -> str:
    order = ["string", "integer", "number", "boolean", "object", "array", "any", "null"]
    return " | ".join(sorted(types, key=lambda t: (order.index(t) if t in order else 99, t)))


def _compatible(expected: str, types: set[str], nullable_ok: bool) -> bool:
    """Whether every type of the candidate is one flux2 reads as `expected`."""
    if expected == "any":
        return True
    allowed = {expected, "integer"} if expected == "number" else {expected}
    if nullable_ok:
        allowed.add("null")
    return bool(types) and types <= allowed


def _describe_scheme(scheme: Any) -> str:
    if not isinstance(scheme, dict):
        return "(absent)"
    kind = scheme.get("type")
    if kind == "apiKey":
        return f"API key in {scheme.get('in')} {scheme.get('name')!r}"
    if kind == "http":
        return f"HTTP {scheme.get('scheme')} (Authorization header)"
    return str(kind)


def _flux2_can_send(scheme: Any) -> bool:
    return (
        isinstance(scheme, dict)
        and scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == _wire.AUTH_HEADER.lower()
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@attrs.frozen
class _Operation:
    label: str
    path: str
    method: str
    item: dict[str, Any]
    op: dict[str, Any]


def _operations(document: Mapping[str, Any]) -> dict[str, _Operation]:
    found: dict[str, _Operation] = {}
    for path, item in _dict(document.get("paths")).items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                label = f"{method.upper()} {path}"
                found[label] = _Operation(label, path, method, item, op)
    return found


def _parameters(document: Mapping[str, Any], operation: _Operation) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for raw in [*(operation.item.get("parameters") or []), *(operation.op.get("parameters") or [])]:
        param = _deref(document, raw)
        if isinstance(param, dict) and "name" in param:
            merged[f"{param.get('in', 'query')} {param['name']}"] = param
    return merged


def _response_schemas(operation: _Operation) -> Iterable[Any]:
    for response in _dict(operation.op.get("responses")).values():
        for media in _dict(_dict(response).get("content")).values():
            yield _dict(media).get("schema")


def _request_schemas(document: Mapping[str, Any], operation: _Operation) -> Iterable[Any]:
    body = _deref(document, operation.op.get("requestBody"))
    for media in _dict(_dict(body).get("content")).values():
        yield _dict(media).get("schema")
    for param in _parameters(document, operation).values():
        yield param.get("schema")


def _schema_refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                found.add(_schema.ref_name(ref))
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def _reachable(document: Mapping[str, Any], roots: Iterable[Any]) -> set[str]:
    schemas = _dict(_dict(document.get("components")).get("schemas"))
    seen: set[str] = set()
    todo = set().union(*(_schema_refs(r) for r in roots))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo |= _schema_refs(schemas.get(name)) - seen
    return seen


class _Comparison:
    """One comparison of a candidate document with a baseline."""

    def __init__(self, candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> None:
        self.new = candidate
        self.old = baseline
        self.findings: list[Finding] = []
        try:
            self.models: dict[str, Model] = models_from_spec(dict(baseline))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DriftInputError(
                f"the baseline's FLUX.2 models cannot be read ({type(exc).__name__}: {exc})"
            ) from None
        self.model_of = {f"POST {m.path}": m.endpoint for m in self.models.values()}
        self.used = {
            *self.model_of,
            f"GET {_wire.RESULT_PATH}",
            f"GET {_wire.CREDITS_PATH}",
        }
        self.old_ops = _operations(baseline)
        self.new_ops = _operations(candidate)
        self.users: dict[str, set[tuple[str, str]]] = {}
        for document, ops in ((baseline, self.old_ops), (candidate, self.new_ops)):
            for operation in ops.values():
                for role, roots in (
                    ("request", _request_schemas(document, operation)),
                    ("response", _response_schemas(operation)),
                ):
                    for name in _reachable(document, roots):
                        self.users.setdefault(name, set()).add((operation.label, role))
        # The fields that refer to each named schema (OutputFormat <- Flux2Inputs.output_format).
        self.referrers: dict[str, set[str]] = {}
        for document in (baseline, candidate):
            schemas = _dict(_dict(document.get("components")).get("schemas"))
            for schema in schemas.values():
                for field, prop in _dict(_dict(schema).get("properties")).items():
                    for ref in _schema_refs(prop):
                        self.referrers.setdefault(ref, set()).add(field)
        # Named schemas behind a field flux2 reads (StatusResponse behind ResultResponse.status).
        self.read_refs: dict[str, tuple[str, str, bool]] = {}
        for document in (baseline, candidate):
            schemas = _dict(_dict(document.get("components")).get("schemas"))
            for schema_name, fields in _wire.RESPONSE_FIELDS.items():
                schema = _dict(schemas.get(schema_name))
                required = set(schema.get("required") or [])
                for field, kind in fields.items():
                    prop = _dict(schema.get("properties")).get(field)
                    for ref in _schema_refs(prop):
                        self.read_refs.setdefault(
                            ref, (f"{schema_name}.{field}", kind, field in required)
                        )

    # -- emitting ---------------------------------------------------------------------------

    def emit(  # noqa: PLR0917
        self,
        scope: _Scope,
        nature: Category,
        location: str,
        aspect: str,
        old: Any,
        new: Any,
        message: str,
        *,
        change: str = "changed",
        member: str | None = _MISSING,
    ) -> None:
        category: Category = nature
        if nature != "cosmetic" and not scope.affects:
            category = "additive"
            if scope.outside:
                note = f"flux2 does not call {_listing(scope.outside, 3)}"
            else:
                note = "no operation flux2 calls uses it"
            prefix = "not breaking for flux2: " if nature == "breaking" else ""
            message = f"{message}; {prefix}{note}"
        self.findings.append(
            Finding(
                category=category,
                location=location,
                aspect=aspect,
                old=_jsonable(old),
                new=_jsonable(new),
                message=message,
                affects_flux2=scope.affects and nature != "cosmetic",
                subject=scope.subject,
                member=scope.member if member is _MISSING else member,
                change=change,
            )
        )

    def scope_of_schema(self, name: str) -> _Scope:
        users = self.users.get(name, set())
        flux2 = sorted({label for label, _ in users if label in self.used})
        outside = tuple(sorted({label for label, _ in users if label not in self.used}))
        request = [label for label, role in users if role == "request" and label in self.used]
        response = [label for label, role in users if role == "response" and label in self.used]
        models = tuple(
            sorted({self.model_of[label] for label in request if label in self.model_of})
        )
        role: Literal["request", "response"] = (
            "request"
            if request or (not response and any(r == "request" for _, r in users))
            else "response"
        )
        read_fields = _wire.RESPONSE_FIELDS.get(name) if role == "response" else None
        via = self.read_refs.get(name) if role == "response" else None
        return _Scope(
            role=role,
            affects=bool(flux2),
            subject=f"schema {name}",
            models=models,
            outside=outside,
            read_fields=read_fields,
            read_type=via[1] if via else None,
            required=via[2] if via else False,
            status=via is not None and via[0].endswith(".status"),
            field=via[0] if via else (_listing(sorted(self.referrers.get(name, ()))) or None),
        )

    def scope_of_operation(self, label: str, role: Literal["request", "response"]) -> _Scope:
        used = label in self.used
        return _Scope(
            role=role,
            affects=used,
            subject=f"endpoint {label}",
            models=(self.model_of[label],) if label in self.model_of else (),
            outside=() if used else (label,),
        )

    # -- the whole document -----------------------------------------------------------------

    def run(self) -> list[Finding]:
        self.document_level()
        self.servers()
        self.security()
        self.operations()
        self.schemas()
        order = {c: i for i, c in enumerate(CATEGORIES)}
        return sorted(self.findings, key=lambda f: (order[f.category], f.location, f.aspect))

    def document_level(self) -> None:
        scope = _Scope(role="request", affects=False, subject="document")
        handled = {"paths", "components", "servers", "security"}
        for key in sorted((self.old.keys() | self.new.keys()) - handled):
            old, new = self.old.get(key, _MISSING), self.new.get(key, _MISSING)
            if old is not _MISSING and new is not _MISSING and _same(old, new):
                continue
            if key in ("info", "tags", "openapi", "jsonSchemaDialect") or _is_text(key):
                self.text_diff(scope, key, old, new)
            else:
                self.emit(scope, "additive", key, "", old, new, f"{key} changed")
        components = (
            _dict(self.old.get("components")).keys() | _dict(self.new.get("components")).keys()
        )
        for section in sorted(components - {"schemas", "securitySchemes"}):
            old = _dict(self.old.get("components")).get(section, _MISSING)
            new = _dict(self.new.get("components")).get(section, _MISSING)
            if old is _MISSING or new is _MISSING or not _same(old, new):
                self.emit(
                    scope,
                    "cosmetic",
                    f"components.{section}",
                    "",
                    old,
                    new,
                    "shared definitions changed; what uses them is compared where it is used",
                )

    def text_diff(self, scope: _Scope, location: str, old: Any, new: Any) -> None:
        """Report a text-only part (info, tags, descriptions) as cosmetic, key by key."""
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(old.keys() | new.keys()):
                o, n = old.get(key, _MISSING), new.get(key, _MISSING)
                if o is _MISSING or n is _MISSING or not _same(o, n):
                    self.emit(scope, "cosmetic", location, key, o, n, f"{key} changed")
            return
        self.emit(scope, "cosmetic", location, "", old, new, f"{location} changed")

    # -- servers and auth --------------------------------------------------------------------

    @staticmethod
    def _urls(servers: Any) -> list[str]:
        return [str(s.get("url")) for s in servers or [] if isinstance(s, dict)]

    @staticmethod
    def _own(operation: _Operation | None, key: str) -> Any:
        if operation is None:
            return _MISSING
        if key in operation.op:
            return operation.op[key]
        return operation.item.get(key, _MISSING) if key == "servers" else _MISSING

    def servers(self) -> None:
        old_doc, new_doc = self.old.get("servers"), self.new.get("servers")
        old_urls, new_urls = self._urls(old_doc), self._urls(new_doc)
        base = old_urls[0] if old_urls else "(none)"
        if old_urls != new_urls:
            inheriting = [
                label
                for label, op in self.new_ops.items()
                if self._own(op, "servers") is _MISSING and label in self.used
            ]
            scope = _Scope(
                role="request", affects=bool(inheriting), subject="servers", outside=("others",)
            )
            self.emit(
                scope,
                "breaking",
                "servers",
                "url",
                old_urls,
                new_urls,
                f"the document's server changed; flux2 sends {_listing(inheriting, 3) or 'nothing'}"
                f" to its base URL ({base})",
            )
        elif not _same(old_doc, new_doc):
            scope = _Scope(role="request", affects=False, subject="servers")
            self.emit(scope, "cosmetic", "servers", "description", old_doc, new_doc, "changed")
        for label in sorted(self.old_ops.keys() & self.new_ops.keys()):
            old_own = self._own(self.old_ops[label], "servers")
            new_own = self._own(self.new_ops[label], "servers")
            if old_own is _MISSING and new_own is _MISSING:
                continue
            old_eff = self._urls(old_doc if old_own is _MISSING else old_own)
            new_eff = self._urls(new_doc if new_own is _MISSING else new_own)
            scope = self.scope_of_operation(label, "request")
            if old_eff != new_eff:
                self.emit(
                    scope,
                    "breaking",
                    label,
                    "servers",
                    old_eff,
                    new_eff,
                    f"the operation is served from {_listing(new_eff) or 'the base server'}; "
                    f"flux2 sends it to {_listing(old_eff)}",
                )
            elif not _same(old_own, new_own):
                self.emit(scope, "cosmetic", label, "servers", old_own, new_own, "server text")

    @staticmethod
    def _alternatives(requirement: Any) -> set[frozenset[str]]:
        if not isinstance(requirement, list):
            return set()
        return {frozenset(r) for r in requirement if isinstance(r, dict)}

    def _requirement_nature(self, new_req: Any) -> tuple[Category, str]:
        schemes = _dict(_dict(self.new.get("components")).get("securitySchemes"))
        alternatives = self._alternatives(new_req)
        if not alternatives or frozenset() in alternatives:
            return (
                "additive",
                "the candidate declares no auth requirement here; flux2 still sends its key in "
                f"{_wire.AUTH_HEADER!r}, which BFL documents for every call [doc]",
            )
        if any(all(_flux2_can_send(schemes.get(s)) for s in alt) for alt in alternatives):
            return "additive", f"flux2 already sends its key in {_wire.AUTH_HEADER!r}"
        wanted = _listing(
            " + ".join(_describe_scheme(schemes.get(s)) for s in sorted(alt))
            for alt in alternatives
        )
        return (
            "breaking",
            f"the candidate requires {wanted}; flux2 authenticates only with header "
            f"{_wire.AUTH_HEADER!r}, so these calls would be refused (401/403)",
        )

    def security(self) -> None:
        old_schemes = _dict(_dict(self.old.get("components")).get("securitySchemes"))
        new_schemes = _dict(_dict(self.new.get("components")).get("securitySchemes"))
        old_default, new_default = self.old.get("security"), self.new.get("security")
        used_by: dict[str, list[str]] = {}
        for label, op in self.old_ops.items():
            requirement = op.op.get("security", old_default)
            for alternative in self._alternatives(requirement):
                for name in alternative:
                    used_by.setdefault(name, []).append(label)
        for name in sorted(old_schemes.keys() | new_schemes.keys()):
            old, new = old_schemes.get(name, _MISSING), new_schemes.get(name, _MISSING)
            if old is not _MISSING and new is not _MISSING and _same(old, new):
                continue
            users = used_by.get(name, [])
            flux2 = [u for u in users if u in self.used]
            scope = _Scope(
                role="request",
                affects=bool(flux2),
                subject=f"security scheme {name}",
                outside=tuple(u for u in users if u not in self.used),
            )
            location = f"securitySchemes.{name}"
            if new is _MISSING or old is _MISSING:
                nature: Category = "breaking" if new is _MISSING else "additive"
                self.emit(
                    scope,
                    nature,
                    location,
                    "auth scheme",
                    _describe_scheme(old) if old is not _MISSING else None,
                    _describe_scheme(new) if new is not _MISSING else None,
                    "auth scheme removed" if new is _MISSING else "new auth scheme",
                    change="removed" if new is _MISSING else "added",
                )
                continue
            semantic = [k for k in _SECURITY_KEYS if not _same(old.get(k), new.get(k))]
            if semantic:
                if not _flux2_can_send(new):
                    match = (
                        "which the candidate's scheme does not match: every authenticated call "
                        "flux2 makes would be refused (401/403)"
                    )
                elif not _flux2_can_send(old):
                    match = (
                        "which the candidate's scheme matches and the baseline's did not: "
                        "check which scheme the service enforces before relying on either"
                    )
                else:
                    match = "which both schemes accept; check the change before re-pinning"
                self.emit(
                    scope,
                    "breaking",
                    location,
                    "auth scheme",
                    _describe_scheme(old),
                    _describe_scheme(new),
                    f"the auth scheme changed ({', '.join(semantic)}); flux2 sends its key in "
                    f"header {_wire.AUTH_HEADER!r} (flux2._wire.AUTH_HEADER), {match}",
                )
            self.text_keys(scope, location, old, new)
        if self._alternatives(old_default) != self._alternatives(new_default):
            inheriting = sorted(
                label for label, op in self.new_ops.items() if "security" not in op.op
            )
            flux2 = [label for label in inheriting if label in self.used]
            nature, why = self._requirement_nature(new_default)
            scope = _Scope(
                role="request",
                affects=bool(flux2),
                subject="security",
                outside=tuple(label for label in inheriting if label not in self.used),
            )
            where = _listing(inheriting, 3) or "no operation"
            self.emit(
                scope,
                nature if inheriting else "cosmetic",
                "security",
                "requirement",
                old_default,
                new_default,
                f"the document-wide auth requirement changed (inherited by {where}); {why}",
            )
        for label in sorted(self.old_ops.keys() & self.new_ops.keys()):
            old_op, new_op = self.old_ops[label].op, self.new_ops[label].op
            if "security" not in old_op and "security" not in new_op:
                continue
            old_req = old_op.get("security", old_default)
            new_req = new_op.get("security", new_default)
            if self._alternatives(old_req) != self._alternatives(new_req):
                nature, why = self._requirement_nature(new_req)
                scope = self.scope_of_operation(label, "request")
                self.emit(scope, nature, label, "security", old_req, new_req, why)

    # -- operations -------------------------------------------------------------------------

    def _body_ref(self, document: Mapping[str, Any], operation: _Operation) -> str | None:
        body = _deref(document, operation.op.get("requestBody"))
        for media in _dict(_dict(body).get("content")).values():
            ref = _dict(_dict(media).get("schema")).get("$ref")
            if isinstance(ref, str):
                return ref
        return None

    def operations(self) -> None:
        added = sorted(self.new_ops.keys() - self.old_ops.keys())
        removed = sorted(self.old_ops.keys() - self.new_ops.keys())
        try:
            new_models = {f"POST {m.path}": m for m in models_from_spec(dict(self.new)).values()}
        except (KeyError, TypeError, ValueError, AttributeError):
            new_models = {}  # a broken candidate still gets its other findings
        renamed: dict[str, str] = {}
        for label in removed:
            if label not in self.used:
                continue
            old_op = self.old_ops[label]
            ref = self._body_ref(self.old, old_op)
            for candidate in added:
                new_op = self.new_ops[candidate]
                if (
                    candidate not in renamed.values()
                    and new_op.method == old_op.method
                    and ref is not None
                    and self._body_ref(self.new, new_op) == ref
                ):
                    renamed[label] = candidate
                    break
        for label in removed:
            scope = self.scope_of_operation(label, "request")
            model = self.model_of.get(label)
            what = f"flux2 offers model {model} here" if model else "flux2 calls it"
            moved = renamed.get(label)
            message = (
                f"endpoint renamed (same request schema at {moved}); {what}, and its calls "
                "would fail until flux2 is re-pinned"
                if moved
                else f"endpoint removed; {what}, and its calls would fail"
            )
            change = "renamed" if moved else "removed"
            self.emit(scope, "breaking", label, "endpoint", label, moved, message, change=change)
        for label in added:
            if label in renamed.values():
                continue
            scope = _Scope(role="request", affects=True, subject=f"endpoint {label}")
            offered = new_models.get(label)
            if offered is not None:
                message = (
                    f"new FLUX.2 model {offered.name!r} ({offered.request_schema}); flux2 could "
                    "offer it after re-pinning"
                )
            else:
                message = "new endpoint; not a FLUX.2 model, flux2 does not call it"
            self.emit(scope, "additive", label, "endpoint", None, label, message, change="added")
        for label in sorted(self.old_ops.keys() & self.new_ops.keys()):
            self.operation(self.old_ops[label], self.new_ops[label])

    def operation(self, old: _Operation, new: _Operation) -> None:
        label = old.label
        request = self.scope_of_operation(label, "request")
        response = self.scope_of_operation(label, "response")
        handled = {"parameters", "requestBody", "responses", "security", "servers", "deprecated"}
        for key in sorted(old.op.keys() | new.op.keys()):
            o, n = old.op.get(key, _MISSING), new.op.get(key, _MISSING)
            if key in handled or (o is not _MISSING and n is not _MISSING and _same(o, n)):
                continue
            if _is_text(key) or key in ("tags", "operationId"):
                note = " (names the generated function, not on the wire)" * (key == "operationId")
                self.emit(request, "cosmetic", label, key, o, n, f"{key} changed{note}")
            else:
                self.emit(
                    request,
                    "breaking",
                    label,
                    key,
                    o,
                    n,
                    f"{key} changed; flux2 cannot tell what it means for its calls, review it",
                )
        if bool(old.op.get("deprecated")) != bool(new.op.get("deprecated")):
            self.emit(
                request,
                "additive",
                label,
                "deprecated",
                bool(old.op.get("deprecated")),
                bool(new.op.get("deprecated")),
                "deprecation changed; flux2 keeps calling it until re-pinned",
            )
        self.parameters(old, new, request)
        self.request_body(old, new, request)
        self.responses(old, new, response)

    def parameters(self, old: _Operation, new: _Operation, scope: _Scope) -> None:
        old_params, new_params = _parameters(self.old, old), _parameters(self.new, new)
        for key in sorted(old_params.keys() | new_params.keys()):
            location = f"{old.label} {key}"
            o, n = old_params.get(key), new_params.get(key)
            if o is None and n is not None:
                needed = bool(n.get("required"))
                self.emit(
                    scope,
                    "breaking" if needed else "additive",
                    location,
                    "parameter",
                    None,
                    key,
                    "new required parameter; flux2 does not send it"
                    if needed
                    else "new optional parameter; flux2 does not send it",
                    change="added",
                )
                continue
            if n is None:
                self.emit(
                    scope,
                    "breaking",
                    location,
                    "parameter",
                    key,
                    None,
                    "parameter removed; flux2 sends it",
                    change="removed",
                )
                continue
            assert o is not None
            self.required_and_texts(scope, location, o, n)
            self.node(location, o.get("schema", {}), n.get("schema", {}), scope)

    def required_and_texts(
        self, scope: _Scope, location: str, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        """The ``required`` flag and the text of a parameter or request body."""
        was, now = bool(old.get("required")), bool(new.get("required"))
        if was != now:
            self.emit(
                scope,
                "breaking" if now else "additive",
                location,
                "required",
                was,
                now,
                "now required; flux2 may omit it" if now else "no longer required",
            )
        self.text_keys(scope, location, old, new)

    def text_keys(
        self, scope: _Scope, location: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        for key in sorted(k for k in old.keys() | new.keys() if _is_text(k)):
            o, n = old.get(key, _MISSING), new.get(key, _MISSING)
            if o is _MISSING or n is _MISSING or not _same(o, n):
                self.emit(scope, "cosmetic", location, key, o, n, f"{key} changed")

    def request_body(self, old: _Operation, new: _Operation, scope: _Scope) -> None:
        o = _dict(_deref(self.old, old.op.get("requestBody")))
        n = _dict(_deref(self.new, new.op.get("requestBody")))
        location = f"{old.label} request body"
        self.required_and_texts(scope, location, o, n)
        old_media, new_media = _dict(o.get("content")), _dict(n.get("content"))
        for media in sorted(old_media.keys() | new_media.keys()):
            if media not in new_media:
                self.emit(
                    scope,
                    "breaking",
                    location,
                    "media type",
                    media,
                    None,
                    f"the candidate no longer accepts {media} bodies; flux2 sends JSON",
                )
            elif media not in old_media:
                self.emit(scope, "additive", location, "media type", None, media, "new body type")
            else:
                self.node(
                    location,
                    _dict(old_media[media]).get("schema", {}),
                    _dict(new_media[media]).get("schema", {}),
                    scope,
                )

    def responses(self, old: _Operation, new: _Operation, scope: _Scope) -> None:
        old_r, new_r = _dict(old.op.get("responses")), _dict(new.op.get("responses"))
        for code in sorted(old_r.keys() | new_r.keys()):
            location = f"{old.label} response {code}"
            if code not in new_r or code not in old_r:
                gone = code not in new_r
                self.emit(
                    scope,
                    "breaking" if gone and str(code).startswith("2") else "additive",
                    location,
                    "response",
                    code if gone else None,
                    None if gone else code,
                    "documented answer removed; flux2 reads it"
                    if gone and str(code).startswith("2")
                    else ("documented answer removed" if gone else "new documented answer"),
                    change="removed" if gone else "added",
                )
                continue
            o, n = _dict(_deref(self.old, old_r[code])), _dict(_deref(self.new, new_r[code]))
            self.text_keys(scope, location, o, n)
            old_media, new_media = _dict(o.get("content")), _dict(n.get("content"))
            for media in sorted(old_media.keys() | new_media.keys()):
                if media not in old_media or media not in new_media:
                    self.emit(
                        scope,
                        "breaking" if media not in new_media else "additive",
                        location,
                        "media type",
                        media if media in old_media else None,
                        media if media in new_media else None,
                        "answer media type changed; flux2 reads JSON",
                    )
                    continue
                self.node(
                    location,
                    _dict(old_media[media]).get("schema", {}),
                    _dict(new_media[media]).get("schema", {}),
                    scope,
                )
            for key in sorted((o.keys() | n.keys()) - {"content"}):
                if not _is_text(key) and not _same(o.get(key), n.get(key)):
                    self.emit(scope, "additive", location, key, o.get(key), n.get(key), "changed")

    # -- schemas ----------------------------------------------------------------------------

    def schemas(self) -> None:
        old_s = _dict(_dict(self.old.get("components")).get("schemas"))
        new_s = _dict(_dict(self.new.get("components")).get("schemas"))
        for name in sorted(old_s.keys() | new_s.keys()):
            scope = self.scope_of_schema(name)
            if name not in old_s:
                self.emit(
                    attrs.evolve(scope, affects=True),
                    "additive",
                    name,
                    "schema",
                    None,
                    name,
                    "new schema",
                    change="added",
                )
            elif name not in new_s:
                declared = name in _wire.RESPONSE_FIELDS
                self.emit(
                    scope,
                    "breaking" if declared else "cosmetic",
                    name,
                    "schema",
                    name,
                    None,
                    "flux2 declares the fields it reads from this schema "
                    "(flux2._wire.RESPONSE_FIELDS); the candidate has no schema of that name"
                    if declared
                    else "schema removed; a schema name is not on the wire, what used it is "
                    "compared where it was used",
                    change="removed",
                )
            else:
                self.node(name, old_s[name], new_s[name], scope)

    def node(self, location: str, old: Any, new: Any, scope: _Scope, depth: int = 0) -> None:
        """Compare two schema nodes at `location`, judging each difference for `scope`."""
        if depth > 12 or _same(old, new):
            return
        fo, fn = _facts(self.old, old, fold=False), _facts(self.new, new, fold=False)
        if fo.refs != fn.refs:
            old_names = sorted(_schema.ref_name(r) for r in fo.refs)
            new_names = sorted(_schema.ref_name(r) for r in fn.refs)
            if len(fo.refs) > 1 or len(fn.refs) > 1:
                self.ref_alternatives(location, scope, old_names, new_names)
                fo.refs, fn.refs = set(), set()
            else:
                if fo.refs and fn.refs:
                    self.emit(
                        scope,
                        "cosmetic",
                        location,
                        "schema name",
                        old_names,
                        new_names,
                        "refers to a differently named schema (names are not on the wire); its "
                        "content is compared here",
                    )
                if old_names and scope.read_fields is None:
                    read = _wire.RESPONSE_FIELDS.get(old_names[0])
                    if read is not None and scope.role == "response":
                        scope = attrs.evolve(scope, read_fields=read)
                fo, fn = _facts(self.old, old, fold=True), _facts(self.new, new, fold=True)
        self.texts(location, fo, fn, scope)
        self.types(location, fo, fn, scope)
        self.enum(location, fo, fn, scope)
        self.bounds(location, fo, fn, scope)
        self.constraints(location, fo, fn, scope)
        self.default(location, fo, fn, scope)
        if fo.has_object or fn.has_object:
            self.properties(location, fo, fn, scope, depth)
        if fo.items or fn.items:
            self.node(
                f"{location}[]",
                fo.items[0] if fo.items else {},
                fn.items[0] if fn.items else {},
                scope,
                depth + 1,
            )

    def ref_alternatives(
        self, location: str, scope: _Scope, old_names: list[str], new_names: list[str]
    ) -> None:
        old_s = _dict(_dict(self.old.get("components")).get("schemas"))
        new_s = _dict(_dict(self.new.get("components")).get("schemas"))
        removed = sorted(set(old_names) - set(new_names))
        added = sorted(set(new_names) - set(old_names))
        for name in list(removed):
            twin = next(
                (
                    a
                    for a in added
                    if _same(_without_text(old_s.get(name)), _without_text(new_s.get(a)))
                ),
                None,
            )
            if twin is not None:
                removed.remove(name)
                added.remove(twin)
                self.emit(
                    scope,
                    "cosmetic",
                    location,
                    "schema name",
                    name,
                    twin,
                    "the same schema under another name (names are not on the wire)",
                )
        for name in removed:
            read = scope.role == "response" and name in _wire.RESPONSE_FIELDS
            if scope.role == "response":
                message = (
                    f"the answer can no longer be a {name}, whose fields flux2 reads"
                    if read
                    else f"the answer can no longer be a {name}"
                )
                nature: Category = "breaking" if read else "additive"
            else:
                message = f"the request can no longer be a {name}, which flux2 may send"
                nature = "breaking"
            self.emit(scope, nature, location, "alternative", name, None, message)
        for name in added:
            self.emit(
                scope,
                "additive",
                location,
                "alternative",
                None,
                name,
                f"the {'answer' if scope.role == 'response' else 'request'} may now be a {name}",
            )

    def texts(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        for key in sorted(fo.texts.keys() | fn.texts.keys()):
            o, n = fo.texts.get(key, _MISSING), fn.texts.get(key, _MISSING)
            if o is _MISSING or n is _MISSING or not _same(o, n):
                self.emit(scope, "cosmetic", location, key, o, n, f"{key} changed")

    def _field_text(self, scope: _Scope) -> str:
        return scope.field or "it"

    def _sent_to(self, scope: _Scope) -> str:
        if scope.models:
            return f"to {_listing(scope.models)}"
        return "with its calls"

    def types(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        removed = {t for t in fo.types if not _schema.covers(fn.types, t)}
        added = {t for t in fn.types if not _schema.covers(fo.types, t)}
        if not removed and not added:
            return
        old, new = _types_text(fo.types), _types_text(fn.types)
        field = self._field_text(scope)
        if scope.role == "request":
            if removed:
                nature: Category = "breaking"
                message = (
                    f"type narrowed: flux2 sends {field} as {old} {self._sent_to(scope)} when the "
                    f"caller sets it; the candidate accepts only {new}"
                )
            else:
                nature = "additive"
                message = (
                    f"type widened: the candidate also accepts {_types_text(added)}; flux2 keeps "
                    "checking against the pinned types until re-pinned"
                )
        elif scope.read_type is not None:
            nullable_ok = not scope.required
            if not _compatible(scope.read_type, fn.types, nullable_ok):
                nature = "breaking"
                message = (
                    f"retyped: flux2 reads {field} as {scope.read_type}"
                    f"{' or null' * nullable_ok} (flux2._wire.RESPONSE_FIELDS); the candidate "
                    f"declares {new}"
                )
            else:
                nature = "additive"
                message = f"type changed, still what flux2 reads {field} as ({scope.read_type})"
        else:
            nature = "additive"
            message = f"type changed; flux2 does not read {field}"
        self.emit(scope, nature, location, "type", old, new, message)

    def enum(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        if fo.enum is None and fn.enum is None:
            return
        field = self._field_text(scope)
        if fo.enum is None or fn.enum is None:
            restricted = fn.enum is not None
            nature: Category = "breaking" if restricted and scope.role == "request" else "additive"
            if scope.status and restricted and fn.enum is not None:
                unknown = [v for v in fn.enum if v not in _wire.STATUS_MEANINGS]
                nature = "breaking" if unknown else "additive"
            message = (
                f"values of {field} now restricted to an enum"
                if restricted
                else f"{field} is no longer restricted to an enum"
            )
            self.emit(scope, nature, location, "enum", fo.enum, fn.enum, message)
            return
        removed = [v for v in fo.enum if not any(_same(v, n) for n in fn.enum)]
        added = [v for v in fn.enum if not any(_same(v, o) for o in fo.enum)]
        values = ", ".join(repr(v) for v in removed)
        if removed:
            if scope.role == "request":
                self.emit(
                    scope,
                    "breaking",
                    location,
                    "enum",
                    fo.enum,
                    fn.enum,
                    f"enum narrowed: flux2 accepts {values} for {field} and sends it "
                    f"{self._sent_to(scope)}; the candidate no longer allows it",
                )
            else:
                self.emit(
                    scope,
                    "additive",
                    location,
                    "enum",
                    fo.enum,
                    fn.enum,
                    f"the candidate no longer lists {values}; flux2 still understands it",
                )
        if added:
            self.enum_added(location, fo.enum, fn.enum, added, scope)
        if not removed and not added and fo.enum != fn.enum:
            self.emit(scope, "cosmetic", location, "enum order", fo.enum, fn.enum, "order only")

    def enum_added(
        self, location: str, old: list[Any], new: list[Any], added: list[Any], scope: _Scope
    ) -> None:
        field = self._field_text(scope)
        if scope.status:
            unknown = [v for v in added if v not in _wire.STATUS_MEANINGS]
            known = [v for v in added if v in _wire.STATUS_MEANINGS]
            if unknown:
                self.emit(
                    scope,
                    "breaking",
                    location,
                    "enum",
                    old,
                    new,
                    f"new task status {', '.join(repr(v) for v in unknown)} that flux2 does not "
                    "know: it would treat it as still in flight, warn once and poll until its "
                    "deadline; add it to flux2._wire.STATUS_MEANINGS",
                )
            if known:
                meanings = ", ".join(f"{v!r} as {_wire.STATUS_MEANINGS[v].value}" for v in known)
                self.emit(
                    scope,
                    "additive",
                    location,
                    "enum",
                    old,
                    new,
                    f"the spec now lists a task status flux2 already knows ({meanings})",
                )
            return
        values = ", ".join(repr(v) for v in added)
        if scope.role == "request":
            message = (
                f"new value {values} for {field}; flux2 rejects it before sending until re-pinned"
            )
        else:
            message = f"new value {values}; flux2 does not interpret {field}"
        self.emit(scope, "additive", location, "enum", old, new, message)

    def bounds(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        field = self._field_text(scope)
        for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            o, n = fo.bounds.get(key), fn.bounds.get(key)
            if (o is None and n is None) or (o is not None and n is not None and _same(o, n)):
                continue
            lower = key in _LOWER_BOUNDS
            try:
                tighter = n is not None and (o is None or (n > o if lower else n < o))
            except TypeError:
                tighter = True
            if scope.role != "request":
                nature: Category = "additive"
                message = f"range of {field} changed; flux2 does not rely on it"
            elif tighter:
                nature = "breaking"
                message = (
                    f"range tightened: flux2 accepts and sends {field} values the candidate "
                    f"refuses ({key} {_short(o)} -> {_short(n)}) {self._sent_to(scope)}"
                )
            else:
                nature = "additive"
                message = (
                    f"range loosened; flux2 keeps the pinned range for {field} until re-pinned"
                )
            self.emit(scope, nature, location, key, o, n, message)

    def constraints(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        field = self._field_text(scope)
        for key in sorted(fo.narrowing.keys() | fn.narrowing.keys()):
            o, n = fo.narrowing.get(key, _MISSING), fn.narrowing.get(key, _MISSING)
            if o is not _MISSING and n is not _MISSING and _same(o, n):
                continue
            narrower = n is not _MISSING
            if scope.role == "request" and narrower:
                nature: Category = "breaking"
                message = f"{key} constraint added or changed: values flux2 sends may be refused"
            else:
                nature = "additive"
                message = f"{key} constraint {'changed' if narrower else 'removed'}"
            self.emit(scope, nature, location, key, o, n, message)
        if fo.deprecated != fn.deprecated:
            self.emit(
                scope,
                "additive",
                location,
                "deprecated",
                fo.deprecated,
                fn.deprecated,
                f"{field} deprecation changed; flux2 keeps its pinned behaviour until re-pinned",
            )
        for key in sorted(fo.other.keys() | fn.other.keys()):
            o, n = fo.other.get(key, _MISSING), fn.other.get(key, _MISSING)
            if o is not _MISSING and n is not _MISSING and _same(o, n):
                continue
            relied = scope.role == "request" or scope.read_type is not None
            self.emit(
                scope,
                "breaking" if relied else "additive",
                location,
                key,
                o,
                n,
                f"schema keyword {key!r} changed; flux2 cannot tell whether this changes what "
                "it sends or reads, review it"
                if relied
                else f"schema keyword {key!r} changed; flux2 does not read {field}",
            )

    def default(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope) -> None:
        o, n = fo.default, fn.default
        if (o is _MISSING and n is _MISSING) or (
            o is not _MISSING and n is not _MISSING and _same(o, n)
        ):
            return
        field = self._field_text(scope)
        if scope.role != "request":
            nature: Category = "additive"
            message = "default changed; flux2 does not rely on response defaults"
        elif o is _MISSING:
            nature = "additive"
            message = f"the spec now documents a default for {field}"
        else:
            nature = "breaking"
            message = (
                f"default changed: flux2 documents {field} = {_short(o)} when the caller leaves "
                f"it unset; the service would now use {_short(n)}"
                if n is not _MISSING
                else f"flux2 documents {field} = {_short(o)} when unset; the candidate no longer "
                "promises a default"
            )
        self.emit(scope, nature, location, "default", o, n, message)

    def properties(self, location: str, fo: _Facts, fn: _Facts, scope: _Scope, depth: int) -> None:
        po, pn = fo.properties, fn.properties
        removed = [name for name in po if name not in pn]
        added = [name for name in pn if name not in po]
        renamed: dict[str, str] = {}
        for old_name in removed:
            for new_name in added:
                if (
                    new_name not in renamed.values()
                    and (old_name in fo.required) == (new_name in fn.required)
                    and _same(_without_text(po[old_name]), _without_text(pn[new_name]))
                ):
                    renamed[old_name] = new_name
                    break
        read = scope.read_fields or {}
        sent = self._sent_to(scope)
        nature: Category
        for name in sorted(removed):
            where = f"{location}.{name}"
            field_scope = scope.child(name, read.get(name), name in fo.required)
            if scope.role == "request" and not scope.affects:
                nature = "breaking"
                lost = "the service would silently ignore it where callers still send it"
            elif scope.role == "request":
                nature = "breaking"
                lost = (
                    f"flux2 sends {name} {sent} when the caller sets it; the service silently "
                    "ignores fields it does not know, so such calls would be billed without it"
                )
            elif name in read:
                nature = "breaking"
                lost = f"flux2 reads {name} as {read[name]} (flux2._wire.RESPONSE_FIELDS)"
            else:
                nature = "additive"
                lost = f"flux2 does not read {name}"
            if name in renamed:
                self.emit(
                    field_scope,
                    nature,
                    where,
                    "field",
                    name,
                    renamed[name],
                    f"field renamed to {renamed[name]}; {lost}",
                    change="renamed",
                )
            else:
                self.emit(
                    field_scope,
                    nature,
                    where,
                    "field",
                    _describe_field(po[name], self.old),
                    None,
                    f"field removed; {lost}",
                    change="removed",
                )
        for name in sorted(added):
            if name in renamed.values():
                continue
            where = f"{location}.{name}"
            needed = name in fn.required and "default" not in _dict(pn[name])
            field_scope = scope.child(name, None, name in fn.required)
            if scope.role == "request":
                if needed:
                    nature = "breaking"
                    message = (
                        f"new required field; flux2 does not send it, so its calls {sent} would "
                        "be refused (422)"
                    )
                else:
                    users = f" ({_listing(scope.models)})" if scope.models else ""
                    message = (
                        f"new optional field{users}; flux2 never sends it: its pinned registry "
                        "lacks it (re-pin to offer it)"
                    )
                    nature = "additive"
            else:
                nature = "additive"
                message = "new field in the answer; flux2 does not read it"
            self.emit(
                field_scope,
                nature,
                where,
                "field",
                None,
                _describe_field(pn[name], self.new),
                message,
                change="added",
            )
        for name in sorted(set(po) & set(pn)):
            where = f"{location}.{name}"
            was, now = name in fo.required, name in fn.required
            field_scope = scope.child(name, read.get(name), was)
            if was != now:
                if scope.role == "request":
                    nature = "breaking" if now else "additive"
                    message = (
                        f"{name} is now required; flux2 sends it only when the caller sets it, "
                        "so calls without it would be refused (422)"
                        if now
                        else f"{name} is no longer required"
                    )
                elif name in read and was:
                    nature = "breaking"
                    message = (
                        f"flux2 reads {name}; the candidate no longer promises it in every answer"
                    )
                else:
                    nature = "additive"
                    message = f"{name} {'is now' if now else 'is no longer'} always present"
                self.emit(field_scope, nature, where, "required", was, now, message)
            self.node(where, po[name], pn[name], field_scope, depth + 1)
        for key in sorted(fo.extra.keys() | fn.extra.keys()):
            o, n = fo.extra.get(key, _MISSING), fn.extra.get(key, _MISSING)
            if o is _MISSING or n is _MISSING or not _same(o, n):
                self.emit(scope, "additive", location, key, o, n, f"{key} changed")


def _describe_field(node: Any, document: Mapping[str, Any]) -> str:
    facts = _facts(document, node, fold=True)
    text = _types_text(facts.types) or "any"
    if facts.enum is not None:
        text += " in " + ", ".join(repr(v) for v in facts.enum)
    if facts.default is not _MISSING:
        text += f", default {json.dumps(facts.default)}"
    return text


def compare(candidate: Mapping[str, Any], pinned: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every difference between `candidate` and `pinned` (default: flux2's pinned spec).

    Findings are judged for flux2 as built against `pinned`: its registry is
    ``models_from_spec(pinned)``, its wire expectations :mod:`flux2._wire`. Sorted breaking
    first, then additive, then cosmetic.
    """
    baseline = pinned_spec() if pinned is None else pinned
    return _Comparison(candidate, baseline).run()


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing is breaking, 1 otherwise."""
    return 1 if any(f.category == "breaking" for f in findings) else 0


# -- summary for scripts/regenerate -----------------------------------------------------------


def summarize_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Short human summary of what re-pinning from `old` to `new` changes, one line per part.

    Lines look like ``schema changed: Flux2Inputs (+disable_pup, +transparent_bg) [additive]``:
    ``+`` a field added, ``-`` removed, ``~`` changed, the worst class of the part in brackets.
    """
    if old is None:
        ops = len(_operations(new))
        schemas = len(_dict(_dict(new.get("components")).get("schemas")))
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


# -- reading documents ------------------------------------------------------------------------


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


# -- the report -------------------------------------------------------------------------------


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
    counts = ", ".join(f"{sum(f.category == c for f in findings)} {c}" for c in CATEGORIES)
    verdict = "breaking for flux2" if exit_code(findings) else "nothing breaking for flux2"
    lines += ["", f"{counts}: {verdict}"]
    return "\n".join(lines)


# -- the control: proof that the check can fail ----------------------------------------------


@attrs.frozen
class ControlResult:
    kind: str
    expected: Category | None
    """The class the seeded drift must get; None: it must yield no finding at all."""
    location: str
    findings: tuple[Finding, ...]
    error: str | None = None
    outside_flux2: bool = False

    @property
    def found(self) -> bool:
        if self.expected is None:
            return not self.findings
        return any(self.location in f.location for f in self.findings)

    @property
    def ok(self) -> bool:
        if self.error is not None:
            return False
        if self.expected is None:
            return not self.findings
        return (
            self.found
            and all(f.category == self.expected for f in self.findings)
            and all(
                f.affects_flux2 != self.outside_flux2
                for f in self.findings
                if f.category != "cosmetic"
            )
        )

    @property
    def classified(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        if not self.findings:
            return "nothing"
        return "+".join(sorted({f.category for f in self.findings}))


def _schemas_of(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _prop(document: dict[str, Any], schema: str, field: str) -> dict[str, Any]:
    node: dict[str, Any] = _schemas_of(document)[schema]["properties"][field]
    return node


def _branch(node: dict[str, Any], key: str) -> dict[str, Any]:
    """The anyOf branch (or the node itself) that carries `key`."""
    branches: list[dict[str, Any]] = node.get("anyOf", [node])
    for branch in branches:
        if key in branch:
            return branch
    raise KeyError(key)


def _move_path(document: dict[str, Any], old: str, new: str) -> None:
    document["paths"][new] = document["paths"].pop(old)


def _rename_field(document: dict[str, Any], schema: str, old: str, new: str) -> None:
    props = _schemas_of(document)[schema]["properties"]
    props[new] = props.pop(old)


def _add_endpoint(document: dict[str, Any]) -> None:
    item = copy.deepcopy(document["paths"]["/v1/flux-2-pro"])
    item["post"]["operationId"] = "generate_flux_2_ultra_v1_flux_2_ultra_post"
    document["paths"]["/v1/flux-2-ultra"] = item


def _drop_field(document: dict[str, Any], schema: str, field: str) -> None:
    target = _schemas_of(document)[schema]
    del target["properties"][field]
    if field in target.get("required", []):
        target["required"].remove(field)


def _add_required(document: dict[str, Any], schema: str, field: str) -> None:
    target = _schemas_of(document)[schema]
    target["properties"][field] = {"type": "string", "title": field.replace("_", " ").title()}
    target.setdefault("required", []).append(field)


def _set(node: dict[str, Any], key: str, value: Any) -> None:
    node[key] = value


def _reordered(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _reordered(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reordered(v) for v in node]
    return node


_Seed = tuple[str, Category | None, str, Callable[[dict[str, Any]], None], bool]

_SEEDS: Final[tuple[_Seed, ...]] = (
    (
        "endpoint removed",
        "breaking",
        "POST /v1/flux-2-klein-4b",
        lambda d: d["paths"].pop("/v1/flux-2-klein-4b"),
        False,
    ),
    (
        "endpoint renamed",
        "breaking",
        "POST /v1/flux-2-max",
        lambda d: _move_path(d, "/v1/flux-2-max", "/v1/flux-2-max-v2"),
        False,
    ),
    (
        "request field removed",
        "breaking",
        "Flux2FlexInputs.steps",
        lambda d: _drop_field(d, "Flux2FlexInputs", "steps"),
        False,
    ),
    (
        "request field renamed",
        "breaking",
        "Flux2Inputs.seed",
        lambda d: _rename_field(d, "Flux2Inputs", "seed", "random_seed"),
        False,
    ),
    (
        "range tightened",
        "breaking",
        "Flux2FlexInputs.steps",
        lambda d: _set(_branch(_prop(d, "Flux2FlexInputs", "steps"), "maximum"), "maximum", 30),
        False,
    ),
    (
        "enum tightened",
        "breaking",
        "OutputFormat",
        lambda d: _schemas_of(d)["OutputFormat"]["enum"].remove("webp"),
        False,
    ),
    (
        "new required request field",
        "breaking",
        "Flux2KleinInputs.aspect_ratio",
        lambda d: _add_required(d, "Flux2KleinInputs", "aspect_ratio"),
        False,
    ),
    (
        "response field removed",
        "breaking",
        "AsyncResponse.polling_url",
        lambda d: _drop_field(d, "AsyncResponse", "polling_url"),
        False,
    ),
    (
        "response field retyped",
        "breaking",
        "CreditsResponse.credits",
        lambda d: _set(_prop(d, "CreditsResponse", "credits"), "type", "string"),
        False,
    ),
    (
        "new task status",
        "breaking",
        "StatusResponse",
        lambda d: _schemas_of(d)["StatusResponse"]["enum"].append("Queued"),
        False,
    ),
    (
        "auth scheme changed",
        "breaking",
        "securitySchemes.APIKeyHeader",
        lambda d: d["components"]["securitySchemes"].update(
            APIKeyHeader={"type": "http", "scheme": "bearer"}
        ),
        False,
    ),
    (
        "documented default changed",
        "breaking",
        "Flux2Inputs.safety_tolerance",
        lambda d: _set(_prop(d, "Flux2Inputs", "safety_tolerance"), "default", 4),
        False,
    ),
    (
        "operation moved to another server",
        "breaking",
        "POST /v1/flux-2-pro",
        lambda d: _set(
            d["paths"]["/v1/flux-2-pro"]["post"], "servers", [{"url": "https://api.us1.bfl.ai"}]
        ),
        False,
    ),
    ("new endpoint (FLUX.2 model)", "additive", "POST /v1/flux-2-ultra", _add_endpoint, False),
    (
        "new optional request field",
        "additive",
        "Flux2Inputs.user",
        lambda d: _schemas_of(d)["Flux2Inputs"]["properties"].update(
            user={"anyOf": [{"type": "string"}, {"type": "null"}], "title": "User"}
        ),
        False,
    ),
    (
        "range loosened",
        "additive",
        "Flux2Inputs.safety_tolerance",
        lambda d: _set(_prop(d, "Flux2Inputs", "safety_tolerance"), "maximum", 6),
        False,
    ),
    (
        "new request enum value",
        "additive",
        "OutputFormat",
        lambda d: _schemas_of(d)["OutputFormat"]["enum"].append("avif"),
        False,
    ),
    (
        "known status listed",
        "additive",
        "StatusResponse",
        lambda d: _schemas_of(d)["StatusResponse"]["enum"].append("Generating"),
        False,
    ),
    (
        "FLUX.1 field removed (not used by flux2)",
        "additive",
        "FluxDevInputs.steps",
        lambda d: _drop_field(d, "FluxDevInputs", "steps"),
        True,
    ),
    (
        "description changed",
        "cosmetic",
        "Flux2FlexInputs.steps",
        lambda d: _set(_prop(d, "Flux2FlexInputs", "steps"), "description", "Sampling steps."),
        False,
    ),
    (
        "summary changed",
        "cosmetic",
        "POST /v1/flux-2-pro",
        lambda d: _set(d["paths"]["/v1/flux-2-pro"]["post"], "summary", "FLUX.2 [pro]"),
        False,
    ),
    (
        "example changed",
        "cosmetic",
        "Flux2Inputs.prompt",
        lambda d: _set(_prop(d, "Flux2Inputs", "prompt"), "example", "a red fox in snow"),
        False,
    ),
    (
        "title changed",
        "cosmetic",
        "Flux2Inputs",
        lambda d: _set(_schemas_of(d)["Flux2Inputs"], "title", "FLUX.2 inputs"),
        False,
    ),
    (
        "vendor extension added",
        "cosmetic",
        "POST /v1/flux-2-flex",
        lambda d: _set(d["paths"]["/v1/flux-2-flex"]["post"], "x-bfl-tier", "standard"),
        False,
    ),
)

_ORDER_AND_WHITESPACE: Final = "key order and whitespace"


def run_control(baseline: Mapping[str, Any] | None = None) -> list[ControlResult]:
    """Seed each kind of drift into its own copy of `baseline` and compare it with `baseline`.

    The last two results are the key order/whitespace rewrite and the unmodified copy: both
    must yield no finding at all.
    """
    pinned = dict(pinned_spec() if baseline is None else baseline)
    results: list[ControlResult] = []
    for kind, expected, location, seed, outside in _SEEDS:
        document = copy.deepcopy(pinned)
        try:
            seed(document)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            error = f"cannot seed into this spec ({type(exc).__name__}: {exc})"
            results.append(ControlResult(kind, expected, location, (), error, outside))
            continue
        reparsed = json.loads(json.dumps(document, indent=2))
        found = tuple(compare(reparsed, pinned))
        results.append(ControlResult(kind, expected, location, found, None, outside))
    minified = json.dumps(_reordered(pinned), separators=(",", ":"), sort_keys=False)
    results.append(
        ControlResult(
            _ORDER_AND_WHITESPACE,
            None,
            "(whole document)",
            tuple(compare(json.loads(minified), pinned)),
        )
    )
    untouched = json.loads(json.dumps(pinned))
    results.append(
        ControlResult(
            "unmodified copy", None, "(whole document)", tuple(compare(untouched, pinned))
        )
    )
    return results


def render_control(results: Sequence[ControlResult]) -> str:
    width = max(len(r.kind) for r in results)
    lines = [f"{'seeded drift':<{width}}  {'expected':<9}  {'found':<5}  classified as"]
    for r in results:
        expected = r.expected or "nothing"
        found = "yes" if r.found else "NO"
        mark = "ok" if r.ok else "FAIL"
        lines.append(f"{r.kind:<{width}}  {expected:<9}  {found:<5}  {r.classified:<20} {mark}")
        if not r.ok:
            for f in r.findings:
                lines.append(f"{'':<{width}}    got {f.category}: {f.where()}")
    passed = sum(r.ok for r in results)
    lines.append(f"control: {passed}/{len(results)} passed")
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, prog: str = "flux2 drift") -> int:
    """``flux2 drift`` / ``scripts/check_drift``: 0 nothing breaking, 1 breaking, 2 cannot run."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Compare a BFL OpenAPI document with flux2's pinned spec and with what "
        "flux2 relies on; classify each difference as breaking, additive or cosmetic.",
    )
    parser.add_argument(
        "--spec",
        default=LIVE_SPEC_URL,
        metavar="URL_OR_PATH",
        help=f"the candidate document (default: {LIVE_SPEC_URL})",
    )
    parser.add_argument(
        "--against",
        metavar="PATH",
        help="the baseline to compare with (default: flux2's pinned spec)",
    )
    parser.add_argument("--json", action="store_true", help="print findings as a JSON list")
    parser.add_argument(
        "--control",
        action="store_true",
        help="seed known drift into copies of the baseline; fail unless each is found and "
        "classified as expected",
    )
    args = parser.parse_args(argv)
    out: TextIO = sys.stdout
    try:
        if args.against:
            baseline = load_document(args.against)
            baseline_name = str(args.against)
        else:
            baseline = pinned_spec()
            baseline_name = f"the pinned spec ({pinned_spec_path()})"
        if args.control:
            results = run_control(baseline)
            if args.json:
                rows = [
                    {
                        "kind": r.kind,
                        "expected": r.expected,
                        "found": r.found,
                        "classified": r.classified,
                        "ok": r.ok,
                    }
                    for r in results
                ]
                print(json.dumps(rows, indent=2), file=out)
            else:
                print(render_control(results), file=out)
            return 0 if all(r.ok for r in results) else 1
        candidate = load_document(args.spec)
        findings = compare(candidate, baseline)
    except DriftInputError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2), file=out)
    else:
        print(render_report(findings, candidate=str(args.spec), baseline=baseline_name), file=out)
    return exit_code(findings)
