"""Bytes over the wire, written once for both clients: the actions a flow yields, the context it
runs in, how a request is built, sent (following redirects), read (within limits) and retried.

A flow is a generator that *yields* the I/O it needs as small action objects and receives
their outcome. ``Client`` performs them with blocking httpx calls, ``AsyncClient`` with
``await`` (see :mod:`flux2._drive`); neither knows anything else about the exchange.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urljoin

import httpx

from . import decisions
from ._logging import logger, redact_url
from ._wire import AUTH_HEADER
from .downloads import Sink
from .errors import ResponseTooLargeError, TransferTimeoutError

T = TypeVar("T")

MAX_REDIRECTS: Final = 5


# --- actions -------------------------------------------------------------------------------


class Open:
    """Send ``request`` and return the response with its headers read, its body not yet.

    The driver keeps the response and its decoded-chunk iterator here for :class:`Read` and
    :class:`Close`.
    """

    __slots__ = ("chunks", "received", "request", "response")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.response: Any = None
        self.chunks: Any = None
        self.received = 0
        """Decoded body bytes read so far."""


class Read:
    """The next decoded chunk of an opened response's body; ``b""`` at its end."""

    __slots__ = ("opened",)

    def __init__(self, opened: Open) -> None:
        self.opened = opened


class Close:
    """Release an opened response's connection (whether or not its body was read)."""

    __slots__ = ("opened",)

    def __init__(self, opened: Open) -> None:
        self.opened = opened


class Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds!r})"


class Notify:
    """Call ``callback(*args)`` (awaited by the async client when it returns an awaitable)."""

    __slots__ = ("args", "callback")

    def __init__(self, callback: Callable[..., Any], *args: Any) -> None:
        self.callback = callback
        self.args = args


class Blocking:
    """Call ``callback(*args)``, which may block on the file system: inline for the blocking
    client, in a worker thread for the async one, so its event loop never waits on a disk."""

    __slots__ = ("args", "callback")

    def __init__(self, callback: Callable[..., Any], *args: Any) -> None:
        self.callback = callback
        self.args = args


class Acquire:
    """Wait for one of ``slots`` (a client's limit on tasks in flight); released by the flow."""

    __slots__ = ("slots",)

    def __init__(self, slots: Any) -> None:
        self.slots = slots


Action = Open | Read | Close | Sleep | Notify | Blocking | Acquire
Flow = Generator[Action, Any, T]


# --- context -------------------------------------------------------------------------------


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class Checker(Protocol):
    def check(self, method: str, path_template: str, status_code: int, body: Any) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Limits:
    """Sizes and deadlines of transfers (see :class:`flux2.Client` for their defaults)."""

    max_response_bytes: int
    max_download_bytes: int
    download_timeout: float


class Context:
    """What a flow needs to know; built by the client from its options."""

    __slots__ = (
        "api_key",
        "base_url",
        "checker",
        "clock",
        "hosts",
        "limits",
        "retry",
        "rng",
        "schedule",
        "timeout",
        "user_agent",
        "wait_timeout",
    )

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        hosts: decisions.HostPolicy,
        retry: decisions.RetryPolicy,
        schedule: decisions.polling.PollEstimator,
        clock: Clock,
        rng: random.Random,
        checker: Checker | None,
        user_agent: str,
        wait_timeout: float,
        timeout: httpx.Timeout,
        limits: Limits,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.hosts = hosts
        self.retry = retry
        self.schedule = schedule
        self.clock = clock
        self.rng = rng
        self.checker = checker
        self.user_agent = user_agent
        self.wait_timeout = wait_timeout
        self.timeout = timeout
        self.limits = limits

    def __repr__(self) -> str:  # the key stays out
        return f"Context(base_url={self.base_url!r})"


# --- requests ------------------------------------------------------------------------------

# Slices of a large request body handed to the transport. httpcore's socket writes copy the
# unsent rest of a buffer after every partial send, so one 200 MB body (eight 12 MP input
# images) would be copied again and again, with a second full copy alive at each step; slices
# bound that to one slice (scripts/bench, scenario "inputs").
BODY_SLICE: Final = 256 * 1024


class RequestBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A request body sent from its pieces, slice by slice, never joined into one buffer.

    Re-iterable, so a submission retried because it provably never left is sent whole again.
    """

    def __init__(self, parts: Sequence[bytes | bytearray]) -> None:
        self._parts = tuple(parts)
        self.size = sum(len(part) for part in self._parts)

    def __iter__(self) -> Iterator[bytes]:
        for part in self._parts:
            if len(part) <= BODY_SLICE:
                yield bytes(part)
                continue
            with memoryview(part) as view:
                for start in range(0, len(view), BODY_SLICE):
                    yield bytes(view[start : start + BODY_SLICE])

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def build(
    ctx: Context,
    method: str,
    url: str,
    *,
    with_key: bool,
    content: bytes | RequestBody | None = None,
    deadline: float | None = None,
) -> httpx.Request:
    """The request, with the key only for a host the policy trusts, and a timeout that ends
    no later than ``deadline`` (monotonic)."""
    headers = {"user-agent": ctx.user_agent, "accept": "application/json"}
    if content is not None:
        headers["content-type"] = "application/json"
    if with_key:
        # The one place the key is attached, and only for a host the policy trusts.
        ctx.hosts.check_api_url(url)
        headers[AUTH_HEADER] = ctx.api_key
    # Requests are built here, not by an httpx client, so the timeout travels with each one.
    extensions = {"timeout": _timeouts(ctx, deadline)}
    if isinstance(content, RequestBody):
        # httpx fills in no headers for a request given as a stream.
        target = httpx.URL(url)
        headers["host"] = target.netloc.decode("ascii")
        headers["content-length"] = str(content.size)
        return httpx.Request(method, target, headers=headers, stream=content, extensions=extensions)
    return httpx.Request(method, url, headers=headers, content=content, extensions=extensions)


# A request made at its deadline still gets this long: a poll or retry that lands on the
# deadline would otherwise be given no time at all.
_LAST_CHANCE: Final = 0.5


def _timeouts(ctx: Context, deadline: float | None) -> dict[str, float | None]:
    timeouts = ctx.timeout.as_dict()
    if deadline is None:
        return timeouts
    left = max(_LAST_CHANCE, deadline - ctx.clock.monotonic())
    return {name: left if value is None else min(value, left) for name, value in timeouts.items()}


# --- exchanges -----------------------------------------------------------------------------


class Answer:
    """A response whose body was read (within its limit) and parsed."""

    __slots__ = ("body", "headers", "status_code", "url")

    def __init__(self, status_code: int, headers: httpx.Headers, body: Any, url: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class UnreadableBody(Exception):
    """An answer's body could not be read (a broken encoding, nesting past any sense)."""

    status_code = 0


class Cancelled(Exception):
    """A batch was closed while this item still waited."""


def open_following(ctx: Context, request: httpx.Request, *, key: bool) -> Flow[Open]:
    """Send ``request``, following GET redirects; the key survives a redirect only to the
    same, trusted host, and a URL that gets no key must still be one flux2 fetches."""
    origin = str(request.url)
    opened = Open(request)
    yield opened
    for _ in range(MAX_REDIRECTS):
        response: httpx.Response = opened.response
        location = response.headers.get("location")
        if not (response.is_redirect and location and request.method == "GET"):
            return opened
        yield Close(opened)
        target = urljoin(str(request.url), location)
        keep_key = key and ctx.hosts.same_host(origin, target) and ctx.hosts.is_trusted(target)
        if key and not keep_key:
            logger.warning(
                "redirect from %s to %s: following without the API key",
                redact_url(request.url),
                redact_url(target),
            )
        if not keep_key:
            decisions.HostPolicy.check_download_url(target)
        timeout = request.extensions.get("timeout")
        request = build(ctx, "GET", target, with_key=keep_key)
        request.extensions["timeout"] = timeout
        opened = Open(request)
        yield opened
    return opened


