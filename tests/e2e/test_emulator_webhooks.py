"""Webhook submissions and deliveries, received by an HTTP endpoint on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from emulator_helpers import Receiver, api, submit

from flux2.emulator import Emulator


def test_a_webhook_submit_answers_without_a_polling_url(bfl_emulator: Emulator) -> None:
    with Receiver() as receiver, api(bfl_emulator) as http:
        answer = submit(http, "a hooked fox", webhook_url=receiver.url, webhook_secret="s3cret")
        assert receiver.arrived.wait(10)
    assert set(answer) == {"id", "status", "webhook_url", "cost", "input_mp", "output_mp"}
    assert answer["webhook_url"] == receiver.url
    assert bfl_emulator.submissions()[0].polling_url is None


def test_the_delivery_is_signed_and_carries_the_result(bfl_emulator: Emulator) -> None:
    with Receiver() as receiver, api(bfl_emulator) as http:
        task = submit(
            http, "a hooked fox", seed=4, webhook_url=receiver.url, webhook_secret="s3cret"
        )
        assert receiver.arrived.wait(10)
        # With no polling_url, the API origin answers for the task.
        polled = http.get("/v1/get_result", params={"id": task["id"]})
    (raw, headers), *_ = receiver.deliveries
    expected = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["x-bfl-signature"] == f"sha256={expected}"
    assert headers["x-webhook-secret"] == "s3cret"
    assert headers["content-type"] == "application/json"
    payload = json.loads(raw)
    assert payload["task_id"] == payload["id"] == task["id"]
    assert payload["status"] == "SUCCESS"
    assert payload["progress"] == 1
    assert payload["result"]["seed"] == 4
    image = httpx.get(payload["result"]["sample"])
    assert image.status_code == 200
    assert image.content[:3] == b"\xff\xd8\xff"
    assert polled.json()["status"] == "Ready"
    deadline = time.monotonic() + 10
    while not bfl_emulator.webhooks and time.monotonic() < deadline:
        time.sleep(0.01)
    (attempt,) = bfl_emulator.webhooks
    assert (attempt.task_id, attempt.attempt, attempt.status_code, attempt.ok) == (
        task["id"],
        1,
        204,
        True,
    )


def test_without_a_secret_there_is_nothing_to_verify_with(bfl_emulator: Emulator) -> None:
    with Receiver() as receiver, api(bfl_emulator) as http:
        submit(http, "an open fox", webhook_url=receiver.url)
        assert receiver.arrived.wait(10)
    (_, headers), *_ = receiver.deliveries
    assert "x-bfl-signature" not in headers
    assert "x-webhook-secret" not in headers


def test_failed_tasks_are_delivered_as_such(bfl_emulator: Emulator) -> None:
    with Receiver() as receiver, api(bfl_emulator) as http:
        submit(http, "fox [[fault:error=broken]]", webhook_url=receiver.url)
        assert receiver.arrived.wait(10)
    payload = json.loads(receiver.deliveries[0][0])
    assert payload["status"] == "FAILED"
    assert payload["result"] is None
    assert payload["details"] == {"error": "broken"}


def test_a_failing_receiver_is_retried(bfl_emulator: Emulator) -> None:
    # speed 0.002: the 1 s, 5 s and 30 s pauses take 2, 10 and 60 ms.
    with Receiver(500, 503) as receiver, api(bfl_emulator) as http:
        submit(http, "a persistent fox", webhook_url=receiver.url)
        assert receiver.arrived.wait(10)
    # The emulator records an attempt once its answer is back, just after the receiver has it.
    deadline = time.monotonic() + 10
    while len(bfl_emulator.webhooks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    attempts = bfl_emulator.webhooks
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 503), (3, 204)]
    assert len({a.body for a in attempts}) == 1


def test_an_unreachable_receiver_is_given_up_after_three_retries(
    bfl_emulator_factory: Any,
) -> None:
    emu = bfl_emulator_factory(speed=0.0001)
    with Receiver() as receiver:
        gone = receiver.url
    with api(emu) as http:
        submit(http, "a lonely fox", webhook_url=gone)
    deadline = time.monotonic() + 10
    while len(emu.webhooks) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    attempts = emu.webhooks
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert all(a.status_code is None and a.error for a in attempts)
