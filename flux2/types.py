"""flux2's public value types: :class:`Task`, :class:`TaskResult`, :class:`GeneratedImage`,
:class:`BatchResult`.

They are flux2's own, not the generated client's: ``flux2._convert`` turns wire bodies into them
in one place, so a change in the spec stops there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ._logging import redact_url
from ._wire import STATUS_MEANINGS, TaskState
from .downloads import FileSink, MemorySink, Sink, url_expiry
from .errors import InputError

__all__ = ["BatchResult", "Downloader", "GeneratedImage", "Task", "TaskResult", "TaskState"]


@dataclasses.dataclass(frozen=True)
class Task:
    """A submitted task: what to poll, and what it cost.

    Persist ``id`` *and* ``polling_url`` (``task.to_dict()``): tasks live on regional clusters,
    and only the ``polling_url`` reaches them [doc][seen]. A task is rebuilt with
    ``Task(id, polling_url)``, ``Task.from_dict(d)`` or ``Task.from_polling_url(url)`` and
    waited for with ``client.wait(task)``.
    """

    id: str
    polling_url: str | None = None
    model: str | None = None
    cost: float | None = None
    """Credits charged (1 credit = $0.01) [doc]."""
    input_mp: float | None = None
    output_mp: float | None = None
    webhook_url: str | None = None
    submitted_at: float | None = None
    """Unix time at which the submission was answered (``None`` if unknown)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InputError(f"a task id must be a non-empty string, got {self.id!r}", param="id")
        for name in ("cost", "input_mp", "output_mp", "submitted_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def from_polling_url(cls, polling_url: str, *, model: str | None = None) -> Task:
        """A task from its polling URL alone (the id is its ``id`` query parameter)."""
        ids = parse_qs(urlsplit(polling_url).query).get("id")
        if not ids or not ids[0]:
            raise InputError(
                f"no task id in polling URL {redact_url(polling_url)} (expected ...?id=...)",
                param="polling_url",
            )
        return cls(id=ids[0], polling_url=polling_url, model=model)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` restores the task."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """The task that :meth:`to_dict` wrote (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data.get("id"), str):
            raise InputError("a task needs an 'id' string", param="id")
        return cls(**{k: v for k, v in data.items() if k in names})


def _redacted_url(url: str | None) -> str | None:
    return redact_url(url) if url else url


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """One reading of a task's state, from a poll or a webhook delivery.

    ``status`` is the service's string (``"Pending"``, ``"Ready"``...); ``state`` is what it
    means for a waiting client. When ready, ``url`` is the signed result URL (valid for
    10 minutes after the task ended [doc]), ``prompt`` the prompt actually used (after
    upsampling) and ``seed`` the seed used.
    """

    id: str
    status: str
    progress: float | None = None
    """Fraction 0..1 while in flight, when the service reports it."""
    url: str | None = dataclasses.field(default=None, repr=False)
    prompt: str | None = None
    seed: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    duration: float | None = None
    error: str | None = None
    """The service's error text for a failed task."""
    details: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False)
    preview: Any = dataclasses.field(default=None, repr=False)
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    """The body as received."""

    def __repr__(self) -> str:
        shown = [f"id={self.id!r}", f"status={self.status!r}"]
        for name in ("progress", "prompt", "seed", "duration", "error"):
            value = getattr(self, name)
            if value is not None:
                shown.append(f"{name}={value!r}")
        if self.url:
            shown.append(f"url={_redacted_url(self.url)!r}")
        return f"TaskResult({', '.join(shown)})"

    @property
    def state(self) -> TaskState:
        """What ``status`` means; an unknown status counts as in flight."""
        return STATUS_MEANINGS.get(self.status, TaskState.IN_FLIGHT)

    @property
    def done(self) -> bool:
        """Whether the task has ended (ready or not)."""
        return self.state.terminal

    @property
    def ready(self) -> bool:
        return self.state is TaskState.READY

    def raise_for_status(self) -> TaskResult:
        """Raise the task's :class:`~flux2.TaskError` if it ended without an image; else
        return ``self`` (so ``result.raise_for_status().url`` reads well)."""
        from .decisions import task_error

        error = task_error(self.id, self.status, self.error, self.details, self)
        if error is not None:
            raise error
        return self

    def __str__(self) -> str:
        text = f"task {self.id}: {self.status}"
        if self.progress is not None and not self.done:
            text += f" {self.progress:.0%}"
        if self.error:
            text += f" ({self.error})"
        return text


class Downloader(Protocol):
    """What a :class:`GeneratedImage` fetches its bytes through: the client that made it
    provides one; a test or an application may pass its own."""

    def fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        """Download ``url`` into ``sink``, blocking."""

    async def afetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        """Download ``url`` into ``sink``, awaited."""


class GeneratedImage:
    """A finished generation: its task, its result, and its image, fetched on demand.

    ``save(path)`` streams the image to disk; ``content`` holds it in memory. The signed URL
    expires 10 minutes after the task ended [doc]: save or read within that window (once read,
    ``content`` and further saves need no network).
    """

    __slots__ = ("_content", "_downloader", "result", "task")

    def __init__(self, task: Task, result: TaskResult, *, downloader: Downloader) -> None:
        if not result.url:
            raise InputError(f"task {task.id} has no result URL (status {result.status!r})")
        self.task = task
        self.result = result
        self._downloader = downloader
        self._content: bytes | None = None

    @property
    def url(self) -> str:
        """The signed result URL (no key needed; expires 10 minutes after the task ended)."""
        return self.result.url or ""

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def model(self) -> str | None:
        return self.task.model

    @property
    def seed(self) -> int | None:
        """The seed the service used."""
        return self.result.seed

    @property
    def prompt(self) -> str | None:
        """The prompt the service used (after upsampling, when it applied it)."""
        return self.result.prompt

    @property
    def cost(self) -> float | None:
        """Credits charged for the task (1 credit = $0.01) [doc]."""
        return self.task.cost

    @property
    def expires_at(self) -> float | None:
        """Unix time at which the result URL stops working, when known."""
        return url_expiry(self.url, self.result.end_time)

    @property
    def content(self) -> bytes:
        """The image bytes (downloaded on first access, then kept)."""
        return self.read()

    def read(self) -> bytes:
        """Download the image into memory (once) and return its bytes."""
        if self._content is None:
            sink = MemorySink()
            self._downloader.fetch(self.url, sink, expires_at=self.expires_at)
            self._content = sink.getvalue()
        return self._content

    async def aread(self) -> bytes:
        """Async :meth:`read`."""
        if self._content is None:
            sink = MemorySink()
            await self._downloader.afetch(self.url, sink, expires_at=self.expires_at)
            self._content = sink.getvalue()
        return self._content

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image to ``path`` and return the path written.

        A file path is written exactly as given. A directory gets ``<task_id>.<ext>`` with the
        extension of the image's actual format. The image is streamed to a temporary file
        beside the target and moved into place only when complete: an interrupted or short
        download leaves no file behind.
        """
        sink = _file_sink(path, self.task_id)
        if self._content is not None:
            return _write(sink, self._content)
        self._downloader.fetch(self.url, sink, expires_at=self.expires_at)
        return sink.path

    async def asave(self, path: str | os.PathLike[str]) -> Path:
        """Async :meth:`save`."""
        sink = _file_sink(path, self.task_id)
        if self._content is not None:
            return _write(sink, self._content)
        await self._downloader.afetch(self.url, sink, expires_at=self.expires_at)
        return sink.path

    def __repr__(self) -> str:
        return (
            f"GeneratedImage(task_id={self.task_id!r}, model={self.model!r}, seed={self.seed!r}, "
            f"cost={self.cost!r}, url={redact_url(self.url)!r})"
        )


def _file_sink(path: str | os.PathLike[str], stem: str) -> FileSink:
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(
            f"path must be a str or an os.PathLike, got {type(path).__name__}", param="path"
        )
    return FileSink(path, stem=stem)


def _write(sink: FileSink, content: bytes) -> Path:
    try:
        return sink.write_all(content)
    except OSError as exc:
        from ._flows import as_flux2_error

        raise as_flux2_error(exc) from exc


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """The outcome of one item of a batch: ``image`` on success, else ``error``.

    ``index`` is the item's position in the input; ``task`` is set once it was submitted
    (also when waiting for it failed afterwards).
    """

    index: int
    item: Any = dataclasses.field(repr=False)
    task: Task | None = None
    image: GeneratedImage | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None
