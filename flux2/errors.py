"""Every error flux2 raises, in one tree.

```
Flux2Error
 ├── InputError (also a ValueError) ........ bad arguments; raised before any request is sent
 │    └── UnknownModelError ................ a model name the pinned spec does not offer
 ├── UntrustedHostError .................... a URL the API key must not go to; nothing was sent
 ├── APIError .............................. the server answered with an error status
 │    ├── AuthenticationError .............. 401, 403: missing or wrong key
 │    ├── InsufficientCreditsError ......... 402
 │    ├── NotFoundError .................... 404
 │    ├── UnprocessableEntityError ......... 422, with the server's `detail` list
 │    │                                      (also named ValidationError)
 │    ├── RateLimitError ................... 429, with `retry_after`
 │    ├── InternalServerError .............. 5xx
 │    ├── APIResponseValidationError ....... a success status with a body flux2 cannot read
 │    └── DownloadError .................... the result host refused or cut a download
 │         └── ResultExpiredError .......... the signed result URL has expired
 ├── APIConnectionError .................... no answer: the connection failed or broke
 │    └── APITimeoutError .................. no answer in time
 │         └── TransferTimeoutError ........ an answer or download still arriving at its deadline
 ├── ResponseTooLargeError ................. an answer or download larger than the client's limit
 ├── SubmissionUncertainError .............. a submission may have created (and billed) a task
 ├── CallbackError ......................... on_progress / on_submitted raised; carries the task
 ├── ConformanceError ...................... strict="error": an answer deviates from the spec
 │                                           (in flux2.conformance, loaded only in strict mode)
 ├── TaskError ............................. the task itself ended badly; carries task_id
 │    ├── TaskFailedError .................. status Error / Failed
 │    ├── RequestModeratedError ............ the input was refused (retrying will not help)
 │    ├── ContentModeratedError ............ the output was refused (a new seed may pass)
 │    ├── TaskNotFoundError ................ the service does not know the task
 │    └── TaskTimeoutError (a TimeoutError)  the wait's deadline passed; the task may still finish
 ├── WebhookVerificationError .............. a webhook delivery is unauthenticated or unreadable
 └── UnexpectedError ....................... anything else that went wrong (a bug in flux2)
```

Nothing else leaves a public call (KeyboardInterrupt and cancellation aside): foreign exceptions
are translated where flows are driven (``flux2._drive``). No exception message, ``repr`` or
object reachable from an exception (its cause, context, arguments and attributes) holds the API
key; URLs in messages have their signatures redacted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ._logging import redact_data, redact_text

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AuthenticationError",
    "CallbackError",
    "ContentModeratedError",
    "DownloadError",
    "Flux2Error",
    "InputError",
    "InsufficientCreditsError",
    "InternalServerError",
    "NotFoundError",
    "RateLimitError",
    "RequestModeratedError",
    "ResponseTooLargeError",
    "ResultExpiredError",
    "SubmissionUncertainError",
    "TaskError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "TransferTimeoutError",
    "UnexpectedError",
    "UnknownModelError",
    "UnprocessableEntityError",
    "UntrustedHostError",
    "ValidationError",
    "WebhookVerificationError",
]


class Flux2Error(Exception):
    """Base class of every error flux2 raises."""


class InputError(Flux2Error, ValueError):
    """An argument is invalid; nothing was sent.

    ``param`` names the offending parameter when there is one.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnknownModelError(InputError):
    """A model name the pinned spec does not offer; ``valid`` lists the ones it does."""

    def __init__(self, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown model {name!r}; valid models: {', '.join(valid)}", param="model")
        self.name = name
        self.valid = valid


class UntrustedHostError(Flux2Error):
    """A URL that flux2 will not send the API key to (or, for http, connect to at all).

    Raised before any connection is made. Trust a host explicitly with
    ``Client(trusted_hosts=[...])`` or ``BFL_TRUSTED_HOSTS``.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class APIError(Flux2Error):
    """The server answered with a status flux2 treats as an error.

    Attributes: ``status_code``, ``body`` (parsed JSON when the body was JSON, else text),
    ``request_id`` (when the server sent one), ``method`` and ``url`` (signature-redacted).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        # The server's words may quote the key, a webhook secret or a signed URL back.
        super().__init__(redact_text(message))
        self.status_code = status_code
        self.body = redact_data(body)
        self.request_id = request_id
        self.method = method
        self.url = url


class AuthenticationError(APIError):
    """401 or 403: the API key is missing, wrong, or not allowed to do this."""


class InsufficientCreditsError(APIError):
    """402: the account has too few credits for this request."""


class NotFoundError(APIError):
    """404 from the API."""


class UnprocessableEntityError(APIError):
    """422: the server rejected the request body; ``detail`` is its list of problems."""

    def __init__(self, message: str, *, detail: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.detail = redact_data(list(detail))


ValidationError = UnprocessableEntityError


class RateLimitError(APIError):
    """429: too many requests or too many tasks in flight.

    ``retry_after`` is the wait the server asked for, in seconds, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIError):
    """A 5xx status from the API."""


class APIResponseValidationError(APIError):
    """A success status whose body flux2 cannot read (for example a missing ``id``)."""


class DownloadError(APIError):
    """The result host refused the download, or the download arrived incomplete."""


class ResultExpiredError(DownloadError):
    """The signed result URL has expired.

    The service keeps results for 10 minutes after a task ends [doc]; fetch the task again with
    ``client.get_result`` only helps while it is still inside that window.
    """


class APIConnectionError(Flux2Error):
    """The request got no answer: connecting failed or the connection broke."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request got no answer in time."""


class TransferTimeoutError(APITimeoutError):
    """An answer or a download was still arriving when its deadline passed (a body trickling
    in; see ``download_timeout`` and ``wait(timeout=...)``)."""


class ResponseTooLargeError(Flux2Error):
    """An answer or a download is larger than the client allows (``max_response_bytes``,
    ``max_download_bytes``); it was not kept, and no file was written.

    ``url`` (signature-redacted) and ``limit`` (bytes, counted after decoding).
    """

    def __init__(self, message: str, *, url: str, limit: int) -> None:
        super().__init__(message)
        self.url = url
        self.limit = limit


class CallbackError(Flux2Error):
    """A callback you passed (``on_progress``, ``on_submitted``) raised.

    The task it was called for had been submitted (and billed), so it was waited for all the
    same: ``task`` is that task (``client.wait(error.task)`` returns its image at once), and
    ``__cause__`` the callback's exception. In ``generate_many`` the item's result carries the
    image beside this error.
    """

    def __init__(self, message: str, *, task: Any) -> None:
        super().__init__(message)
        self.task = task


class UnexpectedError(Flux2Error):
    """Something flux2 did not expect went wrong; the message names the original error (its
    ``__cause__``, with any request it held dropped). Please report it."""


class SubmissionUncertainError(Flux2Error):
    """A submission may have reached the server, but its answer was lost.

    The task may have been created and billed. flux2 never sends such a submission again on its
    own; check your dashboard or credits before submitting again.
    """

    def __init__(self, message: str, *, model: str, url: str = "") -> None:
        super().__init__(message)
        self.model = model
        self.url = url


class TaskError(Flux2Error):
    """A task ended without an image, or could not be waited for.

    ``task_id``, ``status`` (the service's status string), ``details`` (the service's details
    object or ``None``) and ``result`` (the last :class:`flux2.TaskResult` seen, if any).
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        status: str | None = None,
        details: Any = None,
        result: Any = None,
    ) -> None:
        super().__init__(redact_text(message))
        self.task_id = task_id
        self.status = redact_text(status) if isinstance(status, str) else status
        self.details = redact_data(details)
        self.result = _redacted_result(result)


class TaskFailedError(TaskError):
    """The task ended with status ``Error`` or ``Failed``."""


class RequestModeratedError(TaskError):
    """The input (prompt or image) was refused by moderation; retrying will not help [doc]."""


class ContentModeratedError(TaskError):
    """The generated output was refused by moderation; another seed may pass [doc]."""


class TaskNotFoundError(TaskError):
    """The service does not know this task id (``Task not found`` never changes)."""


class TaskTimeoutError(TaskError, TimeoutError):
    """The wait reached its deadline; the task may still finish (wait again to pick it up)."""


class WebhookVerificationError(Flux2Error):
    """A webhook delivery did not carry a valid secret or signature, or is not a task."""


def _redacted_result(result: Any) -> Any:
    """A copy of a task result whose server-written fields are redacted."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        return result
    names = {f.name for f in dataclasses.fields(result) if f.init}
    served = [name for name in ("error", "details", "raw") if name in names]
    changes = {name: redact_data(getattr(result, name)) for name in served}
    return dataclasses.replace(result, **changes)
