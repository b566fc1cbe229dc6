"""Every exchange with the service, written once for both clients.

Each operation (an API request with its retries and redirects, a submission, a wait, a
download) is a generator that *yields* the I/O it needs (:class:`Send`, :class:`Stream`,
:class:`Sleep`, :class:`Notify`) and receives the outcome. ``Client`` runs these generators
with blocking httpx calls and ``time.sleep``; ``AsyncClient`` with ``await``. The decisions
(what to send, when to retry, what a status means) are therefore the same in both by
construction, and :mod:`flux2.decisions` holds them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlencode, urljoin

import httpx

from . import decisions
from ._convert import (
    WireError,
    credits_from_body,
    is_task_body,
    result_from_body,
    task_from_submit,
)
from ._logging import logger, redact_url
from ._wire import AUTH_HEADER, CREDITS_PATH, RESULT_PATH, TaskState
from .downloads import NotAnImageError, Sink
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    DownloadError,
    ResultExpiredError,
    SubmissionUncertainError,
    TaskTimeoutError,
)
from .types import GeneratedImage, Task, TaskResult

T = TypeVar("T")

MAX_REDIRECTS = 5


# --- actions -------------------------------------------------------------------------------


class Send:
    """Send ``request`` and return the whole response (body read)."""

    __slots__ = ("request",)

    def __init__(self, request: httpx.Request) -> None:
        self.request = request


class Stream:
    """Send ``request``; on success stream the body into ``sink``. Returns a StreamOutcome."""

    __slots__ = ("request", "sink")

    def __init__(self, request: httpx.Request, sink: Sink) -> None:
        self.request = request
        self.sink = sink


class StreamOutcome:
    """A streamed response (closed): the body bytes handed to the sink (decoded), the bytes
    received on the wire, and the error that cut the body short, if one did."""

    __slots__ = ("broken", "received", "response", "wire_bytes")

    def __init__(
        self,
        response: httpx.Response,
        received: int,
        wire_bytes: int,
        broken: Exception | None = None,
    ) -> None:
        self.response = response
        self.received = received
        self.wire_bytes = wire_bytes
        self.broken = broken


class Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds!r})"


class Notify:
    """Call ``callback(value)`` (awaited by the async client when it returns an awaitable)."""

    __slots__ = ("callback", "value")

    def __init__(self, callback: Callable[[TaskResult], Any], value: TaskResult) -> None:
        self.callback = callback
        self.value = value


Action = Send | Stream | Sleep | Notify
Flow = Generator[Action, Any, T]


# --- context -------------------------------------------------------------------------------


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class Checker(Protocol):
    def check(self, method: str, path_template: str, status_code: int, body: Any) -> Any: ...


class Context:
    """What a flow needs to know; built by the client from its options."""

    __slots__ = (
        "api_key",
        "base_url",
        "checker",
        "clock",
        "hosts",
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

    def __repr__(self) -> str:  # the key stays out
        return f"Context(base_url={self.base_url!r})"


class APIResponse:
    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: httpx.Headers, body: Any) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body


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


def _build(
    ctx: Context,
    method: str,
    url: str,
    *,
    with_key: bool,
    content: bytes | RequestBody | None = None,
) -> httpx.Request:
    headers = {"user-agent": ctx.user_agent, "accept": "application/json"}
    if content is not None:
        headers["content-type"] = "application/json"
    if with_key:
        # The one place the key is attached, and only for a host the policy trusts.
        ctx.hosts.check_api_url(url)
        headers[AUTH_HEADER] = ctx.api_key
    # Requests are built here, not by an httpx client, so the timeout travels with each one.
    extensions = {"timeout": ctx.timeout.as_dict()}
    if isinstance(content, RequestBody):
        # httpx fills in no headers for a request given as a stream.
        target = httpx.URL(url)
        headers["host"] = target.netloc.decode("ascii")
        headers["content-length"] = str(content.size)
        return httpx.Request(method, target, headers=headers, stream=content, extensions=extensions)
    return httpx.Request(method, url, headers=headers, content=content, extensions=extensions)


def _body_of(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _send_following(ctx: Context, request: httpx.Request, *, key: bool) -> Flow[httpx.Response]:
    """Send, following GET redirects; the key survives a redirect only to the same host."""
    response: httpx.Response = yield Send(request)
    origin = str(request.url)
    for _ in range(MAX_REDIRECTS):
        location = response.headers.get("location")
        if not (response.is_redirect and location and request.method == "GET"):
            return response
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
        request = _build(ctx, "GET", target, with_key=keep_key)
        response = yield Send(request)
    return response


def _transport_error(
    method: str,
    url: str,
    exc: BaseException,
    submission_of: str | None,
    *,
    action: str | None = None,
) -> Exception:
    shown = redact_url(url)
    if submission_of is not None and not decisions.was_not_sent(exc):
        return SubmissionUncertainError(
            f"the submission to {shown} may have reached the server, but its answer was lost "
            f"({type(exc).__name__}: {exc}). The task may have been created and billed; flux2 "
            "does not send it again. Check your credits or dashboard before resubmitting.",
            model=submission_of,
            url=shown,
        )
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    what = "timed out" if kind is APITimeoutError else "failed"
    doing = f"{action} ({method} {shown})" if action else f"{method} {shown}"
    return kind(f"{doing} {what}: {type(exc).__name__}: {exc}", method=method, url=shown)


def api_request(
    ctx: Context,
    method: str,
    url: str,
    *,
    path_template: str,
    content: bytes | RequestBody | None = None,
    deadline: float | None = None,
    task_body_ok: bool = False,
    submission_of: str | None = None,
) -> Flow[APIResponse]:
    """One API call with the key, retries and redirects; returns a 2xx answer or raises.

    ``task_body_ok``: a 422 or 503 answer whose body is a task is returned, not raised [seen].
    ``submission_of``: the model name when this is a submission (lost answers are reported as
    :class:`SubmissionUncertainError`). ``deadline`` (monotonic): no retry sleeps past it.
    """
    ctx.hosts.check_api_url(url)
    attempt = 0
    while True:
        request = _build(ctx, method, url, with_key=True, content=content)
        started = ctx.clock.monotonic()
        try:
            response = yield from _send_following(ctx, request, key=True)
        except httpx.TransportError as exc:
            delay = ctx.retry.delay_for_error(method, exc, attempt, ctx.rng)
            if delay is not None and _fits(ctx, delay, deadline):
                _log_retry(method, url, type(exc).__name__, delay, attempt=attempt, ctx=ctx)
                yield Sleep(delay)
                attempt += 1
                continue
            raise _transport_error(method, url, exc, submission_of) from exc

        body = _body_of(response)
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):  # redacting a URL costs more than the check
            logger.debug(
                "%s %s -> %d in %.3f s",
                method,
                redact_url(url),
                status,
                ctx.clock.monotonic() - started,
            )
        if ctx.checker is not None:
            try:
                ctx.checker.check(method, path_template, status, body)
            except Exception:
                if submission_of is not None and response.is_success:
                    # The task exists and is billed whatever its answer looked like.
                    logger.error(
                        "submission answered %s, which deviates from the spec: %r",
                        status,
                        body,
                    )
                raise
        if response.is_success or (task_body_ok and status in {422, 503} and is_task_body(body)):
            return APIResponse(status, response.headers, body)

        retry_after = decisions.parse_retry_after(response.headers, ctx.clock.time())
        delay = ctx.retry.delay_for_status(method, status, attempt, retry_after, ctx.rng)
        if delay is not None and _fits(ctx, delay, deadline):
            _log_retry(method, url, str(status), delay, attempt=attempt, ctx=ctx)
            yield Sleep(delay)
            attempt += 1
            continue
        if submission_of is not None and status in decisions.POST_ANSWER_LOST:
            raise SubmissionUncertainError(
                f"{status} from POST {redact_url(url)}: the gateway gave up waiting for the "
                "service, which may have created (and billed) the task; flux2 does not send it "
                "again. Check your credits or dashboard before resubmitting.",
                model=submission_of,
                url=redact_url(url),
            )
        raise decisions.make_status_error(
            status_code=status,
            body=body,
            headers=response.headers,
            method=method,
            url=str(response.request.url),
            now=ctx.clock.time(),
        )


def _fits(ctx: Context, delay: float, deadline: float | None) -> bool:
    return deadline is None or ctx.clock.monotonic() + delay < deadline


def _log_retry(
    method: str, url: str, why: str, delay: float, *, attempt: int, ctx: Context
) -> None:
    logger.info(
        "%s %s: %s; retrying in %.2f s (retry %d of %d)",
        method,
        redact_url(url),
        why,
        delay,
        attempt + 1,
        ctx.retry.max_retries,
    )


# --- operations ----------------------------------------------------------------------------


def submit(ctx: Context, request: decisions.SubmitRequest) -> Flow[Task]:
    """POST a validated request; never sent twice unless provably not received."""
    url = ctx.base_url + request.model.path
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("submitting to %s: %s", request.model.path, request.summary())
    parts = request.body_parts()
    answer = yield from api_request(
        ctx,
        "POST",
        url,
        path_template=request.model.path,
        content=bytes(parts[0]) if len(parts) == 1 else RequestBody(parts),
        submission_of=request.model.name,
    )
    try:
        task = task_from_submit(
            answer.body, model=request.model.name, submitted_at=ctx.clock.time()
        )
    except WireError as exc:
        raise SubmissionUncertainError(
            f"{answer.status_code} from POST {redact_url(url)}, but {exc}. The task may have been "
            "created and billed; flux2 does not send it again.",
            model=request.model.name,
            url=redact_url(url),
        ) from None
    logger.info("submitted task %s (%s, cost %s credits)", task.id, request.model.name, task.cost)
    return task


def poll_url(ctx: Context, task: Task) -> str:
    """Where to poll ``task``: its polling_url (checked against the host policy before any
    connection), else ``get_result`` on the base URL (a task submitted with a webhook has no
    polling_url [doc]; on a regional cluster that answers 404 [doc])."""
    if task.polling_url:
        ctx.hosts.check_api_url(task.polling_url)
        return task.polling_url
    return f"{ctx.base_url}{RESULT_PATH}?{urlencode({'id': task.id})}"


def get_result(ctx: Context, target: Task | str) -> Flow[TaskResult]:
    """Read a task's state once."""
    task = as_task(target)
    answer = yield from api_request(
        ctx, "GET", poll_url(ctx, task), path_template=RESULT_PATH, task_body_ok=True
    )
    return _read_result(answer, task)


