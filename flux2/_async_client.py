"""The asyncio client: the same flows as :class:`flux2.Client`, driven with ``await``."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _flows, decisions
from ._base import (
    _UNSET,
    BaseClient,
    Options,
    SystemClock,
    batch_kwargs,
    download_target,
    reject_webhook,
)
from ._client import limits, new_http_client, run_flow
from ._flows import Flow, Notify, Send, Sleep, Stream, StreamOutcome
from .downloads import FileSink, Sink
from .inputs import ImageInput
from .types import BatchFailure, BatchResult, BatchSuccess, GeneratedImage, Task, TaskResult

T = TypeVar("T")

__all__ = ["AsyncClient"]


class AsyncClient(BaseClient):
    """An asyncio client for the FLUX.2 API: :class:`flux2.Client`'s surface, awaitable.

    >>> async with flux2.AsyncClient() as client:
    ...     images = await asyncio.gather(*(client.generate(p) for p in prompts))

    Takes the same settings as :class:`flux2.Client`. ``max_concurrency`` (default 24, the
    documented per-account limit of tasks in flight) bounds how many :meth:`generate` calls
    have a task in flight at once; the others queue, so gathering hundreds of generations is
    safe. ``http_client`` is an ``httpx.AsyncClient`` you keep ownership of.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        trusted_hosts: Iterable[str] | str | None = None,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout | None = None,
        wait_timeout: float | None = None,
        poll_schedule: decisions.PollSchedule | None = None,
        strict: bool | str | None = None,
        max_concurrency: int | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        options = Options.resolve(
            api_key=api_key,
            base_url=base_url,
            trusted_hosts=trusted_hosts,
            max_retries=max_retries,
            timeout=timeout,
            wait_timeout=wait_timeout,
            poll_schedule=poll_schedule,
            strict=strict,
            max_concurrency=max_concurrency,
        )
        self._configure(options, SystemClock(), random.Random())
        self._owns_http = http_client is None
        self._http = http_client or _new_async_http_client(options)
        self._slots = asyncio.Semaphore(options.max_concurrency)

    def with_options(
        self,
        *,
        api_key: str = _UNSET,
        base_url: str = _UNSET,
        trusted_hosts: Iterable[str] | str = _UNSET,
        max_retries: int = _UNSET,
        timeout: float | httpx.Timeout = _UNSET,
        wait_timeout: float = _UNSET,
        poll_schedule: decisions.PollSchedule = _UNSET,
        strict: bool | str = _UNSET,
        max_concurrency: int = _UNSET,
    ) -> AsyncClient:
        """A copy of this client with some settings changed; this client is left as it was.

        The copy shares this client's connection pool (closing the copy does not close it)
        and, unless ``max_concurrency`` changes, its limit on tasks in flight.
        """
        options = self._changed_options(
            {
                "api_key": api_key,
                "base_url": base_url,
                "trusted_hosts": trusted_hosts,
                "max_retries": max_retries,
                "timeout": timeout,
                "wait_timeout": wait_timeout,
                "poll_schedule": poll_schedule,
                "strict": strict,
                "max_concurrency": max_concurrency,
            }
        )
        copy = object.__new__(AsyncClient)
        copy._configure(options, self._clock, self._ctx.rng)
        copy._owns_http = False
        copy._http = self._http
        copy._slots = (
            self._slots
            if options.max_concurrency == self.max_concurrency
            else asyncio.Semaphore(options.max_concurrency)
        )
        return copy

    # -- lifecycle ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether the connection pool is closed."""
        return self._http.is_closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the API --------------------------------------------------------------------------

    async def generate(
        self,
        prompt: str,
        *,
        model: str = "flex",
        images: Sequence[ImageInput] | None = None,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        output_format: str | None = None,
        safety_tolerance: int | None = None,
        guidance: float | None = None,
        steps: int | None = None,
        prompt_upsampling: bool | None = None,
        timeout: float | None = None,
        on_progress: Callable[[TaskResult], object] | None = None,
        **params: Any,
    ) -> GeneratedImage:
        """Generate (or, with ``images``, edit) an image and wait for it.

        As :meth:`flux2.Client.generate`; ``on_progress`` may also be a coroutine function.
        Waits for a free slot when ``max_concurrency`` tasks are already in flight.
        """
        request = decisions.build_request(
            prompt,
            model=model,
            images=images,
            width=width,
            height=height,
            seed=seed,
            output_format=output_format,
            safety_tolerance=safety_tolerance,
            guidance=guidance,
            steps=steps,
            prompt_upsampling=prompt_upsampling,
            **params,
        )
        reject_webhook(request)
        async with self._slots:
            task = await self._run(_flows.submit(self._ctx, request))
            return await self._wait(task, timeout, on_progress)

    async def submit(
        self,
        prompt: str,
        *,
        model: str = "flex",
        images: Sequence[ImageInput] | None = None,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        output_format: str | None = None,
        safety_tolerance: int | None = None,
        guidance: float | None = None,
        steps: int | None = None,
        prompt_upsampling: bool | None = None,
        **params: Any,
    ) -> Task:
        """Submit a task and return at once with its :class:`flux2.Task`.

        As :meth:`flux2.Client.submit`. Never sent twice: a lost answer raises
        :class:`flux2.SubmissionUncertainError`.
        """
        request = decisions.build_request(
            prompt,
            model=model,
            images=images,
            width=width,
            height=height,
            seed=seed,
            output_format=output_format,
            safety_tolerance=safety_tolerance,
            guidance=guidance,
            steps=steps,
            prompt_upsampling=prompt_upsampling,
            **params,
        )
        return await self._run(_flows.submit(self._ctx, request))

    async def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[TaskResult], object] | None = None,
    ) -> GeneratedImage:
        """Poll a task until it is ready; as :meth:`flux2.Client.wait`."""
        return await self._wait(_flows.as_task(task), timeout, on_progress)

    async def get_result(self, task: Task | str) -> TaskResult:
        """Read a task's current state once; as :meth:`flux2.Client.get_result`."""
        return await self._run(_flows.get_result(self._ctx, task))

    async def credits(self) -> float:
        """The account's credit balance (1 credit = $0.01)."""
        return await self._run(_flows.credits(self._ctx))

    async def download(
        self, source: GeneratedImage | TaskResult | str, path: str | os.PathLike[str]
    ) -> Path:
        """Save a result image to ``path``; as :meth:`flux2.Client.download`."""
        if isinstance(source, GeneratedImage):
            return await source.asave(path)
        url, stem, expires = download_target(source)
        sink = FileSink(path, stem=stem)
        await self._afetch(url, sink, expires_at=expires)
        return sink.path

    async def generate_many(
        self,
        items: Iterable[str | Mapping[str, Any] | Task],
        *,
        concurrency: int | None = None,
        timeout: float | None = None,
        on_submitted: Callable[[int, Task], object] | None = None,
        **defaults: Any,
    ) -> AsyncIterator[BatchResult]:
        """Generate many images; an async iterator of :class:`flux2.BatchResult` in order of
        completion. As :meth:`flux2.Client.generate_many` (``on_submitted`` may be a
        coroutine function)."""
        entries = list(items)
        limit = asyncio.Semaphore(concurrency or self.max_concurrency)

        async def one(index: int, item: str | Mapping[str, Any] | Task) -> BatchResult:
            async with limit:
                return await self._batch_item(
                    index, item=item, defaults=defaults, timeout=timeout, on_submitted=on_submitted
                )

        pending = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(entries)]
        try:
            for next_done in asyncio.as_completed(pending):
                yield await next_done
        finally:
            for future in pending:
                future.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- internals ------------------------------------------------------------------------

    async def _batch_item(
        self,
        index: int,
        *,
        item: str | Mapping[str, Any] | Task,
        defaults: Mapping[str, Any],
        timeout: float | None,
        on_submitted: Callable[[int, Task], object] | None,
    ) -> BatchResult:
        task: Task | None = None
        try:
            async with self._slots:
                if isinstance(item, Task):
                    task = item
                else:
                    request = decisions.build_request(**batch_kwargs(item, defaults))
                    reject_webhook(request)
                    task = await self._run(_flows.submit(self._ctx, request))
                    if on_submitted is not None:
                        outcome = on_submitted(index, task)
                        if inspect.isawaitable(outcome):
                            await outcome
                image = await self._wait(task, timeout, None)
            return BatchSuccess(index, item, task=task, image=image)
        except Exception as exc:  # per item, by design: the batch goes on
            return BatchFailure(index, item, task=task, error=exc)

    async def _wait(
        self,
        task: Task,
        timeout: float | None,
        on_progress: Callable[[TaskResult], object] | None,
    ) -> GeneratedImage:
        flow = _flows.wait(
            self._ctx, task, timeout=timeout, on_progress=on_progress, downloader=self
        )
        return await self._run(flow)

    async def _afetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        flow = _flows.download(self._ctx, url, sink, expires_at=expires_at)
        if self._http.is_closed:
            async with _new_async_http_client(self._options) as http:
                await self._run(flow, http=http)
            return
        await self._run(flow)

    def _fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        # A blocking save() of an image made by the async client: a short-lived blocking pool
        # (result hosts get no key, so nothing of this client's is needed but its settings).
        flow = _flows.download(self._ctx, url, sink, expires_at=expires_at)
        with new_http_client(self._options) as http:
            run_flow(flow, http, self._clock)

    async def _run(self, flow: Flow[T], *, http: httpx.AsyncClient | None = None) -> T:
        """Drive a flow with awaited I/O: perform each action it yields, hand it the outcome."""
        client = http or self._http
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            try:
                value = await self._perform(client, action)
            except BaseException as exc:  # handed to the flow, which re-raises what it cannot use
                error = exc

    async def _perform(self, http: httpx.AsyncClient, action: _flows.Action) -> Any:
        if isinstance(action, Send):
            return await http.send(action.request, follow_redirects=False)
        if isinstance(action, Sleep):
            await self._clock.asleep(action.seconds)
            return None
        if isinstance(action, Stream):
            return await _stream(http, action)
        if isinstance(action, Notify):
            outcome = action.callback(action.value)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            return outcome
        raise TypeError(f"unknown action {action!r}")


async def _stream(http: httpx.AsyncClient, action: Stream) -> StreamOutcome:
    response = await http.send(action.request, stream=True, follow_redirects=False)
    received = 0
    try:
        if not response.is_success:
            await response.aread()
            return StreamOutcome(response, len(response.content), response.num_bytes_downloaded)
        action.sink.begin(response.headers.get("content-type"))
        try:
            async for chunk in response.aiter_bytes():
                action.sink.write(chunk)
                received += len(chunk)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return StreamOutcome(response, received, response.num_bytes_downloaded, broken=exc)
        return StreamOutcome(response, received, response.num_bytes_downloaded)
    finally:
        await response.aclose()


def _new_async_http_client(options: Options) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=options.timeout, follow_redirects=False, limits=limits(options.max_concurrency)
    )
