"""Retries: which failures are tried again, and after how long. Money-safe: a request that may
have created a task is never sent twice. No I/O."""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
from collections.abc import Mapping
from datetime import UTC
from typing import Final

# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------

# Money safety, BFL's own SDK rule [doc]: 429 is retried on any method (the request was refused,
# nothing was created); 5xx and network errors only on GET; a POST only when it provably never
# reached the server. A public report counts 426 billed duplicates in a week from replays [doc].
RETRY_ANY_METHOD: Final = frozenset({429})
RETRY_GET_ONLY: Final = frozenset({408, 500, 502, 503, 504})
# A gateway that timed out waiting for the service has lost the answer to a submission that
# may have been processed: it is reported like a lost response, not as a plain 5xx.
POST_ANSWER_LOST: Final = frozenset({504})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and after how long a failed request is tried again.

    The n-th retry waits ``initial_delay * 2**n`` (at most ``max_delay``) with +-25% jitter, or
    what the server's ``Retry-After`` asks. A ``Retry-After`` longer than ``max_retry_after``
    is not waited out: the error is raised, carrying ``retry_after``, for the caller to decide.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The delay before retry number ``attempt`` (0-based) when the server named none."""
        base = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return base * (0.75 + 0.5 * rng.random())

    def delay_for_status(
        self,
        method: str,
        status: int,
        attempt: int,
        retry_after: float | None,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before retrying a response with ``status``, or ``None``: no retry."""
        if attempt >= self.max_retries:
            return None
        if status not in RETRY_ANY_METHOD and not (method == "GET" and status in RETRY_GET_ONLY):
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # A little jitter on top of the server's figure keeps many waiting clients from
            # returning in the same instant.
            return retry_after + rng.random() * min(1.0, 0.1 * retry_after + 0.05)
        return self.backoff(attempt, rng)

    def delay_for_error(
        self, method: str, exc: BaseException, attempt: int, rng: random.Random
    ) -> float | None:
        """Seconds to wait before retrying after a transport error, or ``None``: no retry."""
        if attempt >= self.max_retries:
            return None
        if method == "GET" and is_retryable_network_error(exc):
            return self.backoff(attempt, rng)
        if was_not_sent(exc):
            return self.backoff(attempt, rng)
        return None


def was_not_sent(exc: BaseException) -> bool:
    """Whether a transport error proves the request never reached the server.

    Only failing to connect and waiting for a free pooled connection prove it; any error after
    the first byte went out (write, read, protocol errors, read timeouts) may follow a request
    the server received and acted on.
    """
    import httpx

    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_retryable_network_error(exc: BaseException) -> bool:
    """Transport failures worth retrying for an idempotent request."""
    import httpx

    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return False
    return isinstance(exc, httpx.TransportError)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked to wait: ``Retry-After`` as seconds or an HTTP date [doc],
    or ``retry-after-ms``; ``None`` when absent or unreadable. ``now`` is Unix time."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            pass
        else:
            if math.isfinite(seconds):
                return max(0.0, seconds)
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    return max(0.0, seconds) if math.isfinite(seconds) else None
