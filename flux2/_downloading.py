"""Downloading a result image, written once for both clients: no key, retried like any read,
checked for length and format, at most ``max_download_bytes`` (decoded) within
``download_timeout``, and written atomically by its sink (no file on any failure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from . import decisions
from ._boundary import describe
from ._flows import longest, transport_error
from ._logging import redact_url
from ._transfer import (
    Blocking,
    Context,
    Flow,
    Open,
    UnreadableBody,
    build,
    open_following,
    parse,
    pause,
    read_body,
)
from .downloads import NotAnImageError, Sink
from .errors import DownloadError, ResultExpiredError, TransferTimeoutError

__all__ = ["download"]


def download(ctx: Context, url: str, sink: Sink, *, expires_at: float | None) -> Flow[None]:
    """Stream a result image into ``sink``: no key, retried like any GET, checked for length,
    at most ``max_download_bytes`` decoded, within ``download_timeout``."""
    decisions.HostPolicy.check_download_url(url)
    try:
        yield from _download(ctx, url, sink, expires_at)
    except GeneratorExit:  # closed unfinished: no more actions can be performed
        sink.abort()
        raise
    except BaseException:
        yield from _on(sink, sink.abort)
        raise


def _on(sink: Sink, method: Callable[..., None], *args: Any) -> Flow[None]:
    """Call a method of ``sink``, as an action of its own when it may block."""
    if sink.blocking:
        yield Blocking(method, *args)
    else:
        method(*args)


def _download(ctx: Context, url: str, sink: Sink, expires_at: float | None) -> Flow[None]:
    deadline = ctx.clock.monotonic() + ctx.limits.download_timeout
    attempt = 0
    while True:
        # When the deadline is nearer than a request's own timeout, a timeout is the deadline's.
        bound = deadline - ctx.clock.monotonic() < longest(ctx.timeout)
        request = build(ctx, "GET", url, with_key=False, deadline=deadline)
        response: httpx.Response | None = None
        try:
            opened = yield from open_following(ctx, request, key=False)
            response = opened.response
            assert response is not None
            if response.is_success:
                yield from _on(sink, sink.begin, response.headers.get("content-type"))
            content = yield from read_body(
                ctx,
                opened,
                sink if response.is_success else None,
                limit=_limit(ctx, response),
                deadline=deadline,
            )
        except httpx.TransportError as exc:
            fault: Exception = exc
            problem = f"the connection broke ({describe(exc)})"
        except UnreadableBody as exc:
            fault, problem = exc, f"the body could not be read ({exc})"
        except TransferTimeoutError as exc:
            raise _too_slow(ctx, url) from exc
        else:
            assert response is not None
            if not response.is_success:
                again = yield from _refused(
                    ctx,
                    url,
                    response,
                    content,
                    attempt=attempt,
                    expires_at=expires_at,
                    deadline=deadline,
                )
                if again:
                    attempt += 1
                    continue
            found = _incomplete(opened)
            if found is None:
                try:
                    yield from _on(sink, sink.finish)
                except NotAnImageError as exc:
                    shown = redact_url(url)  # redacted only for an error: it costs
                    raise DownloadError(
                        f"{shown}: {exc}", status_code=response.status_code, method="GET", url=shown
                    ) from None
                return
            fault, problem = httpx.ReadError(found), found
        # A 2xx body that broke off or came short: tried again like any read.
        yield from _on(sink, sink.abort)
        delay = ctx.retry.delay_for_error("GET", fault, attempt, ctx.rng)
        if (
            yield from pause(
                ctx, delay, method="GET", url=url, why=problem, attempt=attempt, deadline=deadline
            )
        ):
            attempt += 1
            continue
        if bound and isinstance(fault, httpx.TimeoutException):
            raise _too_slow(ctx, url) from fault
        if response is None:
            raise transport_error(
                "GET", url, fault, None, action="the download of the result image"
            ) from fault
        shown = redact_url(url)
        raise DownloadError(
            f"download of {shown} incomplete: {problem}; no file was written",
            status_code=response.status_code,
            method="GET",
            url=shown,
        )


def _refused(
    ctx: Context,
    url: str,
    response: httpx.Response,
    content: bytes,
    *,
    attempt: int,
    expires_at: float | None,
    deadline: float,
) -> Flow[bool]:
    """A result host's error answer: whether to try again (after a pause), else raise."""
    status = response.status_code
    shown = redact_url(url)
    body = _parse_quietly(content, response.headers)
    now = ctx.clock.time()
    if status == 410 or (status in {403, 404} and expires_at is not None and now >= expires_at):
        raise ResultExpiredError(
            f"the result URL has expired ({status} from the result host): results are "
            "kept 10 minutes after the task ends; generate the image again",
            status_code=status,
            body=body,
            method="GET",
            url=shown,
        )
    retry_after = decisions.parse_retry_after(response.headers, now)
    delay = ctx.retry.delay_for_status("GET", status, attempt, retry_after, ctx.rng)
    if (
        yield from pause(
            ctx, delay, method="GET", url=url, why=str(status), attempt=attempt, deadline=deadline
        )
    ):
        return True
    hint = (
        " (result URLs expire 10 minutes after the task ends; this one may have)"
        if status in {403, 404}
        else ""
    )
    raise DownloadError(
        f"{status} from the result host for {shown}{hint}",
        status_code=status,
        body=body,
        method="GET",
        url=shown,
    )


def _too_slow(ctx: Context, url: str) -> TransferTimeoutError:
    shown = redact_url(url)
    return TransferTimeoutError(
        f"the download of {shown} did not finish within {ctx.limits.download_timeout:g} s "
        "(download_timeout); no file was written",
        method="GET",
        url=shown,
    )


def _limit(ctx: Context, response: httpx.Response) -> int:
    # An image, or the error page a result host answers with (held to an API answer's limit).
    return ctx.limits.max_download_bytes if response.is_success else ctx.limits.max_response_bytes


def _parse_quietly(content: bytes, headers: httpx.Headers) -> Any:
    try:
        return parse(content, headers)
    except UnreadableBody:
        return None


def _incomplete(opened: Open) -> str | None:
    """Why a 2xx download is not whole, or ``None``."""
    headers = opened.response.headers
    declared = headers.get("content-length")
    if declared is None or not declared.strip().isdigit():
        return None
    # Content-Length counts the bytes on the wire; those equal the body unless it is encoded.
    encoded = headers.get("content-encoding", "identity").strip().lower() not in {"", "identity"}
    got = opened.response.num_bytes_downloaded if encoded else opened.received
    if got != int(declared):
        return f"received {got} of {int(declared)} bytes"
    return None
