"""Exit codes, and the one place where an exception becomes an exit code and a message.

0 success; 1 the API or a task failed; 2 bad usage or bad input (nothing was sent, or the
service refused the input as such); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from flux2 import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ContentModeratedError,
    Flux2Error,
    InputError,
    InsufficientCreditsError,
    RateLimitError,
    RequestModeratedError,
    ResultExpiredError,
    SubmissionUncertainError,
    TaskError,
    TaskTimeoutError,
    UnprocessableEntityError,
    UntrustedHostError,
)

OK: Final = 0
FAILURE: Final = 1
USAGE: Final = 2
INTERRUPTED: Final = 130


class UsageError(Exception):
    """Bad usage found by the command itself (before anything was sent)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class CommandFailed(Exception):
    """A command that already reported its failures and ends with ``code``."""

    def __init__(
        self,
        message: str,
        code: int = FAILURE,
        hint: str | None = None,
        *,
        json_printed: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint
        self.json_printed = json_printed


class Interrupted(Exception):
    """Ctrl-C, with what to do next (``hint``)."""

    def __init__(
        self, message: str = "interrupted", hint: str | None = None, *, json_printed: bool = False
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.json_printed = json_printed


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a failed command prints (``message``, then ``hint`` when there is one) and
    returns."""

    code: int
    message: str
    hint: str | None = None
    kind: str = ""
    json_printed: bool = False
    """The command already printed its JSON result: print no JSON error object."""


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x00``, ``\\x1b``): ids, URLs and
    messages come from the service, and an escape sequence in them must not drive the
    terminal."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch == "\n" or ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# Hints by error class; the first class in this order that matches wins.
_HINTS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (
        AuthenticationError,
        "check the API key (--api-key or BFL_API_KEY); --mock runs against a local emulator "
        "without one",
    ),
    (InsufficientCreditsError, "add credits to the account; 'flux2 credits' shows the balance"),
    (
        RateLimitError,
        "too many requests or tasks in flight; wait a little, or lower --concurrency",
    ),
    (
        SubmissionUncertainError,
        "the task may have been created and billed; check 'flux2 credits' before submitting again",
    ),
    (
        RequestModeratedError,
        "the prompt or an input image was refused; sending it again will not help",
    ),
    (ContentModeratedError, "the generated image was refused; another --seed may pass"),
    (ResultExpiredError, "result URLs expire 10 minutes after the task ends"),
    (APIConnectionError, "check the network connection and --base-url / BFL_BASE_URL"),
)


def classify(exc: BaseException) -> Outcome:
    """Map any exception to an exit code and a readable message. The only such mapping."""
    kind = type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return Outcome(INTERRUPTED, "interrupted", kind="Interrupted")
    if isinstance(exc, Interrupted):
        return Outcome(INTERRUPTED, _text(exc), exc.hint, "Interrupted", exc.json_printed)
    if isinstance(exc, UsageError):
        return Outcome(USAGE, _text(exc), exc.hint, kind="UsageError")
    if isinstance(exc, CommandFailed):
        return Outcome(exc.code, _text(exc), exc.hint, "CommandFailed", exc.json_printed)
    if isinstance(exc, InputError | UntrustedHostError):
        # Refused before anything was sent: the arguments (or the configured URL) are wrong.
        return Outcome(USAGE, _text(exc), kind=kind)
    if isinstance(exc, UnprocessableEntityError):
        # The service refused the request body: bad input, though it passed the pinned spec.
        return Outcome(USAGE, _text(exc), kind=kind)
    if isinstance(exc, Flux2Error):
        hint = next((h for cls, h in _HINTS if isinstance(exc, cls)), None)
        if isinstance(exc, TaskTimeoutError):
            hint = f"the task may still finish: flux2 result {exc.task_id}"
        message = _text(exc)
        if isinstance(exc, TaskError) and exc.task_id not in message:
            message = f"task {exc.task_id}: {message}"
        if isinstance(exc, APIError) and exc.request_id:
            message += f" (request id {exc.request_id})"
        return Outcome(FAILURE, message, hint, kind=kind)
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return Outcome(USAGE, _text(exc), kind=kind)
    if isinstance(exc, PermissionError):
        return Outcome(USAGE, _text(exc), kind=kind)
    if isinstance(exc, OSError):
        return Outcome(FAILURE, _text(exc), kind=kind)
    return Outcome(
        FAILURE,
        f"unexpected error: {kind}: {_text(exc)}",
        "run again with --debug for the traceback",
        kind=kind,
    )
