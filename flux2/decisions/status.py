"""What a task status means, and which exception an error status or a failed task becomes.
No I/O."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from flux2._logging import logger, redact_url
from flux2._wire import STATUS_MEANINGS, TaskState
from flux2.errors import (
    APIError,
    AuthenticationError,
    ContentModeratedError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestModeratedError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
    UnprocessableEntityError,
)

from .retry import parse_retry_after

if TYPE_CHECKING:
    # Loaded on first use, not on ``import flux2``: the registry parses the pinned spec.
    pass

# --------------------------------------------------------------------------------------------
# Task status
# --------------------------------------------------------------------------------------------

# Unknown statuses are reported once each, and only so many: a hostile or broken server can
# invent a new status on every poll, and neither the log nor this set may grow with it.
MAX_REPORTED_STATUSES: Final = 20
# Enough for any real status word; the rest of a longer one is neither kept nor logged.
_STATUS_SHOWN_CHARS: Final = 64
_warned_statuses: set[str] = set()
_warned_lock = threading.Lock()


def task_state(status: str) -> TaskState:
    """What ``status`` means. An unknown one counts as in flight, with one warning per status
    per process (up to :data:`MAX_REPORTED_STATUSES`): new in-flight statuses have appeared
    live without a spec change [seen]."""
    state = STATUS_MEANINGS.get(status) if isinstance(status, str) else None
    if state is not None:
        return state
    _report_unknown(status)
    return TaskState.IN_FLIGHT


def _report_unknown(status: object) -> None:
    key = status[: _STATUS_SHOWN_CHARS + 1] if isinstance(status, str) else repr(type(status))
    with _warned_lock:
        warned = _warned_statuses
        if key in warned or len(warned) > MAX_REPORTED_STATUSES:
            return
        warned.add(key)
        last = len(warned) > MAX_REPORTED_STATUSES
    if last:
        logger.warning(
            "more than %d different unknown task statuses: treating them all as in flight; "
            "further unknown statuses will not be reported",
            MAX_REPORTED_STATUSES,
        )
        return
    logger.warning(
        "unknown task status %s: treating it as in flight and polling on until the deadline",
        _shown_status(status),
    )


def _shown_status(status: object) -> str:
    """A status for a log line: ASCII only (no control characters or terminal escapes), and
    short."""
    if not isinstance(status, str):
        return f"of type {type(status).__name__}"
    shown = ascii(status[:_STATUS_SHOWN_CHARS])
    if len(status) > _STATUS_SHOWN_CHARS:
        shown += f" (cut from {len(status)} characters)"
    return shown


_TASK_ERRORS: Final[Mapping[TaskState, tuple[type[TaskError], str]]] = MappingProxyType(
    {
        TaskState.FAILED: (TaskFailedError, "failed"),
        TaskState.REQUEST_MODERATED: (
            RequestModeratedError,
            "was refused by input moderation (the prompt or an input image); retrying the same "
            "request will not help",
        ),
        TaskState.CONTENT_MODERATED: (
            ContentModeratedError,
            "produced an image that output moderation refused; another seed may pass",
        ),
        TaskState.NOT_FOUND: (
            TaskNotFoundError,
            "is not known to the service (wrong id, or polled on the wrong cluster: use the "
            "task's polling_url)",
        ),
    }
)


def task_error(
    task_id: str, status: str, error_text: str | None, details: Any, result: Any = None
) -> TaskError | None:
    """The exception for a task that ended without an image, or ``None`` if it did not.

    The server's words are redacted by the error itself (:class:`flux2.TaskError`)."""
    state = task_state(status)
    entry = _TASK_ERRORS.get(state)
    if entry is None:
        return None
    cls, what = entry
    message = f"task {task_id} {what} (status {status!r})"
    if error_text:
        message += f": {error_text}"
    return cls(message, task_id=task_id, status=status, details=details, result=result)


# --------------------------------------------------------------------------------------------
# Error statuses
# --------------------------------------------------------------------------------------------

_STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = MappingProxyType(
    {
        401: AuthenticationError,
        402: InsufficientCreditsError,
        403: AuthenticationError,
        404: NotFoundError,
        422: UnprocessableEntityError,
        429: RateLimitError,
    }
)


def error_text(body: Any) -> str:
    """The server's own words from an error body (FastAPI ``detail``, ``message``...)."""
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            return "; ".join(_describe_detail(item) for item in detail[:5])
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
        details = body.get("details")
        if isinstance(details, Mapping) and isinstance(details.get("error"), str):
            return str(details["error"])
    if isinstance(body, str):
        return body.strip()[:300]
    return ""


def _describe_detail(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
    msg = str(item.get("msg", ""))
    return f"{where}: {msg}" if where else msg


def make_status_error(
    *,
    status_code: int,
    body: Any,
    headers: Mapping[str, str],
    method: str,
    url: str,
    now: float,
) -> APIError:
    """The exception for an error response: one class per meaningful status.

    The body and the server's words are redacted by the error itself
    (:class:`flux2.APIError`): a server may quote the key or a signed URL back."""
    cls = _STATUS_ERRORS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIError
    shown_url = redact_url(url)
    text = error_text(body)
    message = f"{status_code} from {method} {shown_url}" + (f": {text}" if text else "")
    if status_code in {401, 403}:
        message += " (check the API key: BFL_API_KEY or Client(api_key=...))"
    if method == "POST" and status_code >= 500:
        message += (
            " (the submission was not retried: it may or may not have created a task; check "
            "before submitting again)"
        )
    request_id = headers.get("x-request-id") or headers.get("request-id")
    common: dict[str, Any] = {
        "status_code": status_code,
        "body": body,
        "request_id": request_id,
        "method": method,
        "url": shown_url,
    }
    if cls is UnprocessableEntityError:
        detail = body.get("detail") if isinstance(body, Mapping) else None
        items = [d for d in detail if isinstance(d, Mapping)] if isinstance(detail, list) else []
        return UnprocessableEntityError(message, detail=items, **common)
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers, now)
        if retry_after is not None:
            message += f" (retry after {retry_after:.1f} s)"
        return RateLimitError(message, retry_after=retry_after, **common)
    return cls(message, **common)
