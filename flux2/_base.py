"""What ``Client`` and ``AsyncClient`` share: options, their defaults and environment
variables, ``with_options`` copies, and the context the flows run in."""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, Self

import httpx

from . import decisions
from ._flows import Checker, Context
from ._logging import redact_httpx_logs, redact_url
from ._version import __version__
from .errors import InputError
from .types import TaskResult

# The documented account limit: at most 24 FLUX.2 tasks in flight; more gives 429 [doc].
DEFAULT_MAX_CONCURRENCY: Final = 24
DEFAULT_MAX_RETRIES: Final = 2
# Per request. Generous on reads: a submission with eight large input images is a big upload.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)
# A whole wait. The slowest model takes about 40 s [seen]; ten minutes leaves room for queues
# and is also how long results are kept [doc].
DEFAULT_WAIT_TIMEOUT: Final = 600.0

StrictMode = Literal["warn", "error"]


class SystemClock:
    """Real time. Tests substitute a clock whose ``sleep`` only advances a counter."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep until ``event`` is set or ``seconds`` pass; whether it was set."""
        return event.wait(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds))


def _env_strict(value: str | None) -> StrictMode | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in {"", "0", "false", "no", "off"}:
        return None
    # Strict mode reports by default; it raises only when asked to (FLUX2_STRICT=error).
    return "error" if lowered == "error" else "warn"


def _strict_mode(strict: bool | str | None) -> StrictMode | None:
    if strict is None:
        return _env_strict(os.environ.get("FLUX2_STRICT"))
    if strict is False:
        return None
    if strict is True or strict == "warn":
        return "warn"
    if strict == "error":
        return "error"
    raise InputError(
        f"strict must be True, False, 'warn' or 'error', got {strict!r}", param="strict"
    )


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(
            f"timeout must be a positive number of seconds, got {value!r}", param="timeout"
        )
    return httpx.Timeout(float(value))


def _api_key(value: str | None) -> str:
    key = (value if value is not None else os.environ.get("BFL_API_KEY", "")).strip()
    if not key:
        raise InputError(
            "no API key: pass Client(api_key=...) or set the BFL_API_KEY environment variable",
            param="api_key",
        )
    if not key.isascii() or not key.isprintable():
        # Said without echoing the key: it must not reach logs or tracebacks.
        raise InputError("the API key contains characters a header cannot carry", param="api_key")
    return key


def _trusted(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        value = os.environ.get("BFL_TRUSTED_HOSTS", "")
    if isinstance(value, str):
        value = value.split(",")
    return tuple(entry.strip() for entry in value if entry and entry.strip())


@dataclasses.dataclass(frozen=True)
class Options:
    """A client's settings, resolved (arguments, then environment, then defaults)."""

    api_key: str = dataclasses.field(repr=False)
    base_url: str
    trusted_hosts: tuple[str, ...]
    max_retries: int
    timeout: httpx.Timeout
    wait_timeout: float
    poll_schedule: decisions.PollSchedule
    strict: StrictMode | None
    max_concurrency: int

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None,
        base_url: str | None,
        trusted_hosts: Iterable[str] | str | None,
        max_retries: int | None,
        timeout: float | httpx.Timeout | None,
        wait_timeout: float | None,
        poll_schedule: decisions.PollSchedule | None,
        strict: bool | str | None,
        max_concurrency: int | None,
    ) -> Options:
        url = (base_url or os.environ.get("BFL_BASE_URL") or decisions.DEFAULT_BASE_URL).strip()
        url = url.rstrip("/")
        retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError(
                f"max_retries must be an integer >= 0, got {retries!r}", param="max_retries"
            )
        concurrency = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InputError(
                f"max_concurrency must be an integer >= 1, got {concurrency!r}",
                param="max_concurrency",
            )
        waiting = DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout
        if isinstance(waiting, bool) or not isinstance(waiting, (int, float)) or waiting <= 0:
            raise InputError(
                f"wait_timeout must be a positive number of seconds, got {waiting!r}",
                param="wait_timeout",
            )
        return cls(
            api_key=_api_key(api_key),
            base_url=url,
            trusted_hosts=_trusted(trusted_hosts),
            max_retries=retries,
            timeout=_timeout(timeout),
            wait_timeout=float(waiting),
            poll_schedule=poll_schedule or decisions.PollSchedule(),
            strict=_strict_mode(strict),
            max_concurrency=concurrency,
        )


