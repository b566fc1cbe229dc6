"""Every exchange with the service, written once for both clients.

Each operation (an API request with its retries, a submission, a wait, a generation, one item
of a batch, a download) is a generator that *yields* the I/O it needs (the actions of
:mod:`flux2._transfer`) and receives the outcome. ``Client`` runs these generators with
blocking httpx calls and ``time.sleep``; ``AsyncClient`` with ``await`` (:mod:`flux2._drive`).
The decisions (what to send, when to retry, what a status means) are therefore the same in
both by construction, and :mod:`flux2.decisions` holds them.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

import httpx

from . import decisions
from ._arguments import url_problem
from ._boundary import as_flux2_error, describe
from ._convert import WireError, credits_from_body, is_task_body, result_from_body, task_from_submit
from ._logging import logger, redact_url
from ._transfer import (
    Acquire,
    Answer,
    Cancelled,
    Context,
    Flow,
    Notify,
    RequestBody,
    Sleep,
    UnreadableBody,
    build,
    exchange,
    log_answer,
    pause,
)
from ._wire import CREDITS_PATH, RESULT_PATH, TaskState
from .decisions import Flux2Warning
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    CallbackError,
    Flux2Error,
    InputError,
    ResponseTooLargeError,
    SubmissionUncertainError,
    TaskTimeoutError,
    TransferTimeoutError,
)
from .types import (
    BatchFailure,
    BatchResult,
    BatchSuccess,
    Downloader,
    GeneratedImage,
    Task,
    TaskResult,
)

# What a generate()/submit() call's locals() hold besides the request's own fields.
_CALL_ONLY: Final = frozenset({"self", "timeout", "on_progress", "params", "extra_body"})


def request_from(call: Mapping[str, Any]) -> decisions.SubmitRequest:
    """The submission a ``generate()`` or ``submit()`` call describes, from its ``locals()``
    (so that the explicit public signatures are the only place the fields are listed)."""
    fields = {name: value for name, value in call.items() if name not in _CALL_ONLY}
    request = decisions.build_request(**fields, **call.get("params", {}))
    extra = call.get("extra_body")
    return request if extra is None else _with_extra(request, extra)


def _with_extra(request: decisions.SubmitRequest, extra: Any) -> decisions.SubmitRequest:
    """``request`` with fields the pinned spec does not know, sent unchecked."""
    if not isinstance(extra, Mapping) or not all(isinstance(name, str) for name in extra):
        raise InputError("extra_body must be a dict of field names to values", param="extra_body")
    model = request.model
    known = sorted(n for n in extra if n == "prompt" or n in model.params or n in model.image_slots)
    if known:
        raise InputError(
            f"{', '.join(known)} {'is a field' if len(known) == 1 else 'are fields'} of the "
            f"pinned spec for {model.name!r}: pass {'it' if len(known) == 1 else 'them'} as "
            "keyword arguments, which are checked against the spec, not in extra_body",
            param="extra_body",
        )
    try:
        json.dumps(dict(extra), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"extra_body cannot be sent as JSON: {exc}", param="extra_body") from None
    if extra:
        warnings.warn(
            f"extra_body sends {', '.join(sorted(extra))} to {model.name!r} unchecked: the pinned "
            "spec does not know them, and the service silently ignores fields it does not know "
            "[seen]. `flux2 drift` compares the live spec with the pinned one.",
            Flux2Warning,
            stacklevel=4,
        )
    return decisions.SubmitRequest(
        model, request.prompt, {**request.params, **extra}, request.images
    )


def reject_webhook(request: decisions.SubmitRequest) -> None:
    if request.has_webhook:
        raise InputError(
            "generate() waits for the image itself; to be called back at webhook_url, use "
            "submit() instead",
            param="webhook_url",
        )


# --- API requests --------------------------------------------------------------------------


def transport_error(
    method: str,
    url: str,
    exc: BaseException,
    submission_of: str | None,
    *,
    action: str | None = None,
) -> Exception:
    shown = redact_url(url)
    if submission_of is not None and not decisions.was_not_sent(exc):
        return _uncertain(url, submission_of, f"its answer was lost ({describe(exc)})")
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    what = "timed out" if kind is APITimeoutError else "failed"
    doing = f"{action} ({method} {shown})" if action else f"{method} {shown}"
    return kind(f"{doing} {what}: {describe(exc)}", method=method, url=shown)


def _uncertain(url: str, model: str, why: str) -> SubmissionUncertainError:
    return SubmissionUncertainError(
        f"the submission to {redact_url(url)} may have reached the server, but {why}. The "
        "task may have been created and billed; flux2 does not send it again. Check your "
        "credits or dashboard before resubmitting.",
        model=model,
        url=redact_url(url),
    )


def _unusable_answer(url: str, model: str, answer: Answer, exc: Exception) -> Exception:
    """A 2xx submit answer that could not be made a Task: the task exists and is billed, so
    what the answer said of it goes with the error."""
    if isinstance(exc, WireError):
        why = f"its answer ({answer.status_code}) has {exc}"
    else:
        why = f"its answer ({answer.status_code}) could not be read as a task ({describe(exc)})"
    body = answer.body if isinstance(answer.body, Mapping) else {}
    known = [
        f"{name} {redact_url(value)[:200]!r}"
        for name in ("id", "polling_url")
        if isinstance(value := body.get(name), str) and value
    ]
    if known:
        why += f"; it named the task by {' and '.join(known)}"
    return _uncertain(url, model, why)


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
) -> Flow[Answer]:
    """One API call with the key, retries and redirects; returns a 2xx answer or raises.

    ``task_body_ok``: a 422 or 503 answer whose body is a task is returned, not raised [seen].
    ``submission_of``: the model name when this is a submission (lost or unreadable answers
    are :class:`SubmissionUncertainError`). ``deadline`` (monotonic) bounds every request and
    retry sleep.
    """
    ctx.hosts.check_api_url(url)
    attempt = 0
    while True:
        request = build(ctx, method, url, with_key=True, content=content, deadline=deadline)
        started = ctx.clock.monotonic()
        try:
            answer = yield from exchange(ctx, request, key=True, deadline=deadline)
        except httpx.TransportError as exc:
            delay = ctx.retry.delay_for_error(method, exc, attempt, ctx.rng)
            why = type(exc).__name__
            if (
                yield from pause(
                    ctx, delay, method=method, url=url, why=why, attempt=attempt, deadline=deadline
                )
            ):
                attempt += 1
                continue
            raise transport_error(method, url, exc, submission_of) from exc
        except (
            UnreadableBody,
            httpx.DecodingError,
            ResponseTooLargeError,
            TransferTimeoutError,
        ) as exc:
            if submission_of is not None:
                why = f"its answer could not be read: {exc}"
                raise _uncertain(url, submission_of, why) from None
            if isinstance(exc, Flux2Error):
                raise
            raise APIResponseValidationError(
                f"the answer to {method} {redact_url(url)} could not be read: {exc}",
                status_code=getattr(exc, "status_code", 0),
                method=method,
                url=redact_url(url),
            ) from None
        except Exception as exc:
            if submission_of is None or isinstance(exc, Flux2Error):
                raise
            # Whatever went wrong, the submission may have left: it is not sent again.
            raise _uncertain(url, submission_of, f"sending it failed ({describe(exc)})") from None

        status = answer.status_code
        log_answer(method, url, status, ctx.clock.monotonic() - started)
        if ctx.checker is not None:
            try:
                ctx.checker.check(method, path_template, status, answer.body)
            except Exception as exc:
                if submission_of is not None and answer.is_success:
                    # The task exists and is billed whatever its answer looked like.
                    logger.error(
                        "submission answered %s, which deviates from the spec: %r",
                        status,
                        answer.body,
                    )
                    if not isinstance(exc, Flux2Error):
                        raise _unusable_answer(url, submission_of, answer, exc) from None
                raise
        task_body = task_body_ok and status in {422, 503} and is_task_body(answer.body)
        if answer.is_success or task_body:
            return answer

        retry_after = decisions.parse_retry_after(answer.headers, ctx.clock.time())
        delay = ctx.retry.delay_for_status(method, status, attempt, retry_after, ctx.rng)
        if (
            yield from pause(
                ctx,
                delay,
                method=method,
                url=url,
                why=str(status),
                attempt=attempt,
                deadline=deadline,
            )
        ):
            attempt += 1
            continue
        if delay is not None and deadline is not None:
            # The service asked for a pause that ends past the deadline: the deadline ends it.
            raise DeadlineReached(f"{status} asked to wait {delay:.3g} s before polling again")
        if submission_of is not None and status in decisions.POST_ANSWER_LOST:
            raise _uncertain(
                url, submission_of, f"the gateway answered {status}, giving up on the service"
            )
        raise decisions.make_status_error(
            status_code=status,
            body=answer.body,
            headers=answer.headers,
            method=method,
            url=answer.url,
            now=ctx.clock.time(),
        )


class DeadlineReached(Exception):
    """A retry would have had to sleep past the deadline of the call."""


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
    except Exception as exc:
        # Whatever fails here (a number too large for a float, a warning a filter turned into
        # an error), the task was created: never an UnexpectedError that invites a resubmit.
        raise _unusable_answer(url, request.model.name, answer, exc) from None
    logger.info("submitted task %s (%s, cost %s credits)", task.id, request.model.name, task.cost)
    return task


def submit_call(ctx: Context, call: Mapping[str, Any]) -> Flow[Task]:
    """``submit()``: the request its arguments describe, submitted."""
    return (yield from submit(ctx, request_from(call)))


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
    task = user_task(ctx, target)
    answer = yield from api_request(
        ctx, "GET", poll_url(ctx, task), path_template=RESULT_PATH, task_body_ok=True
    )
    return _read_result(answer, task)


def as_task(target: Task | str) -> Task:
    """A Task from a Task, a polling URL or a task id."""
    if isinstance(target, Task):
        return target
    if not isinstance(target, str) or not target.strip():
        raise InputError("expected a Task, a polling URL or a task id", param="task")
    text = target.strip()
    if text.lower().startswith(("http://", "https://")):
        return Task.from_polling_url(text)
    return Task(id=text)


def user_task(ctx: Context, target: Task | str) -> Task:
    """:func:`as_task` for a task the caller gave: a polling URL that no request could use is
    bad input (one the service sends is found unusable only when polled, and is not)."""
    task = as_task(target)
    if task.polling_url:
        ctx.hosts.check_api_url(task.polling_url)
    problem = task.polling_url and url_problem(task.polling_url)
    if problem:
        raise InputError(
            f"not a usable polling URL: {redact_url(task.polling_url)!r} ({problem})",
            param="task",
        )
    return task


def _read_result(answer: Answer, task: Task) -> TaskResult:
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
    task: Task | str,
    *,
    timeout: float | None,
    on_progress: Callable[[TaskResult], Any] | None,
    downloader: Downloader,
) -> Flow[GeneratedImage]:
    """Poll ``task`` on the schedule until it ends or ``timeout`` seconds pass.

    The deadline bounds everything inside: each poll's connect and read, and retry sleeps.
    An ``on_progress`` that raises is not called again; the task is still waited for, and
    then :class:`flux2.CallbackError` carries the task and the callback's exception.
    """
    task = as_task(task)
    url = poll_url(ctx, task)
    limit = ctx.wait_timeout if timeout is None else timeout
    deadline = ctx.clock.monotonic() + limit
    # A task resumed from an id or polling URL (no submitted_at) is polled at once.
    plan = ctx.schedule.plan(task.model, task.submitted_at, ctx.clock.time())
    delay = plan.delay(ctx.clock.time())
    polls = 0
    result: TaskResult | None = None
    failed_callback: Exception | None = None
    while True:
        remaining = deadline - ctx.clock.monotonic()
        if delay > 0:
            yield Sleep(max(0.0, min(delay, remaining)))
        # When the deadline is nearer than a request's own timeout, a timeout is the deadline's.
        bound = deadline - ctx.clock.monotonic() < longest(ctx.timeout)
        try:
            answer = yield from api_request(
                ctx, "GET", url, path_template=RESULT_PATH, deadline=deadline, task_body_ok=True
            )
        except APITimeoutError:
            if not bound and ctx.clock.monotonic() < deadline:
                raise
            raise _timed_out(task, limit, result) from None
        except DeadlineReached as exc:
            late = _timed_out(task, limit, result)
            late.add_note(f"the poll answered {exc}")
            raise late from None
        polls += 1
        result = _read_result(answer, task)
        plan.observe(ctx.clock.time(), result)
        if on_progress is not None and failed_callback is None:
            try:
                yield Notify(on_progress, result)
            except Exception as exc:  # the user's code: the task is waited for all the same
                logger.warning("on_progress raised %s; waiting for task %s goes on", exc, task.id)
                failed_callback = exc
        state = decisions.task_state(result.status)
        if state is TaskState.READY:
            if not result.url:
                raise APIResponseValidationError(
                    f"task {task.id} is Ready but its result has no sample URL",
                    status_code=answer.status_code,
                    body=answer.body,
                )
            logger.info("task %s ready after %d polls", task.id, polls)
            if failed_callback is not None:
                raise _callback_failed("on_progress", failed_callback, task)
            return GeneratedImage(task, result, downloader=downloader)
        error = decisions.task_error(task.id, result.status, result.error, result.details, result)
        if error is not None:
            if failed_callback is not None:
                error.add_note(f"on_progress had raised {describe(failed_callback)}")
            raise error
        if ctx.clock.monotonic() >= deadline:
            raise _timed_out(task, limit, result)
        delay = plan.delay(ctx.clock.time())
        retry_after = decisions.parse_retry_after(answer.headers, ctx.clock.time())
        if retry_after is not None:
            delay = max(delay, min(retry_after, ctx.retry.max_retry_after))


def longest(timeout: httpx.Timeout) -> float:
    values = [v for v in timeout.as_dict().values() if v is not None]
    return max(values) if values else float("inf")


def _timed_out(task: Task, limit: float, result: TaskResult | None) -> TaskTimeoutError:
    status = result.status if result is not None else None
    progress = f", {result.progress:.0%}" if result and result.progress is not None else ""
    return TaskTimeoutError(
        f"task {task.id} did not finish within {limit:g} s (last status {status!r}{progress}); "
        "it may still finish: wait for it again with client.wait(task)",
        task_id=task.id,
        status=status,
        details=result.details if result is not None else None,
        result=result,
    )


def _callback_failed(name: str, exc: Exception, task: Task) -> CallbackError:
    # The image is not carried: its signed URL must not travel with an exception. Waiting for
    # the task again (client.wait(error.task)) returns it at once.
    error = CallbackError(
        f"{name} raised {type(exc).__name__}: {exc}; task {task.id} was submitted (and billed) "
        "all the same and was waited for: client.wait(error.task) returns its image",
        task=task,
    )
    error.__cause__ = exc
    return error


def generate(
    ctx: Context,
    call: Mapping[str, Any],
    *,
    slots: Any,
    downloader: Downloader,
) -> Flow[GeneratedImage]:
    """Submit and wait, holding one of the client's slots for tasks in flight."""
    request = request_from(call)
    reject_webhook(request)
    yield Acquire(slots)
    try:
        task = yield from submit(ctx, request)
        return (
            yield from wait(
                ctx,
                task,
                timeout=call["timeout"],
                on_progress=call["on_progress"],
                downloader=downloader,
            )
        )
    finally:
        slots.release()


