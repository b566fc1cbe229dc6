"""The emulator conforms to the pinned spec, checked with requests built from the spec.

Every way the schema forbids to break each parameter of each model is sent on top of a valid
body, and must be answered 422 naming that field; every answer must validate against the
spec's response schema (flux2.conformance). The requests are enumerated, not drawn, so every
run sends the same ones; schemathesis' generated requests are in test_emulator_schemathesis.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flux2 import _wire
from flux2._spec import pinned_spec
from flux2.conformance import ResponseChecker
from flux2.registry import Model, Param, all_models

KEY = "test-key"
SPEC = pinned_spec()
MODELS = sorted(all_models())
# More than any run spends: a 4 MP image with eight 4 MP inputs costs well under 100 credits.
CREDITS = 1e9


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    try:
        from flux2.emulator import Emulator
    except ImportError as exc:
        pytest.skip(f"flux2.emulator is not available: {exc}")
    with Emulator(api_key=KEY, speed=0, credits=CREDITS, max_in_flight=1_000_000) as server:
        yield server


@pytest.fixture
def http(emu: Any) -> Iterator[httpx.Client]:
    # Each test starts from the same balance, whatever the tests before it spent.
    emu.credits = CREDITS
    with httpx.Client(base_url=emu.base_url, headers={_wire.AUTH_HEADER: KEY}, timeout=30) as c:
        yield c


def _deviations(method: str, path: str, response: httpx.Response) -> list[str]:
    checker = ResponseChecker(on_deviation="warn")
    found = checker.deviations(method, path, response.status_code, response.json())
    return [str(d) for d in found]


def _tiny_png() -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 160)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _valid_value(model: Model, param: Param) -> Any:
    """A value the schema allows for a required field."""
    if param.name in model.image_slots:
        return _tiny_png()
    if param.enum:
        return param.enum[0]
    if "string" in param.types:
        return "a fox"
    if param.minimum is not None:
        return param.minimum
    return 1 if "integer" in param.types or "number" in param.types else True


def _valid_body(model: Model) -> dict[str, Any]:
    """A body with every required field of the model's schema, and nothing else."""
    return {name: _valid_value(model, p) for name, p in model.params.items() if p.required}


@pytest.mark.parametrize("name", MODELS)
def test_a_body_with_the_required_fields_is_accepted_and_answered_per_spec(
    http: httpx.Client, name: str
) -> None:
    model = all_models()[name]
    response = http.post(model.path, json=_valid_body(model))
    assert response.status_code == 200, response.text
    assert _deviations("POST", model.path, response) == []
    polled = http.get(response.json()["polling_url"])
    assert polled.status_code == 200, polled.text
    assert _deviations("GET", _wire.RESULT_PATH, polled) == []


def _breakages(param: Param) -> list[tuple[str, Any]]:
    """Ways to break one parameter that its schema forbids: (what, value)."""
    out: list[tuple[str, Any]] = []
    # Values FastAPI's lax parsing would not coerce either ("12" would become 12).
    if "string" in param.types:
        out.append(("a number where a string is expected", 12345))
    else:
        out.append((f"a word where {'/'.join(param.types)} is expected", "twelve"))
    if param.enum is not None:
        out.append(("value outside the enum", "not-" + str(param.enum[0])))
    if param.maximum is not None:
        step = 1 if "integer" in param.types else 0.5
        out.append(
            ("above the maximum", int(param.maximum + step) if step == 1 else param.maximum + step)
        )
    if param.minimum is not None:
        step = 1 if "integer" in param.types else 0.5
        out.append(
            ("below the minimum", int(param.minimum - step) if step == 1 else param.minimum - step)
        )
    if param.max_length is not None:
        out.append(("too long", "h" * (param.max_length + 1)))
    if param.min_length:
        out.append(("too short", ""))
    if not param.nullable and not param.required:
        out.append(("null where null is not allowed", None))
    return out


def _invalid_cases(model: Model) -> list[tuple[str, str, Any]]:
    return [
        (name, what, value)
        for name, param in model.params.items()
        for what, value in _breakages(param)
    ]


@pytest.mark.parametrize("name", MODELS)
def test_invalid_requests_get_422_naming_the_field(http: httpx.Client, name: str) -> None:
    model = all_models()[name]
    cases = _invalid_cases(model)
    assert len(cases) >= 5
    for field, what, bad in cases:
        body = {**_valid_body(model), field: bad}
        response = http.post(model.path, json=body)
        assert response.status_code == 422, (field, what, body, response.text)
        locs = [tuple(d["loc"]) for d in response.json()["detail"]]
        assert ("body", field) in locs, (field, what, locs)
        assert _deviations("POST", model.path, response) == []


@pytest.mark.repin
@pytest.mark.parametrize("name", MODELS)
def test_a_body_without_its_required_prompt_gets_422(http: httpx.Client, name: str) -> None:
    model = all_models()[name]
    response = http.post(model.path, json={"seed": 1})
    assert response.status_code == 422
    assert ("body", "prompt") in [tuple(d["loc"]) for d in response.json()["detail"]]
    assert _deviations("POST", model.path, response) == []


@pytest.mark.parametrize("body", [[], "a fox", 3])
def test_a_body_that_is_not_an_object_gets_422(http: httpx.Client, body: Any) -> None:
    response = http.post("/v1/flux-2-flex", json=body)
    assert response.status_code == 422
    assert _deviations("POST", "/v1/flux-2-flex", response) == []


def test_unknown_fields_are_ignored_like_the_service_does(http: httpx.Client) -> None:
    response = http.post("/v1/flux-2-klein-4b", json={"prompt": "a fox", "no_such_field": 1})
    assert response.status_code == 200, response.text
    assert _deviations("POST", "/v1/flux-2-klein-4b", response) == []


def test_credits_and_unknown_tasks_are_answered_per_spec(http: httpx.Client) -> None:
    credits = http.get(_wire.CREDITS_PATH)
    assert credits.status_code == 200
    assert _deviations("GET", _wire.CREDITS_PATH, credits) == []
    missing = http.get(_wire.RESULT_PATH, params={"id": "no-such-task"})
    assert missing.status_code in (200, 404), missing.text
    assert _deviations("GET", _wire.RESULT_PATH, missing) == []
    no_id = http.get(_wire.RESULT_PATH)
    assert no_id.status_code == 422
    assert _deviations("GET", _wire.RESULT_PATH, no_id) == []


@pytest.mark.parametrize(
    "fault", ["request-moderated", "content-moderated", "error", "poll-422-task"]
)
def test_failed_tasks_are_answered_per_spec(http: httpx.Client, fault: str) -> None:
    submitted = http.post("/v1/flux-2-flex", json={"prompt": f"a fox [[fault:{fault}]]"})
    assert submitted.status_code == 200, submitted.text
    polled = http.get(submitted.json()["polling_url"])
    assert _deviations("GET", _wire.RESULT_PATH, polled) == []
    assert polled.json()["status"] in SPEC["components"]["schemas"]["StatusResponse"]["enum"]