def read_body(
    ctx: Context, opened: Open, into: Sink | None, *, limit: int, deadline: float | None
) -> Flow[bytes]:
    """The body of an opened response, decoded, into ``into`` (returning ``b""``) or memory.

    Counts decoded bytes, so a small compressed body that inflates past ``limit`` stops there
    (:class:`flux2.ResponseTooLargeError`); past ``deadline`` (monotonic) it stops with
    :class:`flux2.TransferTimeoutError`. The connection is released either way.
    """
    kept = bytearray()
    received = 0
    try:
        while chunk := (yield Read(opened)):
            received += len(chunk)
            opened.received = received
            if received > limit:
                url = redact_url(opened.request.url)  # only for the error: redacting costs
                raise ResponseTooLargeError(
                    f"the answer from {url} is larger than the limit of {limit} bytes; it was "
                    "not kept (the limits are settings of the client)",
                    url=url,
                    limit=limit,
                )
            if deadline is not None and ctx.clock.monotonic() > deadline:
                url = redact_url(opened.request.url)
                raise TransferTimeoutError(
                    f"the answer from {url} was still arriving at its deadline "
                    f"({received} bytes so far); it was not kept",
                    method=opened.request.method,
                    url=url,
                )
            if into is None:
                kept += chunk
            elif into.write(chunk):  # a file's writes fell behind: wait (off the event loop)
                yield Blocking(into.drain)
    except httpx.DecodingError as exc:
        yield Close(opened)
        raise UnreadableBody(f"its encoding is broken ({exc})") from None
    except GeneratorExit:
        raise
    except BaseException:
        yield Close(opened)
        raise
    yield Close(opened)
    return bytes(kept)


def parse(content: bytes, headers: httpx.Headers) -> Any:
    """JSON when the body is JSON, else its text; ``UnreadableBody`` when it is neither."""
    if not content:
        return None
    try:
        return json.loads(content)
    except RecursionError:
        raise UnreadableBody("its JSON is nested too deeply to read") from None
    except ValueError:
        pass
    charset = httpx.Response(200, headers=headers).charset_encoding or "utf-8"
    try:
        return content.decode(charset, errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def exchange(
    ctx: Context, request: httpx.Request, *, key: bool, deadline: float | None
) -> Flow[Answer]:
    """Send an API request (following redirects) and read its answer within the size limit."""
    opened = yield from open_following(ctx, request, key=key)
    response: httpx.Response = opened.response
    try:
        content = yield from read_body(
            ctx, opened, None, limit=ctx.limits.max_response_bytes, deadline=deadline
        )
        body = parse(content, response.headers)
    except UnreadableBody as exc:
        exc.status_code = response.status_code
        raise
    return Answer(response.status_code, response.headers, body, str(opened.request.url))


# --- retries -------------------------------------------------------------------------------


def pause(
    ctx: Context,
    delay: float | None,
    *,
    method: str,
    url: str,
    why: str,
    attempt: int,
    deadline: float | None = None,
) -> Flow[bool]:
    """Sleep before trying again, when the retry policy gave a ``delay`` that ends before
    ``deadline``; whether to try again."""
    if delay is None or (deadline is not None and ctx.clock.monotonic() + delay >= deadline):
        return False
    logger.info(
        "%s %s: %s; retrying in %.2f s (retry %d of %d)",
        method,
        redact_url(url),
        why,
        delay,
        attempt + 1,
        ctx.retry.max_retries,
    )
    yield Sleep(delay)
    return True


def log_answer(method: str, url: str, status: int, seconds: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):  # redacting a URL costs more than the check
        logger.debug("%s %s -> %d in %.3f s", method, redact_url(url), status, seconds)


__all__ = [
    "BODY_SLICE",
    "Acquire",
    "Action",
    "Answer",
    "Blocking",
    "Cancelled",
    "Close",
    "Context",
    "Flow",
    "Limits",
    "Notify",
    "Open",
    "Read",
    "RequestBody",
    "Sleep",
    "UnreadableBody",
    "build",
    "exchange",
    "open_following",
    "pause",
    "read_body",
]
