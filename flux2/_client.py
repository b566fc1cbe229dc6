"""The blocking client."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _flows, decisions
from ._base import (
    _UNSET,
    BaseClient,
    Cancelled,
    Options,
    SystemClock,
    batch_kwargs,
    download_target,
    reject_webhook,
)
from ._flows import Flow, Notify, Send, Sleep, Stream, StreamOutcome
from .downloads import FileSink, Sink
from .inputs import ImageInput
from .types import BatchFailure, BatchResult, BatchSuccess, GeneratedImage, Task, TaskResult

T = TypeVar("T")

__all__ = ["Client"]


class Client(BaseClient):
    """A blocking client for the FLUX.2 API.

    >>> client = flux2.Client()          # key from BFL_API_KEY
    >>> image = client.generate("a red fox in fresh snow", model="flex", seed=42)
    >>> image.save("fox.jpg")

    Settings come from the arguments, else the environment (``BFL_API_KEY``,
    ``BFL_BASE_URL``, ``BFL_TRUSTED_HOSTS``, ``FLUX2_STRICT``), else defaults:

    - ``api_key``: sent only to the base URL's host, https hosts under ``bfl.ai`` and the
      ``trusted_hosts`` you list (plain http only on loopback); never to result downloads.
    - ``base_url``: ``https://api.bfl.ai``.
    - ``trusted_hosts``: host names (a leading dot trusts a whole domain) that may also
      receive the key, e.g. a proxy's.
    - ``max_retries`` (2): retries of a failed request. 429 is retried on any request,
      honouring ``Retry-After``; 5xx and network errors only on reads; a submission only when
      it provably never left (nothing is ever billed twice).
    - ``timeout`` (60 s, 10 s to connect): per HTTP request; a number or an ``httpx.Timeout``.
    - ``wait_timeout`` (600 s): default deadline of :meth:`wait` and :meth:`generate`.
    - ``poll_schedule``: a :class:`flux2.PollSchedule` (when to poll a task).
    - ``strict``: check every response against the pinned spec and warn once per deviation
      (``True`` or ``"warn"``; ``FLUX2_STRICT=1``), or raise on one (``"error"``).
    - ``max_concurrency`` (24, the documented per-account limit): tasks in flight at once
      through :meth:`generate` and :meth:`generate_many`, across threads.
    - ``http_client``: an ``httpx.Client`` to send through (you keep ownership of it).

    Use it as a context manager, or call :meth:`close`, to release connections.
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
        http_client: httpx.Client | None = None,
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
        self._http = http_client or new_http_client(options)
        self._slots = threading.BoundedSemaphore(options.max_concurrency)

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
    ) -> Client:
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
        copy = object.__new__(Client)
        copy._configure(options, self._clock, self._ctx.rng)
        copy._owns_http = False
        copy._http = self._http
        copy._slots = (
            self._slots
            if options.max_concurrency == self.max_concurrency
            else threading.BoundedSemaphore(options.max_concurrency)
        )
        return copy

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    @property
    def is_closed(self) -> bool:
        """Whether the connection pool is closed."""
        return self._http.is_closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API --------------------------------------------------------------------------

    def generate(
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

        ``model``: ``flex`` (default), ``max``, ``pro``, ``klein-4b``, ``klein-9b``, the
        ``-preview`` endpoints, or a full endpoint name such as ``flux-2-flex``.
        ``images``: up to the model's number of input images; each a path, bytes, PIL image,
        http(s) URL, or base64 / data URI. The other keywords are the model's request
        parameters from the pinned spec (``**params`` takes any other one); leave one out (or
        ``None``) for the service's default. A parameter the model lacks, or a value out of
        its range, raises :class:`flux2.InputError` before anything is sent.

        ``timeout`` is the deadline for the whole wait (default ``wait_timeout``);
        ``on_progress(result)`` is called with every :class:`flux2.TaskResult` polled.

        Returns a :class:`flux2.GeneratedImage`; ``.save(path)`` or ``.content`` fetch it.
        Raises a :class:`flux2.TaskError` subclass if the task fails or is moderated.
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
        with self._slots:
            task = self._run(_flows.submit(self._ctx, request))
            return self._wait(task, timeout, on_progress)

    def submit(
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
        """Submit a task and return at once with its :class:`flux2.Task` (id, polling_url,
        cost). Same parameters as :meth:`generate`, plus ``webhook_url`` / ``webhook_secret``
        to be called back instead of polling (the task then has no ``polling_url``).

        A submission is never sent twice: if its answer is lost it raises
        :class:`flux2.SubmissionUncertainError` (the task may exist and be billed).
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
        return self._run(_flows.submit(self._ctx, request))

    def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[TaskResult], object] | None = None,
    ) -> GeneratedImage:
        """Poll a task until it is ready and return its :class:`flux2.GeneratedImage`.

        ``task`` is a :class:`flux2.Task` (for example ``Task(id, polling_url)`` restored from
        storage), a polling URL, or a task id. Polling follows the task's ``polling_url`` (its
        host must be trusted, see :class:`Client`) on a schedule fitted to the model's expected
        duration, honouring ``Retry-After``. ``timeout`` (default ``wait_timeout``) bounds the
        whole wait: :class:`flux2.TaskTimeoutError` when it passes. Failed or moderated tasks
        raise their :class:`flux2.TaskError` subclass at once.
        """
        return self._wait(_flows.as_task(task), timeout, on_progress)

    def get_result(self, task: Task | str) -> TaskResult:
        """Read a task's current state once (a :class:`flux2.Task`, polling URL or id).

        A task id alone is looked up at the base URL, which answers 404 for tasks on regional
        clusters [doc]: prefer the task or its polling URL.
        """
        return self._run(_flows.get_result(self._ctx, task))

    def credits(self) -> float:
        """The account's credit balance (1 credit = $0.01)."""
        return self._run(_flows.credits(self._ctx))

    def download(
        self, source: GeneratedImage | TaskResult | str, path: str | os.PathLike[str]
    ) -> Path:
        """Save a result image (a GeneratedImage, a ready TaskResult or a result URL) to
        ``path`` (a file, or a directory to name the file after the task); returns the path."""
        if isinstance(source, GeneratedImage):
            return source.save(path)
        url, stem, expires = download_target(source)
        sink = FileSink(path, stem=stem)
        self._fetch(url, sink, expires_at=expires)
        return sink.path

    def generate_many(
        self,
        items: Iterable[str | Mapping[str, Any] | Task],
        *,
        concurrency: int | None = None,
        timeout: float | None = None,
        on_submitted: Callable[[int, Task], object] | None = None,
        **defaults: Any,
    ) -> Iterator[BatchResult]:
        """Generate many images with at most ``concurrency`` tasks in flight; yields one
        :class:`flux2.BatchResult` per item as each finishes (``.index`` is its position).

        Each item is a prompt, a dict of :meth:`generate` keywords (``{"prompt": ...,
        "seed": 7}``), or a :class:`flux2.Task` submitted earlier, which is only waited for.
        ``defaults`` apply to every item (``model="klein-4b"``). ``on_submitted(index, task)``
        runs right after each submission, before waiting: persist ``task.to_dict()`` there to
        resume an interrupted batch by passing those tasks back in, without resubmitting.

        Errors are per item (``result.error``); one failure does not stop the batch. Closing
        the iterator early (``break``, Ctrl-C) stops submitting and waiting.
        """
        import concurrent.futures

        entries = list(items)
        workers = min(concurrency or self.max_concurrency, max(1, len(entries)))
        cancel = threading.Event()
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="flux2-batch")
        try:
            futures = [
                pool.submit(
                    self._batch_item,
                    i,
                    item=item,
                    defaults=defaults,
                    timeout=timeout,
                    on_submitted=on_submitted,
                    cancel=cancel,
                )
                for i, item in enumerate(entries)
            ]
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)

    # -- internals ------------------------------------------------------------------------

    def _batch_item(
        self,
        index: int,
        *,
        item: str | Mapping[str, Any] | Task,
        defaults: Mapping[str, Any],
        timeout: float | None,
        on_submitted: Callable[[int, Task], object] | None,
        cancel: threading.Event,
    ) -> BatchResult:
        task: Task | None = None
        try:
            if cancel.is_set():
                raise Cancelled
            with self._slots:
                if isinstance(item, Task):
                    task = item
                else:
                    request = decisions.build_request(**batch_kwargs(item, defaults))
                    reject_webhook(request)
                    task = self._run(_flows.submit(self._ctx, request))
                    if on_submitted is not None:
                        on_submitted(index, task)
                image = self._wait(task, timeout, None, cancel)
            return BatchSuccess(index, item, task=task, image=image)
        except Exception as exc:  # per item, by design: the batch goes on
            return BatchFailure(index, item, task=task, error=exc)

    def _wait(
        self,
        task: Task,
        timeout: float | None,
        on_progress: Callable[[TaskResult], object] | None,
        cancel: threading.Event | None = None,
    ) -> GeneratedImage:
        flow = _flows.wait(
            self._ctx, task, timeout=timeout, on_progress=on_progress, downloader=self
        )
        return self._run(flow, cancel)

    def _fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        flow = _flows.download(self._ctx, url, sink, expires_at=expires_at)
        if self._http.is_closed:
            # The image outlived its client: fetch through a short-lived pool (no key is sent
            # to result hosts anyway).
            with new_http_client(self._options) as http:
                self._run(flow, http=http)
            return
        self._run(flow)

    async def _afetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        import asyncio

        await asyncio.to_thread(self._fetch, url, sink, expires_at=expires_at)

    def _run(
        self,
        flow: Flow[T],
        cancel: threading.Event | None = None,
        *,
        http: httpx.Client | None = None,
    ) -> T:
        return run_flow(flow, http or self._http, self._clock, cancel)


