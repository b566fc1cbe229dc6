"""How flux2.drift classifies each kind of difference, seeded into copies of the pinned spec."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flux2 import _wire, drift, registry
from flux2._spec import pinned_spec
from flux2.drift import Finding, compare, exit_code, summarize_changes

Doc = dict[str, Any]


def _seeded(change: Callable[[Doc], object]) -> list[Finding]:
    document = copy.deepcopy(pinned_spec())
    change(document)
    return compare(json.loads(json.dumps(document)), pinned_spec())


def _schemas(document: Doc) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.where() for f in findings]
    return findings[0]


def test_the_pin_against_itself_is_nothing() -> None:
    assert compare(copy.deepcopy(pinned_spec())) == []


def test_finding_json_has_the_documented_keys() -> None:
    finding = _only(_seeded(lambda d: _schemas(d)["StatusResponse"]["enum"].append("Queued")))
    as_json = finding.to_json()
    assert set(as_json) >= {"class", "location", "old", "new", "message"}
    assert as_json["class"] == "breaking"
    assert json.loads(json.dumps(as_json)) == as_json


def test_a_status_flux2_already_knows_is_additive_one_it_does_not_is_breaking() -> None:
    assert "Reasoning" in _wire.STATUS_MEANINGS
    known = _only(_seeded(lambda d: _schemas(d)["StatusResponse"]["enum"].append("Reasoning")))
    assert known.category == "additive"
    assert "already knows" in known.message
    unknown = _only(_seeded(lambda d: _schemas(d)["StatusResponse"]["enum"].append("Queued")))
    assert unknown.category == "breaking"
    assert "'Queued'" in unknown.message
    assert "STATUS_MEANINGS" in unknown.message
    dropped = _only(_seeded(lambda d: _schemas(d)["StatusResponse"]["enum"].remove("Pending")))
    assert dropped.category == "additive"


def test_response_fields_flux2_reads_versus_fields_it_does_not() -> None:
    def drop(field: str) -> Callable[[Doc], object]:
        return lambda d: _schemas(d)["ResultResponse"]["properties"].pop(field)

    assert "preview" not in _wire.RESPONSE_FIELDS["ResultResponse"]
    preview = _only(_seeded(drop("preview")))
    assert preview.category == "additive"
    assert "flux2 does not read preview" in preview.message
    progress = _only(_seeded(drop("progress")))
    assert progress.category == "breaking"
    assert "flux2 reads progress as number" in progress.message


def test_a_read_field_retyped_or_no_longer_promised_is_breaking() -> None:
    def progress_as_string(d: Doc) -> None:
        _schemas(d)["ResultResponse"]["properties"]["progress"]["anyOf"][0]["type"] = "string"

    retyped = _only(_seeded(progress_as_string))
    assert retyped.category == "breaking"
    assert retyped.location == "ResultResponse.progress"
    assert (retyped.old, retyped.new) == ("number | null", "string | null")

    def id_optional(d: Doc) -> None:
        _schemas(d)["AsyncResponse"]["required"].remove("id")

    optional = _only(_seeded(id_optional))
    assert (optional.category, optional.aspect) == ("breaking", "required")

    def cost_integer(d: Doc) -> None:
        _schemas(d)["AsyncResponse"]["properties"]["cost"]["anyOf"][0]["type"] = "integer"

    narrower = _only(_seeded(cost_integer))
    assert narrower.category == "additive", "an integer is still a number"


def test_the_submit_answer_losing_a_shape_flux2_reads_is_breaking() -> None:
    def no_webhook_answer(d: Doc) -> None:
        schema = d["paths"]["/v1/flux-2-flex"]["post"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        schema["anyOf"] = schema["anyOf"][:1]

    finding = _only(_seeded(no_webhook_answer))
    assert finding.category == "breaking"
    assert finding.location == "POST /v1/flux-2-flex response 200"
    assert "AsyncWebhookResponse" in finding.message


def test_request_side_rules() -> None:
    def prompt_optional(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["required"].remove("prompt")

    assert _only(_seeded(prompt_optional)).category == "additive"

    def seed_default(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["properties"]["seed"]["default"] = 7

    added_default = _only(_seeded(seed_default))
    assert (added_default.category, added_default.aspect) == ("additive", "default")

    def no_default(d: Doc) -> None:
        del _schemas(d)["Flux2FlexInputs"]["properties"]["steps"]["default"]

    assert _only(_seeded(no_default)).category == "breaking"

    def webhook_pattern(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["properties"]["webhook_url"]["anyOf"][0]["pattern"] = "^https"

    assert _only(_seeded(webhook_pattern)).category == "breaking"

    def unknown_keyword(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["properties"]["seed"]["anyOf"][0]["not"] = {"const": 0}

    review = _only(_seeded(unknown_keyword))
    assert review.category == "breaking"
    assert "review it" in review.message

    def width_integer_to_number(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["properties"]["width"]["anyOf"][0]["type"] = "number"

    assert _only(_seeded(width_integer_to_number)).category == "additive"

    def seed_string(d: Doc) -> None:
        _schemas(d)["Flux2Inputs"]["properties"]["seed"]["anyOf"][0]["type"] = "string"

    retyped = _only(_seeded(seed_string))
    assert retyped.category == "breaking"
    assert "flux2 sends seed as integer | null" in retyped.message


def test_schema_names_are_not_on_the_wire() -> None:
    def rename_output_format(d: Doc) -> None:
        text = json.dumps(d).replace('"#/components/schemas/OutputFormat"', '"#/x/ImageFormat"')
        renamed = json.loads(
            text.replace('"#/x/ImageFormat"', '"#/components/schemas/ImageFormat"')
        )
        renamed["components"]["schemas"]["ImageFormat"] = renamed["components"]["schemas"].pop(
            "OutputFormat"
        )
        d.clear()
        d.update(renamed)

    findings = _seeded(rename_output_format)
    assert findings
    assert exit_code(findings) == 0
    assert {f.category for f in findings} <= {"additive", "cosmetic"}
    assert any(f.aspect == "schema name" for f in findings)


def test_endpoints_flux2_does_not_use() -> None:
    gone = _only(_seeded(lambda d: d["paths"].pop("/v1/flux-dev")))
    assert gone.category == "additive"
    assert not gone.affects_flux2
    assert "not breaking for flux2" in gone.message

    def new_kontext(d: Doc) -> None:
        d["paths"]["/v1/flux-kontext-ultra"] = copy.deepcopy(d["paths"]["/v1/flux-kontext-pro"])

    added = _only(_seeded(new_kontext))
    assert added.category == "additive"
    assert "not a FLUX.2 model" in added.message


def test_endpoints_flux2_uses() -> None:
    def drop_id(d: Doc) -> None:
        d["paths"]["/v1/get_result"]["get"]["parameters"] = []

    gone = _only(_seeded(drop_id))
    assert (gone.category, gone.location) == ("breaking", "GET /v1/get_result query id")
    op_id = _only(
        _seeded(lambda d: d["paths"]["/v1/flux-2-pro"]["post"].update(operationId="generate_pro"))
    )
    assert op_id.category == "cosmetic"


def test_auth_and_servers() -> None:
    def bearer_for_pro(d: Doc) -> None:
        d["components"]["securitySchemes"]["Bearer"] = {"type": "http", "scheme": "bearer"}
        d["paths"]["/v1/flux-2-pro"]["post"]["security"] = [{"Bearer": []}]

    findings = {f.location: f for f in _seeded(bearer_for_pro)}
    assert findings["POST /v1/flux-2-pro"].category == "breaking"
    assert "x-key" in findings["POST /v1/flux-2-pro"].message
    assert findings["securitySchemes.Bearer"].category == "additive"

    open_credits = _only(_seeded(lambda d: d["paths"]["/v1/credits"]["get"].pop("security")))
    assert open_credits.category == "additive", "flux2 keeps sending its key"

    def move_api(d: Doc) -> None:
        d["servers"] = [{"url": "https://api.eu.bfl.ai", "description": "BFL API"}]

    moved = _only(_seeded(move_api))
    assert (moved.category, moved.location) == ("breaking", "servers")

    def describe_server(d: Doc) -> None:
        d["servers"][0]["description"] = "The BFL API"

    assert _only(_seeded(describe_server)).category == "cosmetic"

    def finetune_elsewhere(d: Doc) -> None:
        d["paths"]["/v1/my_finetunes"]["get"]["servers"] = [{"url": "https://api.eu1.bfl.ai"}]

    finetune = _only(_seeded(finetune_elsewhere))
    assert (finetune.category, finetune.affects_flux2) == ("additive", False)


def test_info_and_vendor_extensions_are_cosmetic() -> None:
    def touch(d: Doc) -> None:
        d["info"]["version"] = "0.0.2"
        d["x-generated-by"] = "fastapi"
        _schemas(d)["Flux2Inputs"]["properties"]["seed"]["x-order"] = 3

    findings = _seeded(touch)
    assert len(findings) == 3
    assert {f.category for f in findings} == {"cosmetic"}


def test_summarize_changes_edge_cases() -> None:
    pinned = pinned_spec()
    operations = sum(
        method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
        for item in pinned["paths"].values()
        for method in item
    )
    assert summarize_changes(None, pinned)[0].startswith(f"first pin: {operations} operations")
    assert summarize_changes(pinned, copy.deepcopy(pinned)) == [
        "no differences (key order or whitespace only)"
    ]
    document = copy.deepcopy(pinned)
    path = next(iter(registry.models_from_spec(pinned).values())).path
    document["paths"].pop(path)
    assert summarize_changes(pinned, document) == [f"endpoint removed: POST {path} [breaking]"]


@pytest.mark.parametrize("broken", [{"paths": {"/v1/x": 3}}, {"components": {"schemas": []}}])
def test_malformed_parts_do_not_crash(broken: Doc) -> None:
    document = {**copy.deepcopy(pinned_spec()), **broken}
    findings = compare(document)
    assert findings


def test_renaming_a_schema_flux2_declares_is_breaking_for_its_declaration() -> None:
    def rename(d: Doc) -> None:
        text = json.dumps(d).replace("#/components/schemas/AsyncResponse", "#/x/SubmitResponse")
        renamed = json.loads(
            text.replace("#/x/SubmitResponse", "#/components/schemas/SubmitResponse")
        )
        schemas = renamed["components"]["schemas"]
        schemas["SubmitResponse"] = schemas.pop("AsyncResponse")
        d.clear()
        d.update(renamed)

    findings = _seeded(rename)
    breaking = [f for f in findings if f.category == "breaking"]
    assert [(f.location, f.aspect) for f in breaking] == [("AsyncResponse", "schema")]
    assert "RESPONSE_FIELDS" in breaking[0].message
    # The answers themselves did not change: no field-level finding under the submit operations.
    assert not any(f.location.startswith("POST") and f.aspect == "field" for f in findings)


# -- request constraints: tightened is breaking, loosened is additive, in both directions ----


def _request_field(has: Callable[[registry.Param], bool]) -> tuple[str, str]:
    """(schema, field) of the first request field of the pin whose parameter passes `has`."""
    for model in registry.models_from_spec(pinned_spec()).values():
        for name, param in model.params.items():
            if has(param):
                return model.request_schema, name
    pytest.skip("the pinned spec has no such request field")


def _holder(document: Doc, schema: str, field: str, key: str) -> dict[str, Any]:
    """The node of `schema`.`field` (an alternative, or the schema it refers to) with `key`."""
    todo: list[Any] = [_schemas(document)[schema]["properties"][field]]
    while todo:
        node = todo.pop(0)
        if "$ref" in node:
            node = _schemas(document)[node["$ref"].rsplit("/", 1)[-1]]
        if key in node:
            holder: dict[str, Any] = node
            return holder
        todo += node.get("anyOf", [])
    raise KeyError(key)


def _exclusive(document: Doc, schema: str, field: str) -> None:
    """Turn the field's inclusive range into the exclusive one that allows the same values."""
    node = _holder(document, schema, field, "minimum")
    node["exclusiveMinimum"] = node.pop("minimum") - 1
    node["exclusiveMaximum"] = node.pop("maximum") + 1