def batch_item(
    ctx: Context,
    index: int,
    item: str | Mapping[str, Any] | Task,
    *,
    defaults: Mapping[str, Any],
    timeout: float | None,
    on_submitted: Callable[[int, Task], object] | None,
    slots: Any,
    downloader: Downloader,
) -> Flow[BatchResult]:
    """One item of ``generate_many``: its outcome, never an exception (the batch goes on).

    A submitted task is always waited for, even when ``on_submitted`` raised: the result then
    carries the image and a :class:`flux2.CallbackError`.
    """
    task: Task | None = None
    failed_callback: Exception | None = None
    try:
        yield Acquire(slots)
        try:
            if isinstance(item, Task):
                task = user_task(ctx, item)
            else:
                request = decisions.build_request(
                    **decisions.normalise_item(item, defaults, kinds=_GENERATE_MANY_ITEMS)
                )
                reject_webhook(request)
                task = yield from submit(ctx, request)
                if on_submitted is not None:
                    try:
                        yield Notify(on_submitted, index, task)
                    except Exception as exc:  # the user's code: the task is waited for anyway
                        logger.warning("on_submitted raised %s for task %s", exc, task.id)
                        failed_callback = exc
            image = yield from wait(
                ctx, task, timeout=timeout, on_progress=None, downloader=downloader
            )
        finally:
            slots.release()
    except Exception as exc:  # per item, by design: the batch goes on
        error: BaseException = exc if isinstance(exc, Cancelled) else as_flux2_error(exc)
        if failed_callback is not None:
            error.add_note(f"on_submitted had raised {describe(failed_callback)}")
        return BatchFailure(index, item, task=task, error=error)
    if failed_callback is not None:
        error = _callback_failed("on_submitted", failed_callback, task)
        return BatchSuccess(index, item, task=task, image=image, error=error)
    return BatchSuccess(index, item, task=task, image=image)


_GENERATE_MANY_ITEMS: Final = "a prompt, a dict of generate() keywords or a Task"


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


__all__ = [
    "api_request",
    "as_flux2_error",
    "batch_item",
    "credits",
    "generate",
    "get_result",
    "request_from",
    "submit",
    "submit_call",
    "wait",
]