def as_task(target: Task | str) -> Task:
    """A Task from a Task, a polling URL or a task id."""
    if isinstance(target, Task):
        return target
    if not isinstance(target, str) or not target.strip():
        raise decisions.InputError("expected a Task, a polling URL or a task id", param="task")
    text = target.strip()
    if text.lower().startswith(("http://", "https://")):
        return Task.from_polling_url(text)
    return Task(id=text)


def _read_result(answer: APIResponse, task: Task) -> TaskResult:
    try:
        return result_from_body(answer.body, task_id=task.id)
    except WireError as exc:
        raise APIResponseValidationError(
            f"cannot read the state of task {task.id}: {exc}",
            status_code=answer.status_code,
            body=answer.body,
        ) from None


def wait(
    ctx: Context,
    task: Task,
    *,
    timeout: float | None,
    on_progress: Callable[[TaskResult], Any] | None,
    downloader: Any,
) -> Flow[GeneratedImage]:
    """Poll ``task`` on the schedule until it ends or ``timeout`` seconds pass."""
    url = poll_url(ctx, task)
    limit = ctx.wait_timeout if timeout is None else timeout
    deadline = ctx.clock.monotonic() + limit
    # A task resumed from an id or polling URL (no submitted_at) is polled at once.
    plan = ctx.schedule.plan(task.model, task.submitted_at, ctx.clock.time())
    delay = plan.delay(ctx.clock.time())
    polls = 0
    while True:
        remaining = deadline - ctx.clock.monotonic()
        if delay > 0:
            yield Sleep(max(0.0, min(delay, remaining)))
        answer = yield from api_request(
            ctx, "GET", url, path_template=RESULT_PATH, deadline=deadline, task_body_ok=True
        )
        polls += 1
        result = _read_result(answer, task)
        plan.observe(ctx.clock.time(), result)
        if on_progress is not None:
            yield Notify(on_progress, result)
        state = decisions.task_state(result.status)
        if state is TaskState.READY:
            if not result.url:
                raise APIResponseValidationError(
                    f"task {task.id} is Ready but its result has no sample URL",
                    status_code=answer.status_code,
                    body=answer.body,
                )
            logger.info("task %s ready after %d polls", task.id, polls)
            return GeneratedImage(task, result, downloader=downloader)
        error = decisions.task_error(task.id, result.status, result.error, result.details, result)
        if error is not None:
            raise error
        if ctx.clock.monotonic() >= deadline:
            progress = f", {result.progress:.0%}" if result.progress is not None else ""
            raise TaskTimeoutError(
                f"task {task.id} did not finish within {limit:g} s (last status "
                f"{result.status!r}{progress}); it may still finish: wait for it again with "
                "client.wait(task)",
                task_id=task.id,
                status=result.status,
                details=result.details,
                result=result,
            )
        delay = plan.delay(ctx.clock.time())
        retry_after = decisions.parse_retry_after(answer.headers, ctx.clock.time())
        if retry_after is not None:
            delay = max(delay, min(retry_after, ctx.retry.max_retry_after))


