"""The generated package imports, is typed, and its FLUX.2 request models round-trip."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from flux2.registry import all_models

pytestmark = pytest.mark.repin

ROOT = Path(__file__).resolve().parents[2]


def _model_class(schema_name: str) -> Any:
    """The generated class of a schema: its name, with the generator's capitals (a schema
    ``Flux2Klein1bInputs`` becomes ``Flux2Klein1BInputs``)."""
    import flux2_generated.models as models

    by_name = {name.lower(): getattr(models, name) for name in models.__all__}
    return by_name[schema_name.lower()]


def test_generated_package_imports_and_is_typed() -> None:
    package = importlib.import_module("flux2_generated")
    assert hasattr(package, "AuthenticatedClient")
    assert (Path(package.__file__).parent / "py.typed").exists()


def _full_body(model_name: str) -> dict[str, Any]:
    """A body that sets every parameter of the model to a value the spec allows."""
    model = all_models()[model_name]
    body: dict[str, Any] = {}
    for name, p in model.params.items():
        if p.enum:
            body[name] = p.enum[-1]
        elif "boolean" in p.types:
            body[name] = False
        elif "integer" in p.types:
            body[name] = int(p.maximum if p.maximum is not None else (p.minimum or 0) + 64)
        elif "number" in p.types:
            body[name] = float(p.maximum if p.maximum is not None else 1.0)
        elif p.format == "uri":
            body[name] = "https://example.com/hook"
        else:
            body[name] = f"value of {name}"
    return body


@pytest.mark.parametrize("model_name", sorted(all_models()))
def test_request_models_round_trip(model_name: str) -> None:
    model = all_models()[model_name]
    cls = _model_class(model.request_schema)
    body = _full_body(model_name)
    parsed = cls.from_dict(body)
    assert parsed.to_dict() == body
    required = {name: body[name] for name in model.required}
    assert "prompt" in required
    minimal = cls.from_dict(required).to_dict()
    assert minimal == required, "unset fields must not be sent"
    for name in model.required:
        with pytest.raises(KeyError):
            cls.from_dict({k: v for k, v in required.items() if k != name})


def test_result_response_round_trips() -> None:
    from flux2_generated.models import ResultResponse

    body = {
        "id": "t1",
        "status": "Ready",
        "progress": 1.0,
        "result": {"sample": "https://delivery.example/x.jpg", "seed": 4},
        "details": {"k": "v"},
        "preview": None,
    }
    assert ResultResponse.from_dict(body).to_dict() == body


def test_pin_record_names_its_source() -> None:
    record = json.loads((ROOT / "openapi" / "source.json").read_text())
    assert set(record) >= {"source", "sha256", "pinned_sha256", "fetched", "kind"}
    assert len(record["sha256"]) == 64
