"""schemathesis, the standard OpenAPI tester, against the emulator with the pinned spec.

Every operation the emulator serves gets schemathesis' deterministic coverage cases (missing
and wrong-typed fields, boundaries, bodies that are not JSON) plus a few generated valid and
invalid requests from a fixed seed, and each answer goes through all of its default checks:
no 5xx, documented status codes, content types and response schemas, valid data accepted,
invalid data refused.

Deviations from the spec that are known live behaviour are the only exceptions
(``KNOWN_DEVIATIONS``); each is checked for its own shape instead of being skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
requests = pytest.importorskip("requests")

from schemathesis.checks import positive_data_acceptance  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

from flux2._spec import pinned_spec  # noqa: E402
from flux2._wire import AUTH_HEADER, RESULT_PATH  # noqa: E402
from flux2.conformance import ResponseChecker  # noqa: E402

KEY = "test-key"

KNOWN_DEVIATIONS = {
    "403 without a key": "the spec documents no 403; live answers 403 {'detail': 'Not "
    "authenticated'} to a request without a valid x-key [seen]",
    "404 for a task the host does not know": "get_result on the global host answers 404 with "
    "a 'Task not found' task body [doc][seen]",
    "422 with a task body from get_result": "a poll can answer 422 whose body is an Error task "
    "[seen]",
    "422 above 4 MP": "the spec puts no upper bound on width x height; BFL documents at most "
    "4 MP (4,194,304 pixels) [doc], so a schema-valid body above it is refused",
}

# Finetune management is not emulated; webhook fields would make the emulator call out to
# the URLs schemathesis draws.
_NOT_EMULATED = ("/v1/my_finetunes", "/v1/finetune_details", "/v1/delete_finetune")
_NOT_DRAWN = ("webhook_url", "webhook_secret")


def _tested_spec() -> dict[str, Any]:
    document = copy.deepcopy(pinned_spec())
    for path in _NOT_EMULATED:
        document["paths"].pop(path, None)
    for schema in document["components"]["schemas"].values():
        for name in _NOT_DRAWN:
            schema.get("properties", {}).pop(name, None)
    return document


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20260414,
        "generation": {
            "deterministic": True,
            "max-examples": 4,
            "mode": "all",
            "database": "none",
        },
    }
)
SCHEMA = schemathesis.openapi.from_dict(_tested_spec(), config=CONFIG)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from flux2.emulator import Emulator

    # Enough credits and slots that no generated request is refused for money or load.
    with Emulator(api_key=KEY, speed=0, credits=1e15, max_in_flight=10**9) as emu:
        yield emu


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    with requests.Session() as http:
        yield http


def _known_deviation(case: Any, response: Any) -> bool:
    """Whether ``response`` is one of ``KNOWN_DEVIATIONS``, checked for its exact shape."""
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            (
                response.status_code,
                response.headers,
                response.text[:200],
                case.method,
                case.headers,
                case.query,
            )
        ) from None
    if response.status_code == 403:
        assert response.request.headers.get(AUTH_HEADER) != KEY, response.text
        assert body["detail"].startswith("Not authenticated"), response.text
        return True
    if case.path == RESULT_PATH and response.status_code in (404, 422) and "status" in body:
        expected = "Task not found" if response.status_code == 404 else "Error"
        assert body["status"] == expected, response.text
        # The body is a task: it must be what a 200 answer of get_result would carry.
        checker = ResponseChecker(on_deviation="warn")
        assert list(checker.deviations("GET", RESULT_PATH, 200, body)) == [], response.text
        return True
    if response.status_code == 422 and any("(4 MP)" in d["msg"] for d in body["detail"]):
        assert [d["loc"] for d in body["detail"]] == [["body"]], response.text
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        return True
    return False


@SCHEMA.parametrize()
def test_the_emulator_answers_like_the_spec(case: Any, emulator: Any, session: Any) -> None:
    response = case.call(base_url=emulator.base_url, headers={AUTH_HEADER: KEY}, session=session)
    assert response.status_code < 500, response.text
    if not _known_deviation(case, response):
        case.validate_response(response)
