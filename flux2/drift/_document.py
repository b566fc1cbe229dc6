"""The structure of a document: its operations, and which of them use each named schema.

:class:`Usage` answers "does flux2 rely on this part, and how" for the walk: the operations
flux2 calls (the FLUX.2 submit endpoints of the baseline registry, ``get_result``,
``credits``), the role (request or response) in which a schema is used, and the fields flux2
reads (:data:`flux2._wire.RESPONSE_FIELDS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from flux2 import _schema, _wire
from flux2.registry import Model, models_from_spec

from ._findings import listing
from ._load import DriftInputError
from ._nodes import as_dict, deref

_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@attrs.frozen
class Scope:
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

    def child(self, field: str, read_type: str | None, required: bool) -> Scope:
        return attrs.evolve(
            self,
            read_fields=None,
            read_type=read_type,
            required=required,
            status=read_type is not None and field == "status",
            member=self.member if self.member is not None else field,
            field=field,
        )


@attrs.frozen
class Operation:
    label: str
    path: str
    method: str
    item: dict[str, Any]
    op: dict[str, Any]


def operations_of(document: Mapping[str, Any]) -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for path, item in as_dict(document.get("paths")).items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                label = f"{method.upper()} {path}"
                found[label] = Operation(label, path, method, item, op)
    return found


def parameters_of(document: Mapping[str, Any], operation: Operation) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for raw in [*(operation.item.get("parameters") or []), *(operation.op.get("parameters") or [])]:
        param = deref(document, raw)
        if isinstance(param, dict) and "name" in param:
            merged[f"{param.get('in', 'query')} {param['name']}"] = param
    return merged


def _response_schemas(operation: Operation) -> Iterable[Any]:
    for response in as_dict(operation.op.get("responses")).values():
        for media in as_dict(as_dict(response).get("content")).values():
            yield as_dict(media).get("schema")


def _request_schemas(document: Mapping[str, Any], operation: Operation) -> Iterable[Any]:
    body = deref(document, operation.op.get("requestBody"))
    for media in as_dict(as_dict(body).get("content")).values():
        yield as_dict(media).get("schema")
    for param in parameters_of(document, operation).values():
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
    schemas = as_dict(as_dict(document.get("components")).get("schemas"))
    seen: set[str] = set()
    todo = set().union(*(_schema_refs(r) for r in roots))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo |= _schema_refs(schemas.get(name)) - seen
    return seen


class Usage:
    """Who uses what in the two documents, judged for flux2 as built against the baseline."""

    def __init__(self, candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> None:
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
        self.old_ops = operations_of(baseline)
        self.new_ops = operations_of(candidate)
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
            schemas = as_dict(as_dict(document.get("components")).get("schemas"))
            for schema in schemas.values():
                for field, prop in as_dict(as_dict(schema).get("properties")).items():
                    for ref in _schema_refs(prop):
                        self.referrers.setdefault(ref, set()).add(field)
        # Named schemas behind a field flux2 reads (StatusResponse behind ResultResponse.status).
        self.read_refs: dict[str, tuple[str, str, bool]] = {}
        for document in (baseline, candidate):
            schemas = as_dict(as_dict(document.get("components")).get("schemas"))
            for schema_name, fields in _wire.RESPONSE_FIELDS.items():
                schema = as_dict(schemas.get(schema_name))
                required = set(schema.get("required") or [])
                for field, kind in fields.items():
                    prop = as_dict(schema.get("properties")).get(field)
                    for ref in _schema_refs(prop):
                        self.read_refs.setdefault(
                            ref, (f"{schema_name}.{field}", kind, field in required)
                        )

    def scope_of_schema(self, name: str) -> Scope:
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
        return Scope(
            role=role,
            affects=bool(flux2),
            subject=f"schema {name}",
            models=models,
            outside=outside,
            read_fields=read_fields,
            read_type=via[1] if via else None,
            required=via[2] if via else False,
            status=via is not None and via[0].endswith(".status"),
            field=via[0] if via else (listing(sorted(self.referrers.get(name, ()))) or None),
        )

    def scope_of_operation(self, label: str, role: Literal["request", "response"]) -> Scope:
        used = label in self.used
        return Scope(
            role=role,
            affects=used,
            subject=f"endpoint {label}",
            models=(self.model_of[label],) if label in self.model_of else (),
            outside=() if used else (label,),
        )
