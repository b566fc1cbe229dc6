"""Walking two schema nodes side by side: each difference found is handed to the rules.

:class:`SchemaWalk` compares types, enums, bounds, other constraints, defaults, properties and
array items, and names every difference it finds by a rule of :mod:`flux2.drift._rules`; it
never decides a class itself. :class:`flux2.drift._walk.Comparison` adds the rest of the
document (servers, auth, operations) on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from flux2 import _schema, _wire

from ._document import Scope, Usage
from ._findings import MISSING, Finding, jsonable, listing, short
from ._nodes import (
    Facts,
    as_dict,
    compatible,
    describe_field,
    facts_of,
    is_text,
    same,
    types_text,
    without_text,
)
from ._rules import classify


class SchemaWalk:
    """One comparison of a candidate document with a baseline: the schema part."""

    def __init__(self, candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> None:
        self.new = candidate
        self.old = baseline
        self.usage = Usage(candidate, baseline)
        self.findings: list[Finding] = []

    # -- emitting ---------------------------------------------------------------------------

    def emit(  # noqa: PLR0917
        self,
        scope: Scope,
        rule: str,
        location: str,
        aspect: str,
        old: Any,
        new: Any,
        message: str,
        *,
        change: str = "changed",
        member: str | None = MISSING,
    ) -> None:
        """Record a difference found under `rule` (:data:`flux2.drift._rules.RULES`)."""
        category, note = classify(rule, affects_flux2=scope.affects, outside=scope.outside)
        message += note
        self.findings.append(
            Finding(
                category=category,
                location=location,
                aspect=aspect,
                old=jsonable(old),
                new=jsonable(new),
                message=message,
                affects_flux2=scope.affects and category != "cosmetic",
                subject=scope.subject,
                member=scope.member if member is MISSING else member,
                change=change,
                rule=rule,
            )
        )

    def scope_of_schema(self, name: str) -> Scope:
        return self.usage.scope_of_schema(name)

    def scope_of_operation(self, label: str, role: Literal["request", "response"]) -> Scope:
        return self.usage.scope_of_operation(label, role)

    def text_keys(
        self, scope: Scope, location: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        for key in sorted(k for k in old.keys() | new.keys() if is_text(k)):
            o, n = old.get(key, MISSING), new.get(key, MISSING)
            if o is MISSING or n is MISSING or not same(o, n):
                self.emit(scope, "text", location, key, o, n, f"{key} changed")

    def node(self, location: str, old: Any, new: Any, scope: Scope, depth: int = 0) -> None:
        """Compare two schema nodes at `location`, judging each difference for `scope`."""
        if depth > 12 or same(old, new):
            return
        fo, fn = facts_of(self.old, old, fold=False), facts_of(self.new, new, fold=False)
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
                        "schema renamed",
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
                fo, fn = facts_of(self.old, old, fold=True), facts_of(self.new, new, fold=True)
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
        self, location: str, scope: Scope, old_names: list[str], new_names: list[str]
    ) -> None:
        old_s = as_dict(as_dict(self.old.get("components")).get("schemas"))
        new_s = as_dict(as_dict(self.new.get("components")).get("schemas"))
        removed = sorted(set(old_names) - set(new_names))
        added = sorted(set(new_names) - set(old_names))
        for name in list(removed):
            twin = next(
                (
                    a
                    for a in added
                    if same(without_text(old_s.get(name)), without_text(new_s.get(a)))
                ),
                None,
            )
            if twin is not None:
                removed.remove(name)
                added.remove(twin)
                self.emit(
                    scope,
                    "schema renamed",
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
                rule = "read answer alternative removed" if read else "answer alternative removed"
            else:
                message = f"the request can no longer be a {name}, which flux2 may send"
                rule = "request alternative removed"
            self.emit(scope, rule, location, "alternative", name, None, message)
        for name in added:
            self.emit(
                scope,
                "alternative added",
                location,
                "alternative",
                None,
                name,
                f"the {'answer' if scope.role == 'response' else 'request'} may now be a {name}",
            )

    def texts(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        for key in sorted(fo.texts.keys() | fn.texts.keys()):
            o, n = fo.texts.get(key, MISSING), fn.texts.get(key, MISSING)
            if o is MISSING or n is MISSING or not same(o, n):
                self.emit(scope, "text", location, key, o, n, f"{key} changed")

    def _field_text(self, scope: Scope) -> str:
        return scope.field or "it"

    def _sent_to(self, scope: Scope) -> str:
        if scope.models:
            return f"to {listing(scope.models)}"
        return "with its calls"

    def types(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        removed = {t for t in fo.types if not _schema.covers(fn.types, t)}
        added = {t for t in fn.types if not _schema.covers(fo.types, t)}
        if not removed and not added:
            return
        old, new = types_text(fo.types), types_text(fn.types)
        field = self._field_text(scope)
        if scope.role == "request":
            if removed:
                rule = "request type narrowed"
                message = (
                    f"type narrowed: flux2 sends {field} as {old} {self._sent_to(scope)} when the "
                    f"caller sets it; the candidate accepts only {new}"
                )
            else:
                rule = "request type widened"
                message = (
                    f"type widened: the candidate also accepts {types_text(added)}; flux2 keeps "
                    "checking against the pinned types until re-pinned"
                )
        elif scope.read_type is not None:
            nullable_ok = not scope.required
            if not compatible(scope.read_type, fn.types, nullable_ok):
                rule = "read field retyped"
                message = (
                    f"retyped: flux2 reads {field} as {scope.read_type}"
                    f"{' or null' * nullable_ok} (flux2._wire.RESPONSE_FIELDS); the candidate "
                    f"declares {new}"
                )
            else:
                rule = "read field retyped compatibly"
                message = f"type changed, still what flux2 reads {field} as ({scope.read_type})"
        else:
            rule = "unread field retyped"
            message = f"type changed; flux2 does not read {field}"
        self.emit(scope, rule, location, "type", old, new, message)

    def enum(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        if fo.enum is None and fn.enum is None:
            return
        field = self._field_text(scope)
        if fo.enum is None or fn.enum is None:
            restricted = fn.enum is not None
            rule = (
                "request values restricted"
                if scope.role == "request"
                else "answer values restricted"
            )
            if scope.status and restricted and fn.enum is not None:
                unknown = [v for v in fn.enum if v not in _wire.STATUS_MEANINGS]
                rule = "unknown task status" if unknown else "known task status listed"
            message = (
                f"values of {field} now restricted to an enum"
                if restricted
                else f"{field} is no longer restricted to an enum"
            )
            self.emit(
                scope,
                rule if restricted else "values unrestricted",
                location,
                "enum",
                fo.enum,
                fn.enum,
                message,
            )
            return
        removed = [v for v in fo.enum if not any(same(v, n) for n in fn.enum)]
        added = [v for v in fn.enum if not any(same(v, o) for o in fo.enum)]
        values = ", ".join(repr(v) for v in removed)
        if removed:
            if scope.role == "request":
                self.emit(
                    scope,
                    "request enum value removed",
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
                    "answer enum value removed",
                    location,
                    "enum",
                    fo.enum,
                    fn.enum,
                    f"the candidate no longer lists {values}; flux2 still understands it",
                )
        if added:
            self.enum_added(location, fo.enum, fn.enum, added, scope)
        if not removed and not added and fo.enum != fn.enum:
            self.emit(
                scope, "enum reordered", location, "enum order", fo.enum, fn.enum, "order only"
            )

    def enum_added(
        self, location: str, old: list[Any], new: list[Any], added: list[Any], scope: Scope
    ) -> None:
        field = self._field_text(scope)
        if scope.status:
            unknown = [v for v in added if v not in _wire.STATUS_MEANINGS]
            known = [v for v in added if v in _wire.STATUS_MEANINGS]
            if unknown:
                self.emit(
                    scope,
                    "unknown task status",
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
                    "known task status listed",
                    location,
                    "enum",
                    old,
                    new,
                    f"the spec now lists a task status flux2 already knows ({meanings})",
                )
            return
        values = ", ".join(repr(v) for v in added)
        if scope.role == "request":
            rule = "request enum value added"
            message = (
                f"new value {values} for {field}; flux2 rejects it before sending until re-pinned"
            )
        else:
            rule = "answer enum value added"
            message = f"new value {values}; flux2 does not interpret {field}"
        self.emit(scope, rule, location, "enum", old, new, message)

    def bounds(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        field = self._field_text(scope)
        for key in (*_schema.LOWER_BOUNDS, *_schema.UPPER_BOUNDS):
            o, n = fo.bounds.get(key), fn.bounds.get(key)
            if (o is None and n is None) or (o is not None and n is not None and same(o, n)):
                continue
            lower = key in _schema.LOWER_BOUNDS
            try:
                tighter = n is not None and (o is None or (n > o if lower else n < o))
            except TypeError:
                tighter = True
            if scope.role != "request":
                rule = "answer range changed"
                message = f"range of {field} changed; flux2 does not rely on it"
            elif tighter:
                rule = "request range tightened"
                message = (
                    f"range tightened: flux2 accepts and sends {field} values the candidate "
                    f"refuses ({key} {short(o)} -> {short(n)}) {self._sent_to(scope)}"
                )
            else:
                rule = "request range loosened"
                message = (
                    f"range loosened; flux2 keeps the pinned range for {field} until re-pinned"
                )
            self.emit(scope, rule, location, key, o, n, message)

    def constraints(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        field = self._field_text(scope)
        for key in sorted(fo.narrowing.keys() | fn.narrowing.keys()):
            o, n = fo.narrowing.get(key, MISSING), fn.narrowing.get(key, MISSING)
            if o is not MISSING and n is not MISSING and same(o, n):
                continue
            narrower = n is not MISSING
            if scope.role == "request" and narrower:
                rule = "request constraint added"
                message = f"{key} constraint added or changed: values flux2 sends may be refused"
            else:
                rule = "constraint removed or on an answer"
                message = f"{key} constraint {'changed' if narrower else 'removed'}"
            self.emit(scope, rule, location, key, o, n, message)
        if fo.deprecated != fn.deprecated:
            self.emit(
                scope,
                "field deprecated",
                location,
                "deprecated",
                fo.deprecated,
                fn.deprecated,
                f"{field} deprecation changed; flux2 keeps its pinned behaviour until re-pinned",
            )
        for key in sorted(fo.other.keys() | fn.other.keys()):
            o, n = fo.other.get(key, MISSING), fn.other.get(key, MISSING)
            if o is not MISSING and n is not MISSING and same(o, n):
                continue
            relied = scope.role == "request" or scope.read_type is not None
            self.emit(
                scope,
                "keyword on what flux2 sends or reads"
                if relied
                else "keyword on what flux2 does not read",
                location,
                key,
                o,
                n,
                f"schema keyword {key!r} changed; flux2 cannot tell whether this changes what "
                "it sends or reads, review it"
                if relied
                else f"schema keyword {key!r} changed; flux2 does not read {field}",
            )

    def default(self, location: str, fo: Facts, fn: Facts, scope: Scope) -> None:
        o, n = fo.default, fn.default
        if (o is MISSING and n is MISSING) or (
            o is not MISSING and n is not MISSING and same(o, n)
        ):
            return
        field = self._field_text(scope)
        if scope.role != "request":
            rule = "answer default changed"
            message = "default changed; flux2 does not rely on response defaults"
        elif o is MISSING:
            rule = "request default documented"
            message = f"the spec now documents a default for {field}"
        else:
            rule = "request default changed"
            message = (
                f"default changed: flux2 documents {field} = {short(o)} when the caller leaves "
                f"it unset; the service would now use {short(n)}"
                if n is not MISSING
                else f"flux2 documents {field} = {short(o)} when unset; the candidate no longer "
                "promises a default"
            )
        self.emit(scope, rule, location, "default", o, n, message)

    def properties(self, location: str, fo: Facts, fn: Facts, scope: Scope, depth: int) -> None:
        po, pn = fo.properties, fn.properties
        removed = [name for name in po if name not in pn]
        added = [name for name in pn if name not in po]
        renamed: dict[str, str] = {}
        for old_name in removed:
            for new_name in added:
                if (
                    new_name not in renamed.values()
                    and (old_name in fo.required) == (new_name in fn.required)
                    and same(without_text(po[old_name]), without_text(pn[new_name]))
                ):
                    renamed[old_name] = new_name
                    break
        read = scope.read_fields or {}
        sent = self._sent_to(scope)
        rule: str
        for name in sorted(removed):
            where = f"{location}.{name}"
            field_scope = scope.child(name, read.get(name), name in fo.required)
            if scope.role == "request" and not scope.affects:
                rule = "request field removed"
                lost = "the service would silently ignore it where callers still send it"
            elif scope.role == "request":
                rule = "request field removed"
                lost = (
                    f"flux2 sends {name} {sent} when the caller sets it; the service silently "
                    "ignores fields it does not know, so such calls would be billed without it"
                )
            elif name in read:
                rule = "read field removed"
                lost = f"flux2 reads {name} as {read[name]} (flux2._wire.RESPONSE_FIELDS)"
            else:
                rule = "unread field removed"
                lost = f"flux2 does not read {name}"
            if name in renamed:
                self.emit(
                    field_scope,
                    rule,
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
                    rule,
                    where,
                    "field",
                    describe_field(po[name], self.old),
                    None,
                    f"field removed; {lost}",
                    change="removed",
                )
        for name in sorted(added):
            if name in renamed.values():
                continue
            where = f"{location}.{name}"
            needed = name in fn.required and "default" not in as_dict(pn[name])
            field_scope = scope.child(name, None, name in fn.required)
            if scope.role == "request":
                if needed:
                    rule = "required request field added"
                    message = (
                        f"new required field; flux2 does not send it, so its calls {sent} would "
                        "be refused (422)"
                    )
                else:
                    users = f" ({listing(scope.models)})" if scope.models else ""
                    message = (
                        f"new optional field{users}; flux2 never sends it: its pinned registry "
                        "lacks it (re-pin to offer it)"
                    )
                    rule = "optional request field added"
            else:
                rule = "answer field added"
                message = "new field in the answer; flux2 does not read it"
            self.emit(
                field_scope,
                rule,
                where,
                "field",
                None,
                describe_field(pn[name], self.new),
                message,
                change="added",
            )
        for name in sorted(set(po) & set(pn)):
            where = f"{location}.{name}"
            was, now = name in fo.required, name in fn.required
            field_scope = scope.child(name, read.get(name), was)
            if was != now:
                if scope.role == "request":
                    rule = (
                        "request field now required" if now else "request field no longer required"
                    )
                    message = (
                        f"{name} is now required; flux2 sends it only when the caller sets it, "
                        "so calls without it would be refused (422)"
                        if now
                        else f"{name} is no longer required"
                    )
                elif name in read and was:
                    rule = "read field no longer promised"
                    message = (
                        f"flux2 reads {name}; the candidate no longer promises it in every answer"
                    )
                else:
                    rule = "answer field presence changed"
                    message = f"{name} {'is now' if now else 'is no longer'} always present"
                self.emit(field_scope, rule, where, "required", was, now, message)
            self.node(where, po[name], pn[name], field_scope, depth + 1)
        for key in sorted(fo.extra.keys() | fn.extra.keys()):
            o, n = fo.extra.get(key, MISSING), fn.extra.get(key, MISSING)
            if o is MISSING or n is MISSING or not same(o, n):
                self.emit(scope, "field extras changed", location, key, o, n, f"{key} changed")
