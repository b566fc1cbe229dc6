"""What flux2 relies on equals what the pinned spec says, derived here independently.

The registry is read from the spec by flux2.registry; these tests derive the same facts another
way (from the generated client's modules and the raw document) so a bug in either shows up.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any

import attrs
import pytest

from flux2 import _wire
from flux2._spec import pinned_spec
from flux2.registry import all_models

pytestmark = pytest.mark.repin

SPEC = pinned_spec()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]


def _generated_submit_operations() -> dict[str, type]:
    """Submit path -> request body class, read from the generated client's modules."""
    import flux2_generated.api as api

    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(api.__path__, prefix=f"{api.__name__}."):
        module = importlib.import_module(info.name)
        get_kwargs = getattr(module, "_get_kwargs", None)
        if get_kwargs is None:
            continue
        source = inspect.getsource(get_kwargs)
        method = re.search(r'"method": "(\w+)"', source)
        url = re.search(r'"url": "(/v1/flux-2-[^"]*)"', source)
        body = inspect.signature(get_kwargs).parameters.get("body")
        if method and url and body is not None and method.group(1) == "post":
            found[url.group(1)] = body.annotation
    return found


def _wire_names(generated_class: type) -> set[str]:
    """The JSON keys a generated model reads (its attribute names may differ: credits_)."""
    source = inspect.getsource(generated_class.from_dict)  # type: ignore[attr-defined]
    return set(re.findall(r'd\.pop\("([^"]+)"', source))


def _ref_name(node: dict[str, Any]) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


def _branches(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a property, references resolved."""
    out = []
    for branch in node.get("anyOf", [node]):
        out.append(SCHEMAS[_ref_name(branch)] if "$ref" in branch else branch)
    return out


def test_registry_has_exactly_the_flux2_submit_endpoints() -> None:
    raw_paths = {
        path
        for path, item in SPEC["paths"].items()
        if path.startswith("/v1/flux-2-") and "post" in item
    }
    generated = _generated_submit_operations()
    registry = {m.path: m for m in all_models().values()}
    assert set(registry) == raw_paths == set(generated)
    assert registry, "the pinned spec has FLUX.2 submit endpoints"
    for path, model in registry.items():
        assert model.endpoint == path.removeprefix("/v1/")
        body_ref = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        assert model.request_schema == _ref_name(body_ref)
        # The generator capitalises after digits: Flux2Klein1bInputs -> Flux2Klein1BInputs.
        assert generated[path].__name__.lower() == model.request_schema.lower()


@pytest.mark.parametrize("name", sorted(all_models()))
def test_accepted_parameters_equal_the_schema_and_the_generated_model(name: str) -> None:
    model = all_models()[name]
    schema = SCHEMAS[model.request_schema]
    generated = _generated_submit_operations()[model.path]
    assert set(model.params) == set(schema["properties"]) == _wire_names(generated)
    assert set(model.required) == set(schema.get("required", []))
    # Required fields are the generated model's attributes without a default.
    without_default = {f.name for f in attrs.fields(generated) if f.default is attrs.NOTHING}
    assert without_default == set(model.required)
    for param_name, param in model.params.items():
        raw = schema["properties"][param_name]
        branches = _branches(raw)
        assert param.nullable == any(b.get("type") == "null" for b in branches), param_name
        assert set(param.types) == {
            b.get("type", "string") for b in branches if b.get("type") != "null"
        }, param_name
        for key, value in (("minimum", param.minimum), ("maximum", param.maximum)):
            declared = [b[key] for b in branches if key in b]
            assert value == (declared[0] if declared else None), (param_name, key)
        enums = [b["enum"] for b in branches if "enum" in b]
        assert param.enum == (tuple(enums[0]) if enums else None), param_name
        assert param.has_default == ("default" in raw), param_name
        assert param.default == raw.get("default"), param_name


def test_output_format_enum_matches_the_generated_enum() -> None:
    from flux2_generated.models import OutputFormat

    offering = [m for m in all_models().values() if "output_format" in m.params]
    assert offering
    for model in offering:
        assert model.params["output_format"].enum == tuple(v.value for v in OutputFormat)


def _declared_types(node: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    for branch in _branches(node):
        declared = branch.get("type")
        if declared is None:
            types.add("any")
        else:
            types.update(declared if isinstance(declared, list) else [declared])
    return types


@pytest.mark.parametrize("schema_name", sorted(_wire.RESPONSE_FIELDS))
def test_response_fields_flux2_reads_exist_with_the_expected_types(schema_name: str) -> None:
    import flux2_generated.models as generated

    schema = SCHEMAS[schema_name]
    generated_fields = _wire_names(getattr(generated, schema_name))
    for field, expected in _wire.RESPONSE_FIELDS[schema_name].items():
        assert field in schema["properties"], f"{schema_name}.{field} is not in the spec"
        assert field in generated_fields
        types = _declared_types(schema["properties"][field]) - {"null"}
        if expected == "any":
            continue
        allowed = {"number", "integer"} if expected == "number" else {expected}
        assert types, (schema_name, field)
        assert types <= allowed, (schema_name, field, types, expected)
        if "null" in _declared_types(schema["properties"][field]):
            assert field not in schema.get("required", []) or expected == "any", (
                f"{schema_name}.{field} is required yet nullable; flux2 reads it as {expected}"
            )


def test_every_spec_status_is_known_and_sourced() -> None:
    from flux2_generated.models import StatusResponse

    spec_statuses = SCHEMAS["StatusResponse"]["enum"]
    assert set(spec_statuses) <= set(_wire.STATUS_MEANINGS)
    assert {s for s, source in _wire.STATUS_SOURCES.items() if source == "spec"} == set(
        spec_statuses
    )
    assert set(_wire.STATUS_SOURCES) == set(_wire.STATUS_MEANINGS)
    assert {s.value for s in StatusResponse} == set(spec_statuses)
    status_ref = SCHEMAS["ResultResponse"]["properties"]["status"]
    assert _ref_name(status_ref) == "StatusResponse"


def test_the_auth_header_is_the_spec_scheme() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    used = [*(f"POST {m.path}" for m in all_models().values()), f"GET {_wire.CREDITS_PATH}"]
    for label in used:
        method, path = label.split(" ")
        requirement = SPEC["paths"][path][method.lower()]["security"]
        for alternative in requirement:
            for name in alternative:
                scheme = schemes[name]
                assert (scheme["type"], scheme["in"]) == ("apiKey", "header")
                assert scheme["name"].lower() == _wire.AUTH_HEADER


def test_the_paths_flux2_calls_exist() -> None:
    assert "get" in SPEC["paths"][_wire.RESULT_PATH]
    assert "get" in SPEC["paths"][_wire.CREDITS_PATH]
    params = SPEC["paths"][_wire.RESULT_PATH]["get"]["parameters"]
    assert [(p["in"], p["name"], p["required"]) for p in params] == [("query", "id", True)]
    for path in (_wire.RESULT_PATH, _wire.CREDITS_PATH):
        assert "servers" not in SPEC["paths"][path]["get"], "flux2 calls the base server"
    for model in all_models().values():
        assert "servers" not in SPEC["paths"][model.path]["post"]
