"""Spec drift: what changed between two BFL OpenAPI documents, and what it means for flux2.

BFL changes its API without notice and the service silently ignores request fields it no
longer knows [seen], so a renamed field is a silent no-op that users pay for. This package
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

The rule for each kind of difference, and why, is one table: :data:`RULES` (in
``_rules.py``). Command line (``scripts/check_drift``, ``flux2 drift``)::

    flux2 drift [--spec URL_OR_PATH] [--against PATH] [--format text|json|markdown]
                [--json] [-o PATH]

exits 0 when nothing is breaking, 1 when something is, 2 when it could not run.
``--format markdown`` writes the report as a pull request's description.

Layout, in the order data flows:

``_load.py``
    reading a document from a URL or a file (:func:`load_document`).
``_nodes.py``
    schema nodes read for comparison (alternatives merged, texts kept apart), on top of
    :mod:`flux2._schema`, flux2's one reader of JSON Schema.
``_document.py``
    the document's operations, and which of them use each schema: what flux2 relies on.
``_walk.py``, ``_walk_schemas.py``
    walking the two documents side by side; each difference found is named by a rule, never
    classified there.
``_rules.py``
    the rule table: what is breaking for flux2, and why; :func:`classify` is the only place a
    class is decided.
``_findings.py``
    :class:`Finding`, and :func:`exit_code`.
``_report.py``, ``_summary.py``
    the report as text, JSON or markdown; the one-line-per-part summary ``scripts/regenerate``
    prints.
``_command.py``
    the options and exit codes shared by ``flux2 drift`` and ``scripts/check_drift``.

``scripts/check_drift --control`` seeds known drift into copies of the baseline and fails
unless each is found and classified as expected, proving the check can fail; its seeds live
with the tests (``tests/contract/drift_control.py``), which run it on every CI run.
"""

from __future__ import annotations

from ._command import add_arguments, main, run
from ._findings import CATEGORIES, Category, Finding, exit_code
from ._load import FETCH_TIMEOUT, LIVE_SPEC_URL, DriftInputError, load_document
from ._report import FORMATS, render_json, render_markdown, render_report
from ._rules import RULES, classify
from ._summary import summarize_changes
from ._walk import compare

__all__ = [
    "CATEGORIES",
    "FETCH_TIMEOUT",
    "FORMATS",
    "LIVE_SPEC_URL",
    "RULES",
    "Category",
    "DriftInputError",
    "Finding",
    "add_arguments",
    "classify",
    "compare",
    "exit_code",
    "load_document",
    "main",
    "render_json",
    "render_markdown",
    "render_report",
    "run",
    "summarize_changes",
]
