"""The asyncio client: :class:`flux2.Client`'s public signatures, awaitable, and the same flows
(:mod:`flux2._flows`) driven with ``await``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _flows, decisions
from ._base import _UNSET, BaseClient
from ._drive import ClientDownloader, arun, new_async_http_client
from ._names import ModelName, OutputFormat
from ._transfer import Flow
from .inputs import ImageInput
from .types import BatchResult, Downloader, GeneratedImage, Task, TaskResult

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
        max_response_bytes: int | None = None,
        max_download_bytes: int | None = None,
        download_timeout: float | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._setup(locals())

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
        max_response_bytes: int = _UNSET,
        max_download_bytes: int = _UNSET,
        download_timeout: float = _UNSET,
        **unknown: Any,
    ) -> AsyncClient:
        """A copy of this client with some settings changed; as
        :meth:`flux2.Client.with_options`."""
        return self._copy(locals())

    # -- lifecycle ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

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
        model: ModelName = "flex",
        images: Sequence[ImageInput] | None = None,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        output_format: OutputFormat | None = None,
        safety_tolerance: int | None = None,
        guidance: float | None = None,
        steps: int | None = None,
        prompt_upsampling: bool | None = None,
        timeout: float | None = None,
        on_progress: Callable[[TaskResult], object] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> GeneratedImage:
        """Generate (or, with ``images``, edit) an image and wait for it.

        As :meth:`flux2.Client.generate`; ``on_progress`` may also be a coroutine function.
        Waits for a free slot when ``max_concurrency`` tasks are already in flight.
        """
        return await self._run(self._generate_flow(locals()))

    async def submit(
        self,
        prompt: str,
        *,
        model: ModelName = "flex",
        images: Sequence[ImageInput] | None = None,
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        output_format: OutputFormat | None = None,
        safety_tolerance: int | None = None,
        guidance: float | None = None,
        steps: int | None = None,
        prompt_upsampling: bool | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Task:
        """Submit a task and return at once with its :class:`flux2.Task`.

        As :meth:`flux2.Client.submit`. Never sent twice: a lost or unreadable answer raises
        :class:`flux2.SubmissionUncertainError`.
        """
        return await self._run(_flows.submit_call(self._ctx, locals()))

    async def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[TaskResult], object] | None = None,
    ) -> GeneratedImage:
        """Poll a task until it is ready; as :meth:`flux2.Client.wait`."""
        return await self._run(self._wait_flow(task, timeout, on_progress))

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
        return await self._image_of(source).asave(path)

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
        coroutine function). A new item starts only when the next result is asked for, so an
        iterator left unread starts no new task; at most ``concurrency`` are in flight."""
        flows = iter(self._batch_flows(locals()))
        width = concurrency or self.max_concurrency
        running: set[asyncio.Future[BatchResult]] = set()

        def refill() -> None:
            self._top_up(flows, running, width, lambda f: asyncio.ensure_future(self._run(f)))

        try:
            refill()
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    running.discard(future)
                    yield future.result()
                    refill()
        finally:
            for future in running:
                future.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for flow in flows:
                flow.close()

    # -- internals ------------------------------------------------------------------------

    _http_type = httpx.AsyncClient

    def _new_http(self) -> httpx.AsyncClient:
        return new_async_http_client(self._options.timeout, self._options.max_concurrency)

    @staticmethod
    def _new_slots(count: int) -> asyncio.Semaphore:
        return asyncio.Semaphore(count)

    def _new_downloader(self) -> Downloader:
        return ClientDownloader(self._ctx, self._clock, async_http=self._http)

    async def _run(self, flow: Flow[T]) -> T:
        return await arun(flow, self._http, self._clock)
