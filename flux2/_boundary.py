"""The one boundary where foreign exceptions become flux2's: nothing but a
:class:`flux2.Flux2Error` leaves a public call (like httpx's ``map_httpcore_exceptions``).

The drivers (:mod:`flux2._drive`) pass every exception that ends a flow through
:func:`as_flux2_error`; it also drops the requests that httpx errors hold, whose headers carry
the key.
"""

from __future__ import annotations

import httpx

from ._logging import redact_url
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    Flux2Error,
    UnexpectedError,
)

__all__ = ["as_flux2_error", "describe"]


def as_flux2_error(exc: Exception) -> Flux2Error:
    """``exc`` if it is flux2's own, else the flux2 error that stands for it.

    Every public call ends here (see :mod:`flux2._drive`), like httpx's
    ``map_httpcore_exceptions``: nothing but a :class:`flux2.Flux2Error` leaves it.
    """
    if isinstance(exc, Flux2Error):
        error = exc
    elif isinstance(exc, httpx.InvalidURL | UnicodeError):
        # Every URL a caller gives is checked before the call starts (an InputError then), so
        # one found unusable during it came from the service: a polling URL, a redirect's
        # Location, a result URL. Bad input it is not; the task may be billed already.
        error = APIResponseValidationError(
            f"the service sent a URL that cannot be used: {describe(exc)}", status_code=0
        )
    elif isinstance(exc, httpx.TimeoutException):
        error = APITimeoutError(f"no answer in time: {describe(exc)}")
    elif isinstance(exc, httpx.RequestError):
        error = APIConnectionError(f"the request failed: {describe(exc)}")
    elif isinstance(exc, OSError):
        # Writing a result to disk failed (permissions, a full disk): not a bug.
        error = UnexpectedError(f"writing the result failed: {describe(exc)}")
        error.__cause__ = exc
    else:
        error = UnexpectedError(
            f"flux2 failed unexpectedly: {describe(exc)}. This is a bug; please report it."
        )
        error.__cause__ = exc
    _scrub(exc)
    _scrub(error)
    return error


def describe(exc: BaseException) -> str:
    # The text of a foreign exception may quote a URL; its signature must not travel on.
    words = [redact_url(w) if "://" in w else w for w in str(exc).split(" ")]
    return f"{type(exc).__name__}: {' '.join(words)}"[:500]


def _scrub(error: BaseException) -> None:
    """Drop the requests that httpx errors in ``error``'s chain hold: their headers carry the
    key, and an exception may be logged, pickled or inspected anywhere."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        exc = stack.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, httpx.RequestError):
            exc._request = None
        if isinstance(exc, httpx.HTTPStatusError):
            exc._request = None
            exc.response = None  # type: ignore[assignment]
        stack += [exc.__cause__, exc.__context__]