def run_flow(
    flow: Flow[T], http: httpx.Client, clock: SystemClock, cancel: threading.Event | None = None
) -> T:
    """Drive a flow with blocking I/O: perform each action it yields, hand it the outcome."""
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
            value = _perform(http, action, clock, cancel)
        except BaseException as exc:  # handed to the flow, which re-raises what it cannot use
            error = exc


def _perform(
    http: httpx.Client,
    action: _flows.Action,
    clock: SystemClock,
    cancel: threading.Event | None,
) -> Any:
    if isinstance(action, Send):
        return http.send(action.request, follow_redirects=False)
    if isinstance(action, Sleep):
        if cancel is None:
            clock.sleep(action.seconds)
        elif clock.wait(cancel, action.seconds):
            raise Cancelled
        return None
    if isinstance(action, Stream):
        return _stream(http, action)
    if isinstance(action, Notify):
        return action.callback(action.value)
    raise TypeError(f"unknown action {action!r}")


def _stream(http: httpx.Client, action: Stream) -> StreamOutcome:
    response = http.send(action.request, stream=True, follow_redirects=False)
    received = 0
    try:
        if not response.is_success:
            response.read()
            return StreamOutcome(response, len(response.content), response.num_bytes_downloaded)
        action.sink.begin(response.headers.get("content-type"))
        try:
            for chunk in response.iter_bytes():
                action.sink.write(chunk)
                received += len(chunk)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return StreamOutcome(response, received, response.num_bytes_downloaded, broken=exc)
        return StreamOutcome(response, received, response.num_bytes_downloaded)
    finally:
        response.close()


def new_http_client(options: Options) -> httpx.Client:
    return httpx.Client(
        timeout=options.timeout,
        follow_redirects=False,
        limits=limits(options.max_concurrency),
    )


def limits(max_concurrency: int) -> httpx.Limits:
    # Every task in flight may poll at once, plus downloads: keep that many connections warm.
    return httpx.Limits(
        max_connections=max(100, 2 * max_concurrency),
        max_keepalive_connections=max(20, max_concurrency),
    )