@pytest.mark.parametrize(
    ("key", "step", "expected"),
    [
        ("minimum", +1, "breaking"),
        ("minimum", -1, "additive"),
        ("maximum", -1, "breaking"),
        ("maximum", +1, "additive"),
        ("exclusiveMinimum", +1, "breaking"),
        ("exclusiveMinimum", -1, "additive"),
        ("exclusiveMaximum", -1, "breaking"),
        ("exclusiveMaximum", +1, "additive"),
        ("minLength", +1, "breaking"),
        ("minLength", -1, "additive"),
        ("maxLength", -1, "breaking"),
        ("maxLength", +1, "additive"),
    ],
)
def test_a_request_bound_moved_is_judged_by_direction(key: str, step: int, expected: str) -> None:
    """Raising a lower bound or lowering an upper one refuses values flux2 sends: breaking."""
    if "Length" in key:
        schema, field = _request_field(lambda p: p.min_length is not None and p.max_length)
    else:
        schema, field = _request_field(lambda p: p.minimum is not None and p.maximum is not None)
    baseline = copy.deepcopy(pinned_spec())
    if key.startswith("exclusive"):
        _exclusive(baseline, schema, field)
    candidate = copy.deepcopy(baseline)
    node = _holder(candidate, schema, field, key)
    node[key] += step
    finding = _only(compare(candidate, baseline))
    assert (finding.location, finding.aspect) == (f"{schema}.{field}", key)
    assert finding.category == expected, finding.message
    tightened = expected == "breaking"
    assert finding.rule == ("request range tightened" if tightened else "request range loosened")
    assert ("range tightened" if tightened else "range loosened") in finding.message


