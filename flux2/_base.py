"""What ``Client`` and ``AsyncClient`` share: options, their defaults and environment
variables, construction and ``with_options`` copies, and the context the flows run in."""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

import httpx

from . import _arguments, _flows, decisions
from ._logging import redact_httpx_logs, redact_url, remember_secret
from ._transfer import Cancelled, Checker, Context, Flow, Limits
from ._version import __version__
from .errors import InputError
from .types import BatchResult, Downloader, GeneratedImage, Task, TaskResult

F = TypeVar("F")  # a started batch item: a thread pool's future or an asyncio one

if TYPE_CHECKING:
    from ._lowlevel import LowLevelClient
    from .inputs import ImageInput
    from .pricing import Estimate

# The documented account limit: at most 24 FLUX.2 tasks in flight; more gives 429 [doc].
DEFAULT_MAX_CONCURRENCY: Final = 24
DEFAULT_MAX_RETRIES: Final = 2
# Per request. Generous on reads: a submission with eight large input images is a big upload.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)
# A whole wait. The slowest model takes about 40 s [seen]; ten minutes leaves room for queues
# and is also how long results are kept [doc].
DEFAULT_WAIT_TIMEOUT: Final = 600.0
# The largest result is a 4 MP PNG [doc: at most 4 MP]: 2048 * 2048 RGB pixels are 12.6 MB
# raw, and PNG stores noise-like content at about its raw size (plus a filter byte a row and
# chunk headers). 32 MiB holds even an RGBA PNG of that size (16.8 MB) twice over, and stops an
# endless or gzip-bombed body (counted after decoding) long before memory or disk suffer.
DEFAULT_MAX_DOWNLOAD_BYTES: Final = 32 * 1024 * 1024
# API answers are small: a submit answer or a poll is well under 2 KB [seen]; ``preview`` may
# carry a small image. 4 MiB is room for that and stops a hostile answer before it costs.
DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
# A whole download, however slowly it trickles: 12.6 MB take 100 s at 1 Mbit/s; the signed URL
# itself lives 10 minutes [doc]. Five minutes ends a stalled body without cutting a slow link.
DEFAULT_DOWNLOAD_TIMEOUT: Final = 300.0

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
    return httpx.Timeout(_arguments.seconds(value, "timeout"))


def _api_key(value: str | None) -> str:
    if value is not None:
        value = _arguments.text(value, "api_key", what="the key from your BFL dashboard")
    key = (value if value is not None else os.environ.get("BFL_API_KEY", "")).strip()
    if not key:
        raise InputError(
            "no API key: pass Client(api_key=...) or set the BFL_API_KEY environment variable",
            param="api_key",
        )
    if not key.isascii() or not key.isprintable():
        # Said without echoing the key: it must not reach logs or tracebacks.
        raise InputError("the API key contains characters a header cannot carry", param="api_key")
    remember_secret(key)  # whatever library logs it from now on, it shows as ***
    return key


