"""Driving flows: each action a flow yields performed with blocking I/O (``run``) or awaited
(``arun``), and the downloader a :class:`flux2.GeneratedImage` fetches its bytes through.

What a driver does per action is one line of I/O; everything else about an exchange is in the
flows (:mod:`flux2._flows`), written once. The :class:`Driver` is the one boundary at which a
foreign exception leaving a flow becomes a :class:`flux2.Flux2Error`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import httpx

from . import _downloading
from ._boundary import as_flux2_error
from ._transfer import (
    Acquire,
    Action,
    Blocking,
    Cancelled,
    Close,
    Context,
    Flow,
    Open,
    Read,
    Sleep,
)
from .downloads import Sink
from .errors import InputError

T = TypeVar("T")


class Driver(Generic[T]):
    """Steps a flow: hands it the outcome of its last action and takes its next one."""

    __slots__ = ("error", "flow", "result", "value")

    def __init__(self, flow: Flow[T]) -> None:
        self.flow = flow
        self.value: Any = None
        self.error: BaseException | None = None
        self.result: Any = None

    def next(self) -> Action | None:
        """The flow's next action, or ``None`` when it has returned (see :attr:`result`)."""
        value, error = self.value, self.error
        self.value, self.error = None, None
        try:
            return self.flow.throw(error) if error is not None else self.flow.send(value)
        except StopIteration as stop:
            self.result = stop.value
            return None
        except Cancelled:
            raise
        except Exception as exc:  # the one boundary: only flux2's own errors leave a call
            error = as_flux2_error(exc)
            if error is exc:
                raise
            raise error from exc


def run(flow: Flow[T], http: httpx.Client, clock: Any, cancel: threading.Event | None = None) -> T:
    """Drive ``flow`` with blocking I/O."""
    driver = Driver(flow)
    while (action := driver.next()) is not None:
        try:
            driver.value = _perform(http, action, clock, cancel)
        except BaseException as exc:  # handed to the flow, which re-raises what it cannot use
            driver.error = exc
    result: T = driver.result
    return result


async def arun(flow: Flow[T], http: httpx.AsyncClient, clock: Any) -> T:
    """Drive ``flow`` with awaited I/O."""
    if "sniffio" not in sys.modules:
        _note_missing_sniffio()
    driver = Driver(flow)
    while (action := driver.next()) is not None:
        try:
            driver.value = await _aperform(http, action, clock)
        except BaseException as exc:  # handed to the flow, which re-raises what it cannot use
            driver.error = exc
    result: T = driver.result
    return result


def _note_missing_sniffio() -> None:
    # httpcore imports sniffio afresh on every async request and lock; without it installed,
    # each attempt searches all of sys.path again (a fifth of an async batch's CPU). A None
    # entry is how Python itself records a module as absent: the same ImportError, at once.
    import importlib.util

    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


def _perform(http: httpx.Client, action: Action, clock: Any, cancel: threading.Event | None) -> Any:
    if isinstance(action, Read):
        return next(action.opened.chunks, b"")
    if isinstance(action, Open):
        action.response = http.send(action.request, stream=True, follow_redirects=False)
        action.chunks = action.response.iter_bytes()
        return action.response
    if isinstance(action, Close):
        if action.opened.response is not None:
            action.opened.chunks.close()
            action.opened.response.close()
        return None
    if isinstance(action, Sleep):
        if cancel is None:
            clock.sleep(action.seconds)
        elif clock.wait(cancel, action.seconds):
            raise Cancelled
        return None
    if isinstance(action, Acquire):
        return action.slots.acquire()
    return action.callback(*action.args)