@pytest.mark.parametrize("key", ["minimum", "maximum", "minLength", "maxLength"])
def test_a_request_bound_added_is_breaking_and_removed_is_additive(key: str) -> None:
    schema, field = _request_field(lambda p: p.minimum is not None and p.maximum is not None)
    if "Length" in key:
        schema, field = _request_field(lambda p: p.min_length is not None and p.max_length)
    removed = copy.deepcopy(pinned_spec())
    value = _holder(removed, schema, field, key).pop(key)
    assert _only(compare(removed)).category == "additive"
    assert _only(compare(pinned_spec(), removed)).category == "breaking", f"{key} {value} added"


def test_a_request_enum_shrunk_is_breaking_and_grown_is_additive() -> None:
    schema, field = _request_field(lambda p: p.enum is not None and len(p.enum) > 1)
    shrunk = copy.deepcopy(pinned_spec())
    node = _holder(shrunk, schema, field, "enum")
    dropped = node["enum"].pop()
    narrowed = [f for f in compare(shrunk) if f.aspect == "enum"]
    assert narrowed
    assert {f.category for f in narrowed} == {"breaking"}
    assert all(repr(dropped) in f.message for f in narrowed)
    grown = [f for f in compare(pinned_spec(), shrunk) if f.aspect == "enum"]
    assert grown
    assert {f.category for f in grown} == {"additive"}


