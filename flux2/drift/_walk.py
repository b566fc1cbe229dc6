"""Walking two documents side by side: servers, auth, operations, then their schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flux2 import _wire
from flux2._spec import pinned_spec
from flux2.registry import models_from_spec

from ._document import Operation, Scope, parameters_of
from ._findings import CATEGORIES, MISSING, Finding, listing
from ._nodes import SECURITY_KEYS, as_dict, deref, describe_scheme, flux2_can_send, is_text, same
from ._walk_schemas import SchemaWalk


def _answer_rule(gone: bool, code: str) -> str:
    if not gone:
        return "answer added"
    return "success answer removed" if code.startswith("2") else "error answer removed"


class Comparison(SchemaWalk):
    """One comparison of a candidate document with a baseline."""

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
        scope = Scope(role="request", affects=False, subject="document")
        handled = {"paths", "components", "servers", "security"}
        for key in sorted((self.old.keys() | self.new.keys()) - handled):
            old, new = self.old.get(key, MISSING), self.new.get(key, MISSING)
            if old is not MISSING and new is not MISSING and same(old, new):
                continue
            if key in ("info", "tags", "openapi", "jsonSchemaDialect") or is_text(key):
                self.text_diff(scope, key, old, new)
            else:
                self.emit(scope, "document part", key, "", old, new, f"{key} changed")
        components = (
            as_dict(self.old.get("components")).keys() | as_dict(self.new.get("components")).keys()
        )
        for section in sorted(components - {"schemas", "securitySchemes"}):
            old = as_dict(self.old.get("components")).get(section, MISSING)
            new = as_dict(self.new.get("components")).get(section, MISSING)
            if old is MISSING or new is MISSING or not same(old, new):
                self.emit(
                    scope,
                    "shared definitions",
                    f"components.{section}",
                    "",
                    old,
                    new,
                    "shared definitions changed; what uses them is compared where it is used",
                )

    def text_diff(self, scope: Scope, location: str, old: Any, new: Any) -> None:
        """Report a text-only part (info, tags, descriptions) as cosmetic, key by key."""
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(old.keys() | new.keys()):
                o, n = old.get(key, MISSING), new.get(key, MISSING)
                if o is MISSING or n is MISSING or not same(o, n):
                    self.emit(scope, "text", location, key, o, n, f"{key} changed")
            return
        self.emit(scope, "text", location, "", old, new, f"{location} changed")

    # -- servers and auth --------------------------------------------------------------------

    @staticmethod
    def _urls(servers: Any) -> list[str]:
        return [str(s.get("url")) for s in servers or [] if isinstance(s, dict)]

    @staticmethod
    def _own(operation: Operation | None, key: str) -> Any:
        if operation is None:
            return MISSING
        if key in operation.op:
            return operation.op[key]
        return operation.item.get(key, MISSING) if key == "servers" else MISSING

    def servers(self) -> None:
        old_doc, new_doc = self.old.get("servers"), self.new.get("servers")
        old_urls, new_urls = self._urls(old_doc), self._urls(new_doc)
        base = old_urls[0] if old_urls else "(none)"
        if old_urls != new_urls:
            inheriting = [
                label
                for label, op in self.usage.new_ops.items()
                if self._own(op, "servers") is MISSING and label in self.usage.used
            ]
            scope = Scope(
                role="request", affects=bool(inheriting), subject="servers", outside=("others",)
            )
            self.emit(
                scope,
                "server moved",
                "servers",
                "url",
                old_urls,
                new_urls,
                f"the document's server changed; flux2 sends {listing(inheriting, 3) or 'nothing'}"
                f" to its base URL ({base})",
            )
        elif not same(old_doc, new_doc):
            scope = Scope(role="request", affects=False, subject="servers")
            self.emit(scope, "text", "servers", "description", old_doc, new_doc, "changed")
        for label in sorted(self.usage.old_ops.keys() & self.usage.new_ops.keys()):
            old_own = self._own(self.usage.old_ops[label], "servers")
            new_own = self._own(self.usage.new_ops[label], "servers")
            if old_own is MISSING and new_own is MISSING:
                continue
            old_eff = self._urls(old_doc if old_own is MISSING else old_own)
            new_eff = self._urls(new_doc if new_own is MISSING else new_own)
            scope = self.scope_of_operation(label, "request")
            if old_eff != new_eff:
                self.emit(
                    scope,
                    "server moved",
                    label,
                    "servers",
                    old_eff,
                    new_eff,
                    f"the operation is served from {listing(new_eff) or 'the base server'}; "
                    f"flux2 sends it to {listing(old_eff)}",
                )
            elif not same(old_own, new_own):
                self.emit(scope, "text", label, "servers", old_own, new_own, "server text")

    @staticmethod
    def _alternatives(requirement: Any) -> set[frozenset[str]]:
        if not isinstance(requirement, list):
            return set()
        return {frozenset(r) for r in requirement if isinstance(r, dict)}

    def _requirement_rule(self, new_req: Any) -> tuple[str, str]:
        schemes = as_dict(as_dict(self.new.get("components")).get("securitySchemes"))
        alternatives = self._alternatives(new_req)
        if not alternatives or frozenset() in alternatives:
            return (
                "auth required that flux2 sends",
                "the candidate declares no auth requirement here; flux2 still sends its key in "
                f"{_wire.AUTH_HEADER!r}, which BFL documents for every call [doc]",
            )
        if any(all(flux2_can_send(schemes.get(s)) for s in alt) for alt in alternatives):
            return (
                "auth required that flux2 sends",
                f"flux2 already sends its key in {_wire.AUTH_HEADER!r}",
            )
        wanted = listing(
            " + ".join(describe_scheme(schemes.get(s)) for s in sorted(alt)) for alt in alternatives
        )
        return (
            "auth required that flux2 cannot send",
            f"the candidate requires {wanted}; flux2 authenticates only with header "
            f"{_wire.AUTH_HEADER!r}, so these calls would be refused (401/403)",
        )

    def security(self) -> None:
        old_schemes = as_dict(as_dict(self.old.get("components")).get("securitySchemes"))
        new_schemes = as_dict(as_dict(self.new.get("components")).get("securitySchemes"))
        old_default, new_default = self.old.get("security"), self.new.get("security")
        used_by: dict[str, list[str]] = {}
        for label, op in self.usage.old_ops.items():
            requirement = op.op.get("security", old_default)
            for alternative in self._alternatives(requirement):
                for name in alternative:
                    used_by.setdefault(name, []).append(label)
        for name in sorted(old_schemes.keys() | new_schemes.keys()):
            old, new = old_schemes.get(name, MISSING), new_schemes.get(name, MISSING)
            if old is not MISSING and new is not MISSING and same(old, new):
                continue
            users = used_by.get(name, [])
            flux2 = [u for u in users if u in self.usage.used]
            scope = Scope(
                role="request",
                affects=bool(flux2),
                subject=f"security scheme {name}",
                outside=tuple(u for u in users if u not in self.usage.used),
            )
            location = f"securitySchemes.{name}"
            if new is MISSING or old is MISSING:
                rule = "auth scheme removed" if new is MISSING else "auth scheme added"
                self.emit(
                    scope,
                    rule,
                    location,
                    "auth scheme",
                    describe_scheme(old) if old is not MISSING else None,
                    describe_scheme(new) if new is not MISSING else None,
                    "auth scheme removed" if new is MISSING else "new auth scheme",
                    change="removed" if new is MISSING else "added",
                )
                continue
            semantic = [k for k in SECURITY_KEYS if not same(old.get(k), new.get(k))]
            if semantic:
                if not flux2_can_send(new):
                    match = (
                        "which the candidate's scheme does not match: every authenticated call "
                        "flux2 makes would be refused (401/403)"
                    )
                elif not flux2_can_send(old):
                    match = (
                        "which the candidate's scheme matches and the baseline's did not: "
                        "check which scheme the service enforces before relying on either"
                    )
                else:
                    match = "which both schemes accept; check the change before re-pinning"
                self.emit(
                    scope,
                    "auth scheme changed",
                    location,
                    "auth scheme",
                    describe_scheme(old),
                    describe_scheme(new),
                    f"the auth scheme changed ({', '.join(semantic)}); flux2 sends its key in "
                    f"header {_wire.AUTH_HEADER!r} (flux2._wire.AUTH_HEADER), {match}",
                )
            self.text_keys(scope, location, old, new)
        if self._alternatives(old_default) != self._alternatives(new_default):
            inheriting = sorted(
                label for label, op in self.usage.new_ops.items() if "security" not in op.op
            )
            flux2 = [label for label in inheriting if label in self.usage.used]
            rule, why = self._requirement_rule(new_default)
            scope = Scope(
                role="request",
                affects=bool(flux2),
                subject="security",
                outside=tuple(label for label in inheriting if label not in self.usage.used),
            )
            where = listing(inheriting, 3) or "no operation"
            self.emit(
                scope,
                rule if inheriting else "auth requirement nothing inherits",
                "security",
                "requirement",
                old_default,
                new_default,
                f"the document-wide auth requirement changed (inherited by {where}); {why}",
            )
        for label in sorted(self.usage.old_ops.keys() & self.usage.new_ops.keys()):
            old_op, new_op = self.usage.old_ops[label].op, self.usage.new_ops[label].op
            if "security" not in old_op and "security" not in new_op:
                continue
            old_req = old_op.get("security", old_default)
            new_req = new_op.get("security", new_default)
            if self._alternatives(old_req) != self._alternatives(new_req):
                rule, why = self._requirement_rule(new_req)
                scope = self.scope_of_operation(label, "request")
                self.emit(scope, rule, label, "security", old_req, new_req, why)

    # -- operations -------------------------------------------------------------------------

    def _body_ref(self, document: Mapping[str, Any], operation: Operation) -> str | None:
        body = deref(document, operation.op.get("requestBody"))
        for media in as_dict(as_dict(body).get("content")).values():
            ref = as_dict(as_dict(media).get("schema")).get("$ref")
            if isinstance(ref, str):
                return ref
        return None

    def operations(self) -> None:
        added = sorted(self.usage.new_ops.keys() - self.usage.old_ops.keys())
        removed = sorted(self.usage.old_ops.keys() - self.usage.new_ops.keys())
        try:
            new_models = {f"POST {m.path}": m for m in models_from_spec(dict(self.new)).values()}
        except (KeyError, TypeError, ValueError, AttributeError):
            new_models = {}  # a broken candidate still gets its other findings
        renamed: dict[str, str] = {}
        for label in removed:
            if label not in self.usage.used:
                continue
            old_op = self.usage.old_ops[label]
            ref = self._body_ref(self.old, old_op)
            for candidate in added:
                new_op = self.usage.new_ops[candidate]
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
            model = self.usage.model_of.get(label)
            what = f"flux2 offers model {model} here" if model else "flux2 calls it"
            moved = renamed.get(label)
            message = (
                f"endpoint renamed (same request schema at {moved}); {what}, and its calls "
                "would fail until flux2 is re-pinned"
                if moved
                else f"endpoint removed; {what}, and its calls would fail"
            )
            change = "renamed" if moved else "removed"
            self.emit(
                scope, f"endpoint {change}", label, "endpoint", label, moved, message, change=change
            )
        for label in added:
            if label in renamed.values():
                continue
            scope = Scope(role="request", affects=True, subject=f"endpoint {label}")
            offered = new_models.get(label)
            if offered is not None:
                message = (
                    f"new FLUX.2 model {offered.name!r} ({offered.request_schema}); flux2 could "
                    "offer it after re-pinning"
                )
            else:
                message = "new endpoint; not a FLUX.2 model, flux2 does not call it"
            self.emit(
                scope, "endpoint added", label, "endpoint", None, label, message, change="added"
            )
        for label in sorted(self.usage.old_ops.keys() & self.usage.new_ops.keys()):
            self.operation(self.usage.old_ops[label], self.usage.new_ops[label])

    def operation(self, old: Operation, new: Operation) -> None:
        label = old.label
        request = self.scope_of_operation(label, "request")
        response = self.scope_of_operation(label, "response")
        handled = {"parameters", "requestBody", "responses", "security", "servers", "deprecated"}
        for key in sorted(old.op.keys() | new.op.keys()):
            o, n = old.op.get(key, MISSING), new.op.get(key, MISSING)
            if key in handled or (o is not MISSING and n is not MISSING and same(o, n)):
                continue
            if is_text(key) or key in ("tags", "operationId"):
                note = " (names the generated function, not on the wire)" * (key == "operationId")
                self.emit(
                    request,
                    "operation name" if key == "operationId" else "text",
                    label,
                    key,
                    o,
                    n,
                    f"{key} changed{note}",
                )
            else:
                self.emit(
                    request,
                    "operation keyword changed",
                    label,
                    key,
                    o,
                    n,
                    f"{key} changed; flux2 cannot tell what it means for its calls, review it",
                )
        if bool(old.op.get("deprecated")) != bool(new.op.get("deprecated")):
            self.emit(
                request,
                "operation deprecated",
                label,
                "deprecated",
                bool(old.op.get("deprecated")),
                bool(new.op.get("deprecated")),
                "deprecation changed; flux2 keeps calling it until re-pinned",
            )
        self.parameters(old, new, request)
        self.request_body(old, new, request)
        self.responses(old, new, response)

    def parameters(self, old: Operation, new: Operation, scope: Scope) -> None:
        old_params, new_params = parameters_of(self.old, old), parameters_of(self.new, new)
        for key in sorted(old_params.keys() | new_params.keys()):
            location = f"{old.label} {key}"
            o, n = old_params.get(key), new_params.get(key)
            if o is None and n is not None:
                needed = bool(n.get("required"))
                self.emit(
                    scope,
                    "required parameter added" if needed else "optional parameter added",
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
                    "parameter removed",
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
        self, scope: Scope, location: str, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        """The ``required`` flag and the text of a parameter or request body."""
        was, now = bool(old.get("required")), bool(new.get("required"))
        if was != now:
            self.emit(
                scope,
                "request field now required" if now else "request field no longer required",
                location,
                "required",
                was,
                now,
                "now required; flux2 may omit it" if now else "no longer required",
            )
        self.text_keys(scope, location, old, new)

    def request_body(self, old: Operation, new: Operation, scope: Scope) -> None:
        o = as_dict(deref(self.old, old.op.get("requestBody")))
        n = as_dict(deref(self.new, new.op.get("requestBody")))
        location = f"{old.label} request body"
        self.required_and_texts(scope, location, o, n)
        old_media, new_media = as_dict(o.get("content")), as_dict(n.get("content"))
        for media in sorted(old_media.keys() | new_media.keys()):
            if media not in new_media:
                self.emit(
                    scope,
                    "request body type dropped",
                    location,
                    "media type",
                    media,
                    None,
                    f"the candidate no longer accepts {media} bodies; flux2 sends JSON",
                )
            elif media not in old_media:
                self.emit(
                    scope,
                    "request body type added",
                    location,
                    "media type",
                    None,
                    media,
                    "new body type",
                )
            else:
                self.node(
                    location,
                    as_dict(old_media[media]).get("schema", {}),
                    as_dict(new_media[media]).get("schema", {}),
                    scope,
                )

    def responses(self, old: Operation, new: Operation, scope: Scope) -> None:
        old_r, new_r = as_dict(old.op.get("responses")), as_dict(new.op.get("responses"))
        for code in sorted(old_r.keys() | new_r.keys()):
            location = f"{old.label} response {code}"
            if code not in new_r or code not in old_r:
                gone = code not in new_r
                self.emit(
                    scope,
                    _answer_rule(gone, str(code)),
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
            o, n = as_dict(deref(self.old, old_r[code])), as_dict(deref(self.new, new_r[code]))
            self.text_keys(scope, location, o, n)
            old_media, new_media = as_dict(o.get("content")), as_dict(n.get("content"))
            for media in sorted(old_media.keys() | new_media.keys()):
                if media not in old_media or media not in new_media:
                    self.emit(
                        scope,
                        "answer type dropped" if media not in new_media else "answer type added",
                        location,
                        "media type",
                        media if media in old_media else None,
                        media if media in new_media else None,
                        "answer media type changed; flux2 reads JSON",
                    )
                    continue
                self.node(
                    location,
                    as_dict(old_media[media]).get("schema", {}),
                    as_dict(new_media[media]).get("schema", {}),
                    scope,
                )
            for key in sorted((o.keys() | n.keys()) - {"content"}):
                if not is_text(key) and not same(o.get(key), n.get(key)):
                    self.emit(
                        scope,
                        "answer headers changed",
                        location,
                        key,
                        o.get(key),
                        n.get(key),
                        "changed",
                    )

    # -- schemas ----------------------------------------------------------------------------

    def schemas(self) -> None:
        old_s = as_dict(as_dict(self.old.get("components")).get("schemas"))
        new_s = as_dict(as_dict(self.new.get("components")).get("schemas"))
        for name in sorted(old_s.keys() | new_s.keys()):
            scope = self.scope_of_schema(name)
            if name not in old_s:
                self.emit(
                    attrs.evolve(scope, affects=True),
                    "schema added",
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
                    "declared schema removed" if declared else "schema removed",
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


def compare(candidate: Mapping[str, Any], pinned: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every difference between `candidate` and `pinned` (default: flux2's pinned spec).

    Findings are judged for flux2 as built against `pinned`: its registry is
    ``models_from_spec(pinned)``, its wire expectations :mod:`flux2._wire`. Sorted breaking
    first, then additive, then cosmetic.
    """
    baseline = pinned_spec() if pinned is None else pinned
    return Comparison(candidate, baseline).run()