def credits(ctx: Context) -> Flow[float]:
    answer = yield from api_request(
        ctx, "GET", ctx.base_url + CREDITS_PATH, path_template=CREDITS_PATH
    )
    try:
        return credits_from_body(answer.body)
    except WireError as exc:
        raise APIResponseValidationError(
            str(exc), status_code=answer.status_code, body=answer.body
        ) from None


# --- downloads -----------------------------------------------------------------------------


def download(ctx: Context, url: str, sink: Sink, *, expires_at: float | None) -> Flow[None]:
    """Stream a result image into ``sink``: no key, retried like any GET, checked for length."""
    decisions.HostPolicy.check_download_url(url)
    try:
        yield from _download(ctx, url, sink, expires_at)
    except BaseException:
        sink.abort()
        raise


def _download(ctx: Context, url: str, sink: Sink, expires_at: float | None) -> Flow[None]:
    attempt = 0
    while True:
        request = _build(ctx, "GET", url, with_key=False)
        try:
            outcome: StreamOutcome = yield from _stream_following(ctx, request, sink)
        except httpx.TransportError as exc:
            delay = ctx.retry.delay_for_error("GET", exc, attempt, ctx.rng)
            if delay is not None:
                _log_retry("GET", url, type(exc).__name__, delay, attempt=attempt, ctx=ctx)
                yield Sleep(delay)
                attempt += 1
                continue
            raise _transport_error(
                "GET", url, exc, None, action="the download of the result image"
            ) from exc
        response = outcome.response
        status = response.status_code
        if response.is_success:
            problem = _incomplete(outcome)
            if problem is None:
                try:
                    sink.finish()
                except NotAnImageError as exc:
                    raise DownloadError(
                        f"{redact_url(url)}: {exc}",
                        status_code=status,
                        method="GET",
                        url=redact_url(url),
                    ) from None
                return
            sink.abort()
            delay = ctx.retry.delay_for_error(
                "GET", outcome.broken or httpx.ReadError(problem), attempt, ctx.rng
            )
            if delay is not None:
                _log_retry("GET", url, problem, delay, attempt=attempt, ctx=ctx)
                yield Sleep(delay)
                attempt += 1
                continue
            raise DownloadError(
                f"download of {redact_url(url)} incomplete: {problem}; no file was written",
                status_code=status,
                method="GET",
                url=redact_url(url),
            )
        body = _body_of(response)
        now = ctx.clock.time()
        if status in {403, 404, 410}:
            expired = status == 410 or (expires_at is not None and now >= expires_at)
            if expired:
                raise ResultExpiredError(
                    f"the result URL has expired ({status} from the result host): results are "
                    "kept 10 minutes after the task ends; generate the image again",
                    status_code=status,
                    body=body,
                    method="GET",
                    url=redact_url(url),
                )
        retry_after = decisions.parse_retry_after(response.headers, now)
        delay = ctx.retry.delay_for_status("GET", status, attempt, retry_after, ctx.rng)
        if delay is not None:
            _log_retry("GET", url, str(status), delay, attempt=attempt, ctx=ctx)
            yield Sleep(delay)
            attempt += 1
            continue
        hint = (
            " (result URLs expire 10 minutes after the task ends; this one may have)"
            if status in {403, 404}
            else ""
        )
        raise DownloadError(
            f"{status} from the result host for {redact_url(url)}{hint}",
            status_code=status,
            body=body,
            method="GET",
            url=redact_url(url),
        )


