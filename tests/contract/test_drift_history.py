"""The drift check over BFL's real spec history: every consecutive pair, findings written out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from flux2.drift import Finding, compare, summarize_changes

FLUX1_SCHEMAS_WITH_OUTPUT_FORMAT_TEXT = [
    "FinetuneFluxProFillInputs",
    "FinetuneFluxUltraInput",
    "FluxDevInputs",
    "FluxKontextProInputs",
    "FluxPro11Inputs",
    "FluxProExpandInputs",
    "FluxProFillInputs",
    "FluxUltraInput",
]
FLUX2_OPERATIONS = [
    "POST /v1/flux-2-flex",
    "POST /v1/flux-2-klein-4b",
    "POST /v1/flux-2-klein-9b",
    "POST /v1/flux-2-klein-9b-preview",
    "POST /v1/flux-2-max",
    "POST /v1/flux-2-pro",
    "POST /v1/flux-2-pro-preview",
]

# (older, newer) -> every finding expected, as (class, location, aspect).
EXPECTED: dict[tuple[str, str], set[tuple[str, str, str]]] = {
    ("2026-03-20", "2026-03-25"): {
        ("additive", "OutputFormat", "enum"),
        *(
            ("cosmetic", f"{schema}.output_format", "description")
            for schema in FLUX1_SCHEMAS_WITH_OUTPUT_FORMAT_TEXT
        ),
    },
    ("2026-03-25", "2026-03-28"): {
        ("breaking", "securitySchemes.APIKeyHeader", "auth scheme"),
        ("additive", "security", "requirement"),
    },
    ("2026-03-28", "2026-04-02"): {
        ("cosmetic", "DeleteFinetuneInputs.finetune_id", "description"),
        ("cosmetic", "FinetuneFluxProFillInputs.finetune_id", "description"),
        ("cosmetic", "FinetuneFluxUltraInput.finetune_id", "description"),
    },
    ("2026-04-02", "2026-04-04"): {
        ("cosmetic", op, text)
        for op in [*FLUX2_OPERATIONS, "POST /v1/flux-kontext-max", "POST /v1/flux-kontext-pro"]
        for text in ("summary", "description")
    },
    ("2026-04-04", "2026-04-14"): {
        ("breaking", "Flux2Inputs.disable_pup", "field"),
        ("breaking", "Flux2Inputs.transparent_bg", "field"),
        ("breaking", "Flux2KleinInputs.transparent_bg", "field"),
    },
}


def _load(folder: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / f"{name}.json").read_text())
    return document


def _by_location(findings: list[Finding]) -> dict[str, Finding]:
    return {f.location: f for f in findings}


def test_history_is_what_the_tests_expect(spec_history: Path) -> None:
    names = sorted(p.stem for p in spec_history.glob("*.json"))
    pairs = set(itertools.pairwise(names))
    assert pairs == set(EXPECTED), "a new copy in the spec history needs its expected findings"


@pytest.mark.parametrize("pair", sorted(EXPECTED), ids=lambda p: f"{p[0]}->{p[1]}")
def test_each_step_yields_exactly_the_expected_findings(
    spec_history: Path, pair: tuple[str, str]
) -> None:
    older, newer = pair
    findings = compare(_load(spec_history, newer), _load(spec_history, older))
    got = {(f.category, f.location, f.aspect) for f in findings}
    assert got == EXPECTED[pair]
    assert len(findings) == len(got), "each difference is reported once"


def test_webp_is_a_new_request_enum_value_and_flux1_texts_are_cosmetic(
    spec_history: Path,
) -> None:
    findings = compare(_load(spec_history, "2026-03-25"), _load(spec_history, "2026-03-20"))
    webp = _by_location(findings)["OutputFormat"]
    assert webp.old == ["jpeg", "png"]
    assert webp.new == ["jpeg", "png", "webp"]
    assert "'webp'" in webp.message
    assert "output_format" in webp.message
    assert webp.affects_flux2
    texts = [f for f in findings if f.category == "cosmetic"]
    assert all("webp" in f.new and "webp" not in f.old for f in texts)
    assert not any(f.affects_flux2 for f in texts)


def test_bearer_to_x_key_is_a_breaking_auth_change_and_layout_is_nothing(
    spec_history: Path,
) -> None:
    pretty = _load(spec_history, "2026-03-25")
    minified = _load(spec_history, "2026-03-28")
    assert (spec_history / "2026-03-28.json").read_text().count("\n") <= 1, "03-28 is minified"
    findings = _by_location(compare(minified, pretty))
    auth = findings["securitySchemes.APIKeyHeader"]
    assert auth.category == "breaking"
    assert auth.old == "HTTP bearer (Authorization header)"
    assert auth.new == "API key in header 'x-key'"
    assert "x-key" in auth.message
    # The document-wide requirement is gone; only get_result inherited it, and flux2 still
    # sends its key there.
    requirement = findings["security"]
    assert requirement.category == "additive"
    assert "GET /v1/get_result" in requirement.message


def test_leaving_fields_are_breaking_only_where_flux2_sends_them(spec_history: Path) -> None:
    findings = _by_location(
        compare(_load(spec_history, "2026-04-14"), _load(spec_history, "2026-04-04"))
    )
    pup = findings["Flux2Inputs.disable_pup"]
    assert pup.new is None
    assert "flux2 sends disable_pup to flux-2-max, flux-2-pro, flux-2-pro-preview" in pup.message
    assert "silently ignores" in pup.message
    klein = findings["Flux2KleinInputs.transparent_bg"]
    assert "flux-2-klein-4b, flux-2-klein-9b, flux-2-klein-9b-preview" in klein.message
    # Flex has neither field: nothing is said about it.
    assert not any("flux-2-flex" in f.message for f in findings.values())


def test_the_pin_reads_the_older_copy_as_new_optional_fields(spec_history: Path) -> None:
    findings = compare(_load(spec_history, "2026-04-04"), _load(spec_history, "2026-04-14"))
    assert {(f.category, f.location) for f in findings} == {
        ("additive", "Flux2Inputs.disable_pup"),
        ("additive", "Flux2Inputs.transparent_bg"),
        ("additive", "Flux2KleinInputs.transparent_bg"),
    }
    assert all("flux2 never sends it" in f.message for f in findings)


@pytest.mark.parametrize(
    "name", ["2026-03-20", "2026-03-25", "2026-03-28", "2026-04-02", "2026-04-04", "2026-04-14"]
)
def test_a_copy_against_itself_re_laid_out_is_nothing(spec_history: Path, name: str) -> None:
    document = _load(spec_history, name)
    relaid = json.loads(json.dumps(document, sort_keys=True, separators=(",", ":")))
    assert compare(relaid, document) == []


def test_summary_for_regenerate_names_fields_and_class(spec_history: Path) -> None:
    lines = summarize_changes(_load(spec_history, "2026-03-20"), _load(spec_history, "2026-03-25"))
    assert "schema changed: OutputFormat (enum +'webp') [additive]" in lines
    assert "schema changed: FluxDevInputs (~output_format) [cosmetic]" in lines
    lines = summarize_changes(_load(spec_history, "2026-04-04"), _load(spec_history, "2026-04-14"))
    assert lines == [
        "schema changed: Flux2Inputs (-disable_pup, -transparent_bg) [breaking]",
        "schema changed: Flux2KleinInputs (-transparent_bg) [breaking]",
    ]
