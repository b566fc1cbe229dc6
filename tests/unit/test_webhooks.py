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


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [
        ({"X-BFL-Signature": signature(BODY)}, "signature"),
        ({"X-Webhook-Secret": SECRET}, "secret"),
    ],
)
def test_both_schemes_decide_by_a_constant_time_comparison(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], scheme: str
) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert webhooks.verify(BODY, headers, SECRET) == scheme
    assert len(calls) == 1
    # The verdict is the comparison's: were it made with ``==`` instead, these would not flip.
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.verify(BODY, headers, SECRET)
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: True)
    wrong = dict.fromkeys(headers, "sha256=" + "0" * 64)
    assert webhooks.verify(BODY, wrong, SECRET) == scheme


@pytest.mark.parametrize(
    "headers",
    [
        {"X-BFL-Signature": b"sha256=00"},
        {"X-Webhook-Secret": 5},
        {"X-BFL-Signature": "sha256=ü"},
        {"X-Webhook-Secret": "\ud800"},
    ],
    ids=repr,
)
def test_odd_header_values_are_refused_as_unverified(headers: dict[str, object]) -> None:
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.verify(BODY, headers, SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", None, b"whsec", 5])
def test_a_missing_or_wrong_type_secret_is_refused(secret: object) -> None:
    with pytest.raises(flux2.WebhookVerificationError, match="no webhook secret"):
        webhooks.verify(BODY, {"X-Webhook-Secret": "x"}, secret)  # type: ignore[arg-type]


def test_a_deeply_nested_delivery_with_the_right_secret_is_refused_as_unreadable() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(flux2.WebhookVerificationError, match="nested too deeply"):
        webhooks.verify_and_parse(deep, {"X-BFL-Signature": signature(deep)}, SECRET)


@pytest.mark.parametrize(
    ("body", "headers"),
    [(None, {"X-Webhook-Secret": SECRET}), (BODY, None), (BODY, ["X-Webhook-Secret"]), (BODY, 5)],
    ids=["no-body", "no-headers", "headers-a-list-of-names", "headers-an-int"],
)
def test_arguments_of_the_wrong_type_are_bad_input(body: object, headers: object) -> None:
    for call in (webhooks.verify, webhooks.verify_and_parse):
        with pytest.raises(flux2.InputError):
            call(body, headers, SECRET)  # type: ignore[arg-type]


def test_raw_header_pairs_are_read() -> None:
    pairs = [(b"x-bfl-signature", signature(BODY).encode())]
    assert webhooks.verify(BODY, pairs, SECRET) == "signature"  # type: ignore[arg-type]
