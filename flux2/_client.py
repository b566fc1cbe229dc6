"""The blocking client: the public signatures, and the flows of :mod:`flux2._flows` driven
with blocking I/O (everything else is shared with the async client in :mod:`flux2._base`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from . import _flows, decisions
from ._base import _UNSET, BaseClient, Cancelled
from ._drive import ClientDownloader, new_http_client, run
from ._names import ModelName, OutputFormat
from ._transfer import Flow
from .inputs import ImageInput
from .types import BatchResult, Downloader, GeneratedImage, Task, TaskResult

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
    - ``max_response_bytes`` (4 MiB): the largest API answer read; API answers are a few KB.
    - ``max_download_bytes`` (32 MiB): the largest result image downloaded, counted after
      decoding (the largest result, a 4 MP PNG, is about 12.6 MB).
    - ``download_timeout`` (300 s): deadline of one whole result download.
      Past a limit: :class:`flux2.ResponseTooLargeError` or :class:`flux2.TransferTimeoutError`,
      and no file is written.
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
        max_response_bytes: int | None = None,
        max_download_bytes: int | None = None,
        download_timeout: float | None = None,
        http_client: httpx.Client | None = None,
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
    ) -> Client:
        """A copy of this client with some settings changed; this client is left as it was.

        The copy shares this client's connection pool (closing the copy does not close it)
        and, unless ``max_concurrency`` changes, its limit on tasks in flight.
        """
        return self._copy(locals())

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

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

        ``model``: ``flex`` (default), ``max``, ``pro``, ``klein-4b``, ``klein-9b``, the
        ``-preview`` endpoints, or a full endpoint name such as ``flux-2-flex``.
        ``images``: up to the model's number of input images; each a path, bytes, PIL image,
        http(s) URL, or base64 / data URI. The other keywords are the model's request
        parameters from the pinned spec (``**params`` takes any other one); leave one out (or
        ``None``) for the service's default. A parameter the model lacks, or a value out of
        its range, raises :class:`flux2.InputError` before anything is sent.

        ``extra_body``: fields the pinned spec does not know yet (a newer service's), sent
        unchecked with a :class:`flux2.Flux2Warning`; ``flux2 drift`` checks for them.

        ``timeout`` is the deadline for the whole wait (default ``wait_timeout``);
        ``on_progress(result)`` is called with every :class:`flux2.TaskResult` polled (if it
        raises, the task is still waited for, then :class:`flux2.CallbackError` carries the
        task). Takes one of the ``max_concurrency`` slots while the task is in flight.

        Returns a :class:`flux2.GeneratedImage`; ``.save(path)`` or ``.content`` fetch it.
        Raises a :class:`flux2.TaskError` subclass if the task fails or is moderated.
        """
        return self._run(self._generate_flow(locals()))

    def submit(
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
        """Submit a task and return at once with its :class:`flux2.Task` (id, polling_url,
        cost). Same parameters as :meth:`generate`, plus ``webhook_url`` / ``webhook_secret``
        to be called back instead of polling (the task then has no ``polling_url``; see
        :mod:`flux2.webhooks` to verify deliveries).

        A submission is never sent twice: if its answer is lost or cannot be read it raises
        :class:`flux2.SubmissionUncertainError` (the task may exist and be billed).
        """
        return self._run(_flows.submit_call(self._ctx, locals()))

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
        whole wait, every request and retry inside it included: :class:`flux2.TaskTimeoutError`
        when it passes. Failed or moderated tasks raise their :class:`flux2.TaskError` subclass
        at once.
        """
        return self._run(self._wait_flow(task, timeout, on_progress))

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
        return self._image_of(source).save(path)

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

        Errors are per item (``result.error``); one failure does not stop the batch. A task
        that was submitted is waited for even when ``on_submitted`` raised (the result then
        has both ``image`` and a :class:`flux2.CallbackError`). The client's
        ``max_concurrency`` holds across all calls at once. A new item starts only when the
        next result is asked for, so an iterator left unread starts no new task; closing it
        early (``break``, Ctrl-C) stops submitting and waiting.
        """
        import concurrent.futures

        all_flows = self._batch_flows(locals())
        workers = min(concurrency or self.max_concurrency, max(1, len(all_flows)))
        flows = iter(all_flows)
        cancel = threading.Event()
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="flux2-batch")
        running: set[concurrent.futures.Future[BatchResult]] = set()

        def refill() -> None:
            self._top_up(flows, running, workers, lambda f: pool.submit(self._run_item, f, cancel))

        try:
            refill()
            while running:
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    running.discard(future)
                    yield future.result()
                    refill()
        finally:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for flow in flows:
                flow.close()

    # -- internals ------------------------------------------------------------------------

    _http_type = httpx.Client

    def _new_http(self) -> httpx.Client:
        return new_http_client(self._options.timeout, self._options.max_concurrency)

    @staticmethod
    def _new_slots(count: int) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(count)

    def _new_downloader(self) -> Downloader:
        return ClientDownloader(self._ctx, self._clock, http=self._http)

    def _run_item(self, flow: Flow[BatchResult], cancel: threading.Event) -> BatchResult:
        if cancel.is_set():
            flow.close()
            raise Cancelled
        return self._run(flow, cancel)

    def _run(self, flow: Flow[T], cancel: threading.Event | None = None) -> T:
        return run(flow, self._http, self._clock, cancel)
