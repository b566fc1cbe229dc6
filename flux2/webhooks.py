"""Receiving webhook deliveries: verify them, then read them as a :class:`flux2.TaskResult`.

A task submitted with ``webhook_url`` (and ``webhook_secret``) is announced by a POST to that
URL when it ends. How the secret comes back is not settled in public sources, so both known
schemes are accepted [doc]:

- ``X-BFL-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>``
  (BFL's agent guide), checked first when present, since it also proves the body unaltered;
- ``X-Webhook-Secret: <the secret>`` (BFL's SDK), the secret echoed verbatim.

Both comparisons take constant time. Verify against the *raw* request body, before any JSON
parsing re-serialises it::

    from flux2 import webhooks

    event = webhooks.verify_and_parse(request.body, request.headers, secret=SECRET)
    event.result.raise_for_status()     # TaskError if the task failed or was moderated
    client.download(event.result, "out/")

Payloads seen: ``{"task_id", "status": "SUCCESS" | "FAILED" | ..., "result": {...}}`` [claim]
and the ``get_result`` shape ``{"id", "status": "Ready", "result": {...}}``; both are read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

from ._convert import WireError, result_from_body
from ._logging import remember_secret
from ._wire import STATUS_MEANINGS
from .errors import InputError, WebhookVerificationError
from .types import TaskResult

__all__ = [
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "parse",
    "sign",
    "verify",
    "verify_and_parse",
]

SECRET_HEADER: Final = "X-Webhook-Secret"  # noqa: S105 (a header name, not a secret)
SIGNATURE_HEADER: Final = "X-BFL-Signature"
_SIGNATURE_PREFIX: Final = "sha256="

Scheme = Literal["signature", "secret"]

# Webhook statuses in the upper-case style of the payload claim [claim], read as the
# get_result statuses they stand for.
_WEBHOOK_STATUSES: Final = MappingProxyType(
    {
        "SUCCESS": "Ready",
        "SUCCEEDED": "Ready",
        "COMPLETED": "Ready",
        "FAILED": "Failed",
        "FAILURE": "Failed",
        "ERROR": "Error",
    }
)


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery: the task's ``result`` and the ``scheme`` that authenticated it."""

    result: TaskResult
    scheme: Scheme

    @property
    def task_id(self) -> str:
        return self.result.id


def _pairs(headers: object) -> list[tuple[object, object]]:
    """The (name, value) pairs of ``headers``: a mapping, or the list of pairs some frameworks
    hand over (ASGI's raw headers)."""
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (list, tuple)) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in headers
    ):
        return [(name, value) for name, value in headers]
    raise InputError(
        "headers must be the delivery's headers: a mapping of names to values (or a list of "
        f"(name, value) pairs), got {type(headers).__name__}",
        param="headers",
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    # Typed as str, but frameworks hand over raw bytes or other objects too.
    for raw_key, value in _pairs(headers):
        key = (
            bytes(raw_key).decode("latin-1") if isinstance(raw_key, bytes | bytearray) else raw_key
        )
        if isinstance(key, str) and key.lower() == wanted:
            # Raw header bytes are Latin-1 by HTTP's definition; anything else never matches.
            if isinstance(value, (bytes, bytearray)):
                return bytes(value).decode("latin-1")
            return value if isinstance(value, str) else ""
    return None


def _raw(body: bytes | bytearray | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise InputError(
        f"body must be the delivery's raw body (bytes or str), got {type(body).__name__}",
        param="body",
    )


def sign(body: bytes | str, secret: str) -> str:
    """The ``X-BFL-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret.encode("utf-8"), _raw(body), hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def verify(body: bytes | str, headers: Mapping[str, str], secret: str) -> Scheme:
    """Check a delivery's authentication and return the scheme that passed.

    Raises :class:`flux2.WebhookVerificationError` when the signature or secret is wrong or
    missing. When a signature is present it decides, even if a secret header is present too.
    ``body`` and ``headers`` of the wrong type (``None``, say) are an :class:`flux2.InputError`;
    ``headers`` may also be a list of ``(name, value)`` pairs.
    """
    _raw(body)
    if not isinstance(secret, str) or not secret:
        raise WebhookVerificationError("no webhook secret (a non-empty str) to verify against")
    remember_secret(secret)
    signature = _header(headers, SIGNATURE_HEADER)
    if signature is not None:
        value = signature.strip()
        if value.lower().startswith(_SIGNATURE_PREFIX):
            value = value[len(_SIGNATURE_PREFIX) :]
        expected = sign(body, secret)[len(_SIGNATURE_PREFIX) :]
        if hmac.compare_digest(value.lower().encode("utf-8", "replace"), expected.encode()):
            return "signature"
        raise WebhookVerificationError(
            f"{SIGNATURE_HEADER} does not match the body (wrong secret, or the body was altered "
            "or re-serialised before verification: verify the raw bytes)"
        )
    echoed = _header(headers, SECRET_HEADER)
    if echoed is not None:
        received = echoed.strip().encode("utf-8", "replace")
        if hmac.compare_digest(received, secret.encode("utf-8", "replace")):
            return "secret"
        raise WebhookVerificationError(f"{SECRET_HEADER} does not match the webhook secret")
    raise WebhookVerificationError(
        f"the delivery carries neither {SIGNATURE_HEADER} nor {SECRET_HEADER}"
    )


def parse(body: bytes | str | Mapping[str, Any]) -> TaskResult:
    """Read a delivery's payload as a :class:`flux2.TaskResult` (no verification)."""
    if isinstance(body, Mapping):
        payload: Any = body
    else:
        raw = _raw(body)
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise WebhookVerificationError(f"the delivery is not JSON: {exc}") from None
        except RecursionError:
            raise WebhookVerificationError("the delivery's JSON is nested too deeply") from None
    if not isinstance(payload, Mapping):
        raise WebhookVerificationError("the delivery is not a JSON object")
    normalised = dict(payload)
    task_id = payload.get("id") or payload.get("task_id")
    if isinstance(task_id, str):
        normalised["id"] = task_id
    status = payload.get("status")
    if isinstance(status, str):
        normalised["status"] = _status(status)
    try:
        result = result_from_body(normalised)
    except WireError as exc:
        raise WebhookVerificationError(f"unreadable delivery: {exc}") from None
    return dataclasses.replace(result, raw=dict(payload))


def _status(status: str) -> str:
    if status in STATUS_MEANINGS:
        return status
    upper = status.strip().upper()
    if upper in _WEBHOOK_STATUSES:
        return _WEBHOOK_STATUSES[upper]
    folded = upper.replace("_", " ")
    for known in STATUS_MEANINGS:
        if known.upper() == folded:
            return known
    return status


def verify_and_parse(body: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """:func:`verify` the delivery, then :func:`parse` it."""
    scheme = verify(body, headers, secret)
    return WebhookEvent(result=parse(body), scheme=scheme)