def _trusted(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        value = os.environ.get("BFL_TRUSTED_HOSTS", "")
    return _arguments.host_names(value)


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
        url = _arguments.base_url(base_url, default=decisions.DEFAULT_BASE_URL)
        retries = _arguments.count(
            DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
            "max_retries",
            least=0,
            most=_arguments.MAX_RETRIES,
        )
        concurrency = _arguments.count(
            DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency,
            "max_concurrency",
            least=1,
            most=_arguments.MAX_CONCURRENCY,
        )
        waiting = _arguments.seconds(
            DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout, "wait_timeout"
        )
        if poll_schedule is not None and not isinstance(poll_schedule, decisions.PollSchedule):
            raise InputError(
                f"poll_schedule must be a flux2.PollSchedule, got {type(poll_schedule).__name__}",
                param="poll_schedule",
            )
        return cls(
            api_key=_api_key(api_key),
            base_url=url,
            trusted_hosts=_trusted(trusted_hosts),
            max_retries=retries,
            timeout=_timeout(timeout),
            wait_timeout=waiting,
            poll_schedule=poll_schedule or decisions.PollSchedule(),
            strict=_strict_mode(strict),
            max_concurrency=concurrency,
        )


def _limits(
    max_response_bytes: int | None, max_download_bytes: int | None, download_timeout: float | None
) -> Limits:
    sizes = {
        "max_response_bytes": (max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES),
        "max_download_bytes": (max_download_bytes, DEFAULT_MAX_DOWNLOAD_BYTES),
    }
    chosen: dict[str, Any] = {}
    for name, (value, default) in sizes.items():
        size = default if value is None else value
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError(f"{name} must be a number of bytes >= 1, got {size!r}", param=name)
        chosen[name] = size
    seconds = DEFAULT_DOWNLOAD_TIMEOUT if download_timeout is None else download_timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise InputError(
            f"download_timeout must be a positive number of seconds, got {seconds!r}",
            param="download_timeout",
        )
    return Limits(download_timeout=float(seconds), **chosen)


_LIMIT_NAMES: Final = ("max_response_bytes", "max_download_bytes", "download_timeout")


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
    """Options, construction and context shared by :class:`flux2.Client` and
    :class:`flux2.AsyncClient`; each adds only its connection pool, its slot type and the way
    it drives flows."""

    _options: Options
    _limits: Limits
    _ctx: Context
    _clock: SystemClock
    _downloader: Downloader
    _http: Any
    _owns_http: bool
    _slots: Any
    _http_type: type

    # -- hooks of the two clients -----------------------------------------------------------

    def _new_http(self) -> Any:
        raise NotImplementedError

    @staticmethod
    def _new_slots(count: int) -> Any:
        raise NotImplementedError

    def _new_downloader(self) -> Downloader:
        raise NotImplementedError

    # -- construction -----------------------------------------------------------------------

    def _setup(self, call: Mapping[str, Any]) -> None:
        """Build the client from its ``__init__``'s arguments (``locals()``)."""
        given = {k: v for k, v in call.items() if k not in {"self", "http_client", "__class__"}}
        limits = _limits(*(given.pop(name) for name in _LIMIT_NAMES))
        options = Options.resolve(**given)
        self._configure(options, limits, SystemClock(), random.Random())
        http = call["http_client"]
        if http is not None and not isinstance(http, self._http_type):
            raise InputError(
                f"http_client must be an {self._http_type.__module__}.{self._http_type.__name__}"
                f" or None, got {type(http).__name__}",
                param="http_client",
            )
        self._owns_http = http is None
        self._http = http if http is not None else self._new_http()
        self._slots = self._new_slots(options.max_concurrency)
        self._downloader = self._new_downloader()

    def _copy(self, call: Mapping[str, Any]) -> Self:
        """The copy ``with_options`` returns, from its arguments (``locals()``)."""
        changes = {k: v for k, v in call.items() if k not in {"self", "__class__", "unknown"}}
        if call.get("unknown"):
            # Python's own TypeError would be the one non-flux2 error a call could raise.
            unknown = sorted(call["unknown"])
            raise InputError(
                f"with_options() has no option {', '.join(map(repr, unknown))}; the options "
                f"are {', '.join(sorted(changes))}",
                param=unknown[0],
            )
        limits = dataclasses.replace(
            self._limits,
            **{n: v for n, v in changes.items() if n in _LIMIT_NAMES and v is not _UNSET},
        )
        limits = _limits(*(getattr(limits, name) for name in _LIMIT_NAMES))
        options = self._changed_options({k: v for k, v in changes.items() if k not in _LIMIT_NAMES})
        copy = object.__new__(type(self))
        copy._configure(options, limits, self._clock, self._ctx.rng)
        copy._owns_http = False
        copy._http = self._http
        copy._slots = (
            self._slots
            if options.max_concurrency == self.max_concurrency
            else self._new_slots(options.max_concurrency)
        )
        copy._downloader = copy._new_downloader()
        return copy

    def _configure(
        self, options: Options, limits: Limits, clock: SystemClock, rng: random.Random
    ) -> None:
        hosts = decisions.HostPolicy.for_base_url(options.base_url, options.trusted_hosts)
        redact_httpx_logs()
        self._options = options
        self._limits = limits
        self._clock = clock
        self._ctx = Context(
            api_key=options.api_key,
            base_url=options.base_url,
            hosts=hosts,
            retry=decisions.RetryPolicy(max_retries=options.max_retries),
            schedule=options.poll_schedule.estimator(),
            clock=clock,
            rng=rng,
            checker=_checker(options.strict),
            user_agent=f"flux2-python/{__version__}",
            wait_timeout=options.wait_timeout,
            timeout=options.timeout,
            limits=limits,
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
    def max_response_bytes(self) -> int:
        """The largest API answer read (bytes, decoded)."""
        return self._limits.max_response_bytes

    @property
    def max_download_bytes(self) -> int:
        """The largest result image downloaded (bytes, decoded)."""
        return self._limits.max_download_bytes

    @property
    def download_timeout(self) -> float:
        """Deadline of one whole result download, in seconds."""
        return self._limits.download_timeout

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

    def estimate(
        self,
        prompt: str,
        *,
        model: str = "flex",
        images: Sequence[ImageInput] | None = None,
        **params: Any,
    ) -> Estimate:
        """Validate a request as :meth:`generate` would (it takes the same keywords) and return
        what would be sent and what it would cost, a :class:`flux2.pricing.Estimate`. Nothing
        is sent."""
        from .pricing import estimate

        return estimate(prompt, model=model, images=images, base_url=self.base_url, **params)

    @property
    def lowlevel(self) -> LowLevelClient:
        """The generated client for every endpoint of the spec, with this client's base URL,
        key, timeouts and trusted hosts (a new one each time; ``with client.lowlevel as api:``
        closes it). See :mod:`flux2._lowlevel`."""
        from ._lowlevel import lowlevel_client

        return lowlevel_client(self._ctx)

    @property
    def is_closed(self) -> bool:
        """Whether the connection pool is closed."""
        return bool(self._http.is_closed)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={redact_url(self.base_url)!r}, "
            f"max_retries={self.max_retries}, max_concurrency={self.max_concurrency})"
        )

    # -- what both clients' public methods run ---------------------------------------------

    @staticmethod
    def _check_call(call: Mapping[str, Any]) -> None:
        """The options of a public call (its ``locals()``), checked before anything is sent:
        found out later, a wrong one would fail a task that is already billed."""
        _arguments.call_options(
            timeout=call.get("timeout"),
            concurrency=call.get("concurrency"),
            callbacks={n: call[n] for n in ("on_progress", "on_submitted") if n in call},
        )

    def _generate_flow(self, call: Mapping[str, Any]) -> Flow[GeneratedImage]:
        self._check_call(call)
        return _flows.generate(self._ctx, call, slots=self._slots, downloader=self._downloader)

    def _wait_flow(
        self,
        task: Task | str,
        timeout: float | None,
        on_progress: Callable[[TaskResult], object] | None,
    ) -> Flow[GeneratedImage]:
        self._check_call({"timeout": timeout, "on_progress": on_progress})
        return _flows.wait(
            self._ctx,
            _flows.user_task(self._ctx, task),
            timeout=timeout,
            on_progress=on_progress,
            downloader=self._downloader,
        )

    @staticmethod
    def _top_up(
        flows: Iterator[Flow[BatchResult]],
        running: set[F],
        width: int,
        start: Callable[[Flow[BatchResult]], F],
    ) -> None:
        """Start items of a ``generate_many`` until ``width`` run. Called only while the caller
        is asking for a result: a generator left suspended (the caller stopped reading without
        closing it) starts no new, billed task."""
        for flow in itertools.islice(flows, width - len(running)):
            running.add(start(flow))

    def _batch_flows(self, call: Mapping[str, Any]) -> list[Flow[BatchResult]]:
        """One flow per item of a ``generate_many`` call (from its ``locals()``)."""
        self._check_call(call)
        items = call["items"]
        if isinstance(items, (str, bytes, Mapping, Task)) or not isinstance(items, Iterable):
            raise InputError(
                "generate_many() takes a list (or other iterable) of items: prompts, dicts of "
                f"generate() keywords or Tasks; got {type(items).__name__}",
                param="items",
            )
        return [
            _flows.batch_item(
                self._ctx,
                index,
                item,
                defaults=call["defaults"],
                timeout=call["timeout"],
                on_submitted=call["on_submitted"],
                slots=self._slots,
                downloader=self._downloader,
            )
            for index, item in enumerate(call["items"])
        ]

    def _image_of(self, source: GeneratedImage | TaskResult | str) -> GeneratedImage:
        """What ``download()`` was given, as an image to save: a GeneratedImage, a ready
        TaskResult or a result URL."""
        if isinstance(source, GeneratedImage):
            return source
        if isinstance(source, TaskResult):
            source.raise_for_status()
            if not source.url:
                raise InputError(
                    f"task {source.id} has no result URL yet (status {source.status!r})",
                    param="source",
                )
            return GeneratedImage(Task(id=source.id), source, downloader=self._downloader)
        if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
            problem = _arguments.url_problem(source)
            if problem is not None:
                raise InputError(
                    f"not a usable result URL: {redact_url(source)!r} ({problem})", param="source"
                )
            stem = Path(httpx.URL(source).path).stem or "image"
            result = TaskResult(id=stem, status="Ready", url=source)
            return GeneratedImage(Task(id=stem), result, downloader=self._downloader)
        raise InputError(
            "download() takes a GeneratedImage, a ready TaskResult or a result URL", param="source"
        )

    def _set_clock(self, clock: Any, rng: random.Random | None = None) -> Self:
        """Substitute the clock (and random source) the client sleeps and jitters with."""
        self._configure(self._options, self._limits, clock, rng or self._ctx.rng)
        self._downloader = self._new_downloader()
        return self


__all__ = ["BaseClient", "Cancelled", "Options", "SystemClock"]
