"""Malformed requests get the answers a FastAPI service gives, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from emulator_helpers import api, poll_until_done

from flux2.emulator import Emulator

SUBMIT = "/v1/flux-2-klein-4b"


def _json_invalid(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["detail"]
    assert detail["type"] == "json_invalid"
    assert detail["msg"] == "JSON decode error"
    assert detail["loc"][0] == "body"
    assert isinstance(detail["loc"][1], int)
    assert detail["input"] == {}
    return dict(detail)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"prompt": "a fox \xff\xfe"}',  # not UTF-8
        b"\x80\x81\x82",
        b'{"prompt": "a fox"',  # cut short
        b"prompt=a+fox",  # a form, not JSON
        b"[" * 100_000 + b"]" * 100_000,  # deeper than any JSON reader goes
        b'{"prompt": "a fox", "seed": 1' + b"1" * 5000 + b"}",  # a number past int limits
    ],
)
def test_a_body_that_cannot_be_read_gets_422_json_invalid(
    bfl_emulator: Emulator, raw: bytes
) -> None:
    with api(bfl_emulator) as http:
        answer = http.post(SUBMIT, content=raw, headers={"content-type": "application/json"})
    _json_invalid(answer)
    assert bfl_emulator.submissions() == []


def test_where_reading_stopped_is_named(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        detail = _json_invalid(http.post(SUBMIT, content=b'{"prompt": "a\xff"}'))
    assert detail["loc"] == ["body", 13]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_numbers_json_cannot_carry_are_refused_without_a_5xx(
    bfl_emulator: Emulator, value: str
) -> None:
    raw = f'{{"prompt": "a fox", "width": {value}}}'.encode()
    with api(bfl_emulator) as http:
        answer = http.post(SUBMIT, content=raw)
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["detail"]
    assert detail["loc"] == ["body", "width"]
    assert detail["input"] is None  # what JSON cannot write is sent as null


def test_a_prompt_with_a_lone_surrogate_is_served_end_to_end(bfl_emulator: Emulator) -> None:
    raw = b'{"prompt": "a fox \\ud800 at dawn"}'
    with api(bfl_emulator) as http:
        answer = http.post(SUBMIT, content=raw)
        assert answer.status_code == 200, answer.text
        done = poll_until_done(http, answer.json()["polling_url"])[-1]
        assert done["result"]["prompt"] == "a fox \ud800 at dawn"
        assert http.get(done["result"]["sample"]).status_code == 200


def test_a_deeply_nested_but_readable_body_is_refused_not_crashed(
    bfl_emulator: Emulator,
) -> None:
    nested: Any = "a fox"
    for _ in range(400):
        nested = [nested]
    with api(bfl_emulator) as http:
        answer = http.post(SUBMIT, json={"prompt": nested, "seed": nested})
    assert answer.status_code == 422, answer.text
    assert ["body", "prompt"] in [d["loc"] for d in answer.json()["detail"]]


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "DELETE"])
def test_methods_nothing_serves_get_fastapis_json(bfl_emulator: Emulator, method: str) -> None:
    with api(bfl_emulator) as http:
        answer = http.request(method, SUBMIT)
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"detail": "Method Not Allowed"}


def test_an_unknown_path_gets_fastapis_404(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        answer = http.post("/v1/flux-9-nothing", json={"prompt": "a fox"})
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


def test_the_recorded_request_keeps_a_body_it_could_not_read(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        http.post(SUBMIT, content=b"[" * 5000)
    assert bfl_emulator.requests[-1].json == "[" * 5000
    assert json.dumps(bfl_emulator.requests[-1].json)
