"""The emulator conforms to the pinned spec, checked with requests generated from the spec.

Valid bodies (drawn from each model's request schema) must be accepted, invalid ones (one
field broken in a way the schema forbids) answered 422 naming that field, and every answer
must validate against the spec's response schema (flux2.conformance). Examples stay few so
the whole module runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _strategies import values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2 import _wire
from flux2._spec import pinned_spec
from flux2.conformance import ResponseChecker
from flux2.registry import Model, Param, all_models

KEY = "test-key"
SPEC = pinned_spec()
MODELS = sorted(all_models())
# Documented product limit the spec lacks: at most 4 MP out [doc]. A server may refuse more.
MAX_PIXELS = 4 * 1024 * 1024
# Webhook fields would make the emulator call out to generated URLs.
NOT_DRAWN = frozenset({"webhook_url", "webhook_secret"})
EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    try:
        from flux2.emulator import Emulator
    except ImportError as exc:
        pytest.skip(f"flux2.emulator is not available: {exc}")
    with Emulator(api_key=KEY, speed=0, credits=1e12, max_in_flight=1_000_000) as server:
        yield server


@pytest.fixture(scope="module")
def http(emu: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={_wire.AUTH_HEADER: KEY}, timeout=30) as c:
        yield c


def _deviations(method: str, path: str, response: httpx.Response) -> list[str]:
    checker = ResponseChecker(on_deviation="warn")
    found = checker.deviations(method, path, response.status_code, response.json())
    return [str(d) for d in found]


def _valid_bodies(model: Model) -> Any:
    schema = {"$ref": f"#/components/schemas/{model.request_schema}"}
    return values(SPEC, schema, skip=NOT_DRAWN)


def _beyond_documented_limits(body: dict[str, Any]) -> bool:
    width, height = body.get("width"), body.get("height")
    sides = [s for s in (width, height) if isinstance(s, int)]
    return any(s % 16 for s in sides) or (len(sides) == 2 and sides[0] * sides[1] > MAX_PIXELS)


@pytest.mark.parametrize("name", MODELS)
@EXAMPLES
@given(data=st.data())
def test_valid_requests_are_accepted_and_answered_per_spec(
    http: httpx.Client, name: str, data: st.DataObject
) -> None:
    model = all_models()[name]
    body = data.draw(_valid_bodies(model))
    response = http.post(model.path, json=body)
    if response.status_code == 422 and _beyond_documented_limits(body):
        # Allowed: the service documents these limits although the spec does not.
        locs = {tuple(d["loc"]) for d in response.json()["detail"]}
        assert locs & {("body", "width"), ("body", "height"), ("body",)}, response.text
    else:
        assert response.status_code == 200, (body, response.text)
    assert _deviations("POST", model.path, response) == []
    if response.status_code == 200:
        polled = http.get(response.json()["polling_url"])
        assert polled.status_code in (200, 422), polled.text
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
@EXAMPLES
@given(data=st.data())
def test_invalid_requests_get_422_naming_the_field(
    http: httpx.Client, name: str, data: st.DataObject
) -> None:
    model = all_models()[name]
    cases = _invalid_cases(model)
    assert len(cases) >= 5
    field, what, bad = data.draw(st.sampled_from(cases), label="breakage")
    body = data.draw(_valid_bodies(model))
    body[field] = bad
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
