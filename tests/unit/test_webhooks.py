"""Webhook deliveries: both authentication schemes, both payload shapes."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import flux2
from flux2 import webhooks

SECRET = "whsec-Zr8q"
BODY = json.dumps(
    {
        "task_id": "task-1",
        "status": "SUCCESS",
        "result": {"sample": "https://delivery-eu1.bfl.ai/r.jpeg?sig=x", "seed": 5, "prompt": "p"},
    }
).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_valid_signature_passes_and_says_so() -> None:
    assert webhooks.verify(BODY, {"X-BFL-Signature": signature(BODY)}, SECRET) == "signature"
    assert webhooks.verify(BODY, {"x-bfl-signature": signature(BODY).upper()[7:]}, SECRET) == (
        "signature"
    )
    assert webhooks.sign(BODY, SECRET) == signature(BODY)


def test_an_echoed_secret_passes_and_says_so() -> None:
    assert webhooks.verify(BODY, {"x-webhook-secret": SECRET}, SECRET) == "secret"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-BFL-Signature": signature(BODY, "wrong")},
        {"X-BFL-Signature": signature(BODY + b" ")},
        {"X-Webhook-Secret": "wrong"},
        {"X-Webhook-Secret": SECRET, "X-BFL-Signature": signature(BODY, "wrong")},
        {},
    ],
)
def test_anything_else_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.verify(BODY, headers, SECRET)


def test_the_body_must_be_verified_as_received() -> None:
    reserialised = json.dumps(json.loads(BODY), indent=2).encode()
    with pytest.raises(flux2.WebhookVerificationError, match="raw bytes"):
        webhooks.verify(reserialised, {"X-BFL-Signature": signature(BODY)}, SECRET)


def test_the_claimed_payload_reads_as_a_ready_result() -> None:
    event = webhooks.verify_and_parse(BODY, {"X-BFL-Signature": signature(BODY)}, SECRET)
    assert event.scheme == "signature"
    assert event.task_id == "task-1"
    result = event.result
    assert (result.status, result.ready, result.seed, result.prompt) == ("Ready", True, 5, "p")
    assert result.url == "https://delivery-eu1.bfl.ai/r.jpeg?sig=x"
    assert result.raw["status"] == "SUCCESS"
    assert result.raise_for_status() is result


def test_the_get_result_shape_reads_too() -> None:
    body = {"id": "task-2", "status": "Ready", "result": {"sample": "https://x.bfl.ai/a.png"}}
    result = webhooks.parse(body)
    assert (result.id, result.ready) == ("task-2", True)
    assert webhooks.parse(json.dumps(body)).id == "task-2"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("FAILED", flux2.TaskFailedError),
        ("Error", flux2.TaskFailedError),
        ("CONTENT_MODERATED", flux2.ContentModeratedError),
        ("Request Moderated", flux2.RequestModeratedError),
    ],
)
def test_failures_raise_their_task_error(status: str, error: type[flux2.TaskError]) -> None:
    result = webhooks.parse({"task_id": "t", "status": status, "details": {"error": "why"}})
    assert result.done
    with pytest.raises(error, match="why"):
        result.raise_for_status()


def test_unreadable_deliveries_are_refused() -> None:
    with pytest.raises(flux2.WebhookVerificationError, match="JSON"):
        webhooks.parse(b"<html>")
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.parse(b"[1, 2]")
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.parse({"status": "SUCCESS"})  # no id
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.verify(BODY, {"X-Webhook-Secret": ""}, "")