def test_a_request_field_made_required_is_breaking_and_made_optional_is_additive() -> None:
    schema, field = _request_field(lambda p: not p.required and not p.has_default)
    required = copy.deepcopy(pinned_spec())
    _schemas(required)[schema].setdefault("required", []).append(field)
    now = _only(compare(required))
    assert (now.category, now.aspect, now.rule) == (
        "breaking",
        "required",
        "request field now required",
    )
    was = _only(compare(pinned_spec(), required))
    assert (was.category, was.aspect) == ("additive", "required")


# -- the rule table -----------------------------------------------------------------------


def test_every_rule_is_used_by_the_walk_and_every_finding_names_a_rule() -> None:
    """The table is the whole story: no rule the walk never names, no class decided elsewhere."""
    walk = Path(drift.__file__).parent
    named = {
        node.value
        for module in ("_walk.py", "_walk_schemas.py")
        for node in ast.walk(ast.parse((walk / module).read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    named |= {f"endpoint {change}" for change in ("removed", "renamed")}
    assert set(drift.RULES) <= named, set(drift.RULES) - named
    findings = _seeded(lambda d: _schemas(d)["StatusResponse"]["enum"].append("Queued"))
    assert all(f.rule in drift.RULES for f in findings)
    assert all(f.category == drift.RULES[f.rule][0] for f in findings)


def test_a_part_flux2_does_not_call_is_at_most_additive_and_says_why() -> None:
    for rule, (category, _) in drift.RULES.items():
        got, note = drift.classify(rule, affects_flux2=False, outside=("POST /v1/flux-dev",))
        assert got == ("cosmetic" if category == "cosmetic" else "additive"), rule
        if category == "breaking":
            assert note == "; not breaking for flux2: flux2 does not call POST /v1/flux-dev"
        assert drift.classify(rule, affects_flux2=True) == (category, "")
