"""The drift check's control: proof that the check can fail.

Each seed puts one known kind of drift into a copy of the baseline; the check must find it and
classify it as expected. A re-laid-out copy and an unmodified copy must yield nothing. Run by
``test_drift_cli.py`` on every test run, and by ``scripts/check_drift --control``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from flux2 import drift
from flux2._spec import pinned_spec
from flux2.drift import Category, Finding


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
        found = tuple(drift.compare(reparsed, pinned))
        results.append(ControlResult(kind, expected, location, found, None, outside))
    minified = json.dumps(_reordered(pinned), separators=(",", ":"), sort_keys=False)
    results.append(
        ControlResult(
            _ORDER_AND_WHITESPACE,
            None,
            "(whole document)",
            tuple(drift.compare(json.loads(minified), pinned)),
        )
    )
    untouched = json.loads(json.dumps(pinned))
    results.append(
        ControlResult(
            "unmodified copy", None, "(whole document)", tuple(drift.compare(untouched, pinned))
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


def main(argv: Sequence[str] | None = None, *, prog: str = "check_drift --control") -> int:
    """Run the control against the pinned spec (or ``--against PATH``): 0 when every seed is
    found and classified as expected, 1 otherwise, 2 when the baseline cannot be read."""
    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("--against", metavar="PATH", help="the baseline to seed into")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        baseline = drift.load_document(args.against) if args.against else pinned_spec()
    except drift.DriftInputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
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
        print(json.dumps(rows, indent=2))
    else:
        print(render_control(results))
    return 0 if all(r.ok for r in results) else 1