class _NotGiven:
    """Marks a ``with_options`` argument that was not given (``None`` can be a value)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


_UNSET: Any = _NotGiven()


def _checker(mode: StrictMode | None) -> Checker | None:
    if mode is None:
        return None
    # Imported only in strict mode: the checker reads the spec, which plain use never loads.
    from .conformance import ResponseChecker

    checker: Checker = ResponseChecker(on_deviation=mode)
    return checker


class BaseClient:
    """Options and context shared by :class:`flux2.Client` and :class:`flux2.AsyncClient`."""

    _options: Options
    _ctx: Context
    _clock: SystemClock

    def _configure(self, options: Options, clock: SystemClock, rng: random.Random) -> None:
        hosts = decisions.HostPolicy.for_base_url(options.base_url, options.trusted_hosts)
        redact_httpx_logs()
        self._options = options
        self._clock = clock
        self._ctx = Context(
            api_key=options.api_key,
            base_url=options.base_url,
            hosts=hosts,
            retry=decisions.RetryPolicy(max_retries=options.max_retries),
            schedule=options.poll_schedule,
            clock=clock,
            rng=rng,
            checker=_checker(options.strict),
            user_agent=f"flux2-python/{__version__}",
            wait_timeout=options.wait_timeout,
            timeout=options.timeout,
        )

    def _changed_options(self, changes: Mapping[str, Any]) -> Options:
        current = self._options
        values = {name: value for name, value in changes.items() if value is not _UNSET}
        merged = {
            "api_key": current.api_key,
            "base_url": current.base_url,
            "trusted_hosts": current.trusted_hosts,
            "max_retries": current.max_retries,
            "timeout": current.timeout,
            "wait_timeout": current.wait_timeout,
            "poll_schedule": current.poll_schedule,
            "strict": current.strict or False,
            "max_concurrency": current.max_concurrency,
            **values,
        }
        return Options.resolve(**merged)

    @property
    def base_url(self) -> str:
        """The API's base URL (submissions, ``get_result`` by id, credits)."""
        return self._options.base_url

    @property
    def max_retries(self) -> int:
        """How many times a failed request is retried (money-safe: see :class:`Client`)."""
        return self._options.max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        """Per-request timeout."""
        return self._options.timeout

    @property
    def wait_timeout(self) -> float:
        """Default deadline of :meth:`wait` and :meth:`generate`, in seconds."""
        return self._options.wait_timeout

    @property
    def max_concurrency(self) -> int:
        """At most this many tasks are in flight through :meth:`generate` at once."""
        return self._options.max_concurrency

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """Extra hosts (besides the base URL's and ``*.bfl.ai``) that receive the API key."""
        return self._options.trusted_hosts

    @property
    def poll_schedule(self) -> decisions.PollSchedule:
        """When tasks are polled (a :class:`flux2.PollSchedule`)."""
        return self._options.poll_schedule

    @property
    def strict(self) -> StrictMode | None:
        """``"warn"`` or ``"error"`` when every response is checked against the pinned spec."""
        return self._options.strict

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={redact_url(self.base_url)!r}, "
            f"max_retries={self.max_retries}, max_concurrency={self.max_concurrency})"
        )

    def _set_clock(self, clock: Any, rng: random.Random | None = None) -> Self:
        """Substitute the clock (and random source) the client sleeps and jitters with."""
        self._configure(self._options, clock, rng or self._ctx.rng)
        return self


class Cancelled(Exception):
    """A batch was closed while this item still waited."""


def reject_webhook(request: decisions.SubmitRequest) -> None:
    if request.has_webhook:
        raise InputError(
            "generate() waits for the image itself; to be called back at webhook_url, use "
            "submit() instead",
            param="webhook_url",
        )


def batch_kwargs(item: str | Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    from .batch.items import normalise_item

    return normalise_item(item, defaults, kinds="a prompt, a dict of generate() keywords or a Task")


def download_target(source: TaskResult | str) -> tuple[str, str, float | None]:
    from .downloads import url_expiry

    if isinstance(source, TaskResult):
        source.raise_for_status()
        if not source.url:
            raise InputError(
                f"task {source.id} has no result URL yet (status {source.status!r})",
                param="source",
            )
        return source.url, source.id, url_expiry(source.url, source.end_time)
    if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        stem = Path(httpx.URL(source).path).stem or "image"
        return source, stem, url_expiry(source, None)
    raise InputError(
        "download() takes a GeneratedImage, a ready TaskResult or a result URL", param="source"
    )
