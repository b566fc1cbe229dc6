"""What is breaking for flux2, and why: every kind of difference the walk can find, classified.

The walk (:mod:`._walk`, :mod:`._walk_schemas`) names each difference it finds by one of the
rules below and never decides a class itself; :func:`classify` is the only place that does.
"Request" is what flux2 sends (a FLUX.2 submit body, a query parameter); "answer" is what it
reads (the fields of :data:`flux2._wire.RESPONSE_FIELDS`, the task statuses of
:data:`flux2._wire.STATUS_MEANINGS`).

One rule holds for every row: a difference on a part of the API that no operation flux2 calls
uses (FLUX.1, Kontext, finetuning) is at most additive, with a message saying why it is not
breaking for flux2. flux2 never sends or reads that part, so it cannot break flux2; it is still
reported, because users of the generated client may call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ._findings import Category, listing

# rule -> (class, why)
_B: Final = "breaking"
_A: Final = "additive"
_C: Final = "cosmetic"
RULES: Final[Mapping[str, tuple[Category, str]]] = MappingProxyType(
    {
        # -- where flux2 sends its calls, and how it authenticates -------------------------
        "server moved": (_B, "flux2 sends each call to the server the baseline names"),
        "auth scheme changed": (_B, "flux2 authenticates only with its key in header x-key"),
        "auth scheme removed": (_B, "an operation flux2 calls names a scheme that is gone"),
        "auth scheme added": (_A, "a scheme nothing flux2 calls requires yet"),
        "auth required that flux2 cannot send": (_B, "the calls would be refused (401/403)"),
        "auth required that flux2 sends": (_A, "flux2 already sends its key in x-key"),
        "auth requirement nothing inherits": (_C, "no operation takes the document's default"),
        # -- endpoints and their parameters ------------------------------------------------
        "endpoint removed": (_B, "calls to it would fail"),
        "endpoint renamed": (_B, "calls to the old path would fail until re-pinned"),
        "endpoint added": (_A, "a model or call flux2 could offer after re-pinning"),
        "operation keyword changed": (_B, "flux2 cannot tell what it means: review it"),
        "operation deprecated": (_A, "flux2 keeps calling it until re-pinned"),
        "required parameter added": (_B, "flux2 does not send it: the calls would be refused"),
        "optional parameter added": (_A, "flux2 does not send it; the service's default holds"),
        "parameter removed": (_B, "flux2 sends it"),
        "request body type dropped": (_B, "flux2 sends JSON bodies"),
        "request body type added": (_A, "flux2 keeps sending JSON"),
        "success answer removed": (_B, "flux2 reads the 2xx answer"),
        "error answer removed": (_A, "flux2 handles every error status it is sent"),
        "answer added": (_A, "flux2 handles every status it is sent"),
        "answer type dropped": (_B, "flux2 reads JSON answers"),
        "answer type added": (_A, "flux2 keeps reading JSON"),
        "answer headers changed": (_A, "flux2 reads no documented answer header"),
        # -- named schemas -----------------------------------------------------------------
        "schema added": (_A, "something new the API offers"),
        "declared schema removed": (_B, "flux2._wire.RESPONSE_FIELDS names it"),
        "schema removed": (_C, "a schema name is not on the wire; its users are compared"),
        "schema renamed": (_C, "a schema name is not on the wire; its content is compared"),
        "request alternative removed": (_B, "flux2 may send a value of that shape"),
        "read answer alternative removed": (_B, "flux2 reads the fields of that shape"),
        "answer alternative removed": (_A, "flux2 does not read that shape"),
        "alternative added": (_A, "one more shape is accepted or may be answered"),
        # -- fields ------------------------------------------------------------------------
        "request field removed": (
            _B,
            "the service silently ignores fields it does not know, so calls that set it "
            "would be billed without it",
        ),
        "read field removed": (_B, "flux2 reads it"),
        "unread field removed": (_A, "flux2 does not read it"),
        "required request field added": (_B, "flux2 does not send it: calls would get 422"),
        "optional request field added": (_A, "flux2 never sends it until re-pinned"),
        "answer field added": (_A, "flux2 does not read it"),
        "request field now required": (_B, "flux2 sends it only when the caller sets it"),
        "request field no longer required": (_A, "flux2 sends what it sent before"),
        "read field no longer promised": (_B, "flux2 reads it from every answer"),
        "answer field presence changed": (_A, "flux2 does not rely on it"),
        "field extras changed": (_A, "additionalProperties: flux2 sends and reads known fields"),
        # -- values ------------------------------------------------------------------------
        "request type narrowed": (_B, "values flux2 sends would be refused"),
        "request type widened": (_A, "flux2 checks against the pinned types until re-pinned"),
        "read field retyped": (_B, "flux2 reads it as the type _wire declares"),
        "read field retyped compatibly": (_A, "still the type flux2 reads it as"),
        "unread field retyped": (_A, "flux2 does not read it"),
        "request enum value removed": (_B, "flux2 accepts and sends that value"),
        "request enum value added": (_A, "flux2 refuses it before sending until re-pinned"),
        "request values restricted": (_B, "values flux2 sends would be refused"),
        "values unrestricted": (_A, "every value accepted before still is"),
        "answer enum value removed": (_A, "flux2 still understands it"),
        "answer enum value added": (_A, "flux2 does not interpret the field"),
        "answer values restricted": (_A, "flux2 does not interpret the field"),
        "unknown task status": (
            _B,
            "flux2 would treat it as in flight, warn and poll until its deadline; add it to "
            "flux2._wire.STATUS_MEANINGS",
        ),
        "known task status listed": (_A, "flux2._wire.STATUS_MEANINGS already has it"),
        "enum reordered": (_C, "the same values"),
        "request range tightened": (_B, "flux2 accepts and sends values now refused"),
        "request range loosened": (_A, "flux2 keeps the pinned range until re-pinned"),
        "answer range changed": (_A, "flux2 does not rely on ranges of answers"),
        "request constraint added": (_B, "values flux2 sends may be refused"),
        "constraint removed or on an answer": (_A, "nothing flux2 sends is refused for it"),
        "field deprecated": (_A, "flux2 keeps its pinned behaviour until re-pinned"),
        "keyword on what flux2 sends or reads": (_B, "flux2 cannot tell what it means: review it"),
        "keyword on what flux2 does not read": (_A, "flux2 does not read the field"),
        "request default changed": (
            _B,
            "flux2 documents the pinned default for a parameter the caller leaves unset",
        ),
        "request default documented": (_A, "the service behaved that way already"),
        "answer default changed": (_A, "flux2 does not rely on defaults of answers"),
        # -- everything that is not on the wire --------------------------------------------
        "text": (_C, "descriptions, titles, examples, x-* extensions are not on the wire"),
        "operation name": (_C, "an operationId names a generated function, not a call"),
        "shared definitions": (_C, "what uses them is compared where it is used"),
        "document part": (_A, "a part of the document flux2 does not read"),
    }
)


def classify(
    rule: str, *, affects_flux2: bool, outside: tuple[str, ...] = ()
) -> tuple[Category, str]:
    """The class of a difference found under `rule`, and what to add to its message.

    `affects_flux2` is whether an operation flux2 calls uses the changed part; when none does,
    the class is at most additive (see the module docstring) and the addition says why,
    naming the operations that do use it (`outside`).
    """
    category, _ = RULES[rule]
    if category == "cosmetic" or affects_flux2:
        return category, ""
    because = (
        f"flux2 does not call {listing(outside, 3)}"
        if outside
        else ("no operation flux2 calls uses it")
    )
    prefix = "not breaking for flux2: " if category == "breaking" else ""
    return "additive", f"; {prefix}{because}"