def _stream_following(ctx: Context, request: httpx.Request, sink: Sink) -> Flow[StreamOutcome]:
    outcome: StreamOutcome = yield Stream(request, sink)
    for _ in range(MAX_REDIRECTS):
        response = outcome.response
        location = response.headers.get("location")
        if not (response.is_redirect and location):
            return outcome
        target = urljoin(str(request.url), location)
        decisions.HostPolicy.check_download_url(target)
        request = _build(ctx, "GET", target, with_key=False)
        outcome = yield Stream(request, sink)
    return outcome


def _incomplete(outcome: StreamOutcome) -> str | None:
    """Why a 2xx download is not whole, or ``None``."""
    if outcome.broken is not None:
        return f"the connection broke after {outcome.received} bytes ({outcome.broken})"
    headers = outcome.response.headers
    declared = headers.get("content-length")
    if declared is None or not declared.strip().isdigit():
        return None
    # Content-Length counts the bytes on the wire; those equal the body unless it is encoded.
    encoded = headers.get("content-encoding", "identity").strip().lower() not in {"", "identity"}
    got = outcome.wire_bytes if encoded else outcome.received
    if got != int(declared):
        return f"received {got} of {int(declared)} bytes"
    return None


__all__ = [
    "Action",
    "Context",
    "Flow",
    "Notify",
    "Send",
    "Sleep",
    "Stream",
    "StreamOutcome",
    "api_request",
    "credits",
    "download",
    "get_result",
    "submit",
    "wait",
]