async def _aperform(http: httpx.AsyncClient, action: Action, clock: Any) -> Any:
    if isinstance(action, Read):
        return await anext(action.opened.chunks, b"")
    if isinstance(action, Open):
        action.response = await http.send(action.request, stream=True, follow_redirects=False)
        action.chunks = action.response.aiter_bytes()
        return action.response
    if isinstance(action, Close):
        if action.opened.response is not None:
            await action.opened.chunks.aclose()
            await action.opened.response.aclose()
        return None
    if isinstance(action, Sleep):
        return await clock.asleep(action.seconds)
    if isinstance(action, Acquire):
        return await action.slots.acquire()
    if isinstance(action, Blocking):
        return await _in_thread(action)
    import inspect

    outcome = action.callback(*action.args)
    return (await outcome) if inspect.isawaitable(outcome) else outcome


async def _in_thread(action: Blocking) -> Any:
    """``action`` in a worker thread. A cancellation waits for it to end first: the flow's
    clean-up (removing a half-written file) must not race file work still running."""
    import asyncio

    done = asyncio.get_running_loop().run_in_executor(None, action.callback, *action.args)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        while not done.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((done,))
        raise


def limits(max_concurrency: int) -> httpx.Limits:
    # Every task in flight may poll at once, plus downloads: keep that many connections warm.
    return httpx.Limits(
        max_connections=max(100, 2 * max_concurrency),
        max_keepalive_connections=max(20, max_concurrency),
    )


@contextlib.contextmanager
def _proxies_from_environment() -> Iterator[None]:
    # httpx reads HTTP(S)_PROXY / ALL_PROXY when a client is made; everything else it is
    # given here was checked already. The variable's value is not quoted: it may hold a
    # password.
    try:
        yield
    except ImportError:
        raise InputError(
            "the environment names a SOCKS proxy (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY), "
            "which needs the 'socksio' package: pip install 'httpx[socks]', or unset the "
            "variable, or pass http_client= a client of your own",
            param="http_client",
        ) from None
    except (ValueError, httpx.InvalidURL):
        raise InputError(
            "the proxy the environment names (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY) is not a "
            "usable URL; allowed: http://, https://, socks5:// or socks5h:// with a host and "
            "port; fix or unset the variable, or pass http_client= a client of your own",
            param="http_client",
        ) from None


def new_http_client(timeout: httpx.Timeout, max_concurrency: int) -> httpx.Client:
    with _proxies_from_environment():
        return httpx.Client(timeout=timeout, follow_redirects=False, limits=limits(max_concurrency))


def new_async_http_client(timeout: httpx.Timeout, max_concurrency: int) -> httpx.AsyncClient:
    with _proxies_from_environment():
        http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, limits=limits(max_concurrency)
        )
    from ._netstream import faster_idle_checks  # loads httpcore, as httpx does on first use

    faster_idle_checks(http)
    return http


class ClientDownloader:
    """Fetches result images for the :class:`flux2.GeneratedImage` objects a client returns:
    through the client's own connection pool while it is open, else through a short-lived one
    (result hosts get no key, so nothing but the client's settings is needed)."""

    __slots__ = ("_async_http", "_clock", "_ctx", "_http")

    def __init__(
        self,
        ctx: Context,
        clock: Any,
        *,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
    ) -> None:
        self._ctx = ctx
        self._clock = clock
        self._http = http
        self._async_http = async_http

    def fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        """Download ``url`` into ``sink``, blocking."""
        flow = _downloading.download(self._ctx, url, sink, expires_at=expires_at)
        if self._http is not None and not self._http.is_closed:
            run(flow, self._http, self._clock)
            return
        with new_http_client(self._ctx.timeout, 1) as http:
            run(flow, http, self._clock)

    async def afetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        """Download ``url`` into ``sink``, awaited."""
        if self._async_http is None:
            import asyncio

            await asyncio.to_thread(self.fetch, url, sink, expires_at=expires_at)
            return
        flow = _downloading.download(self._ctx, url, sink, expires_at=expires_at)
        if not self._async_http.is_closed:
            await arun(flow, self._async_http, self._clock)
            return
        async with new_async_http_client(self._ctx.timeout, 1) as http:
            await arun(flow, http, self._clock)
