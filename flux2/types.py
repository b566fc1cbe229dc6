"""flux2's public value types: :class:`Task`, :class:`TaskResult`, :class:`GeneratedImage`,
:class:`BatchResult` (a :class:`BatchSuccess` or a :class:`BatchFailure`).

They are flux2's own, not the generated client's: ``flux2._convert`` turns wire bodies into them
in one place, so a change in the spec stops there.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias
from urllib.parse import parse_qs, urlsplit

from ._boundary import as_flux2_error
from ._logging import redact_url
from ._wire import STATUS_MEANINGS, TaskState
from .downloads import FileSink, MemorySink, Sink, format_of_suffix, url_expiry
from .errors import Flux2Error, InputError

if TYPE_CHECKING:
    import PIL.Image

    from ._imageinfo import ImageInfo

__all__ = [
    "BatchFailure",
    "BatchResult",
    "BatchSuccess",
    "Downloader",
    "GeneratedImage",
    "Task",
    "TaskResult",
    "TaskState",
]


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
        if not isinstance(polling_url, str):
            raise InputError(
                f"a polling URL must be a string, got {type(polling_url).__name__}",
                param="polling_url",
            )
        if model is not None and not isinstance(model, str):
            raise InputError(f"a model must be a string, got {type(model).__name__}", param="model")
        try:
            ids = parse_qs(urlsplit(polling_url).query).get("id")
        except ValueError:  # an unclosed IPv6 bracket, say
            ids = None
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
        """The task that :meth:`to_dict` wrote (unknown keys are ignored).

        Anything else (a task stored by hand, or a file edited since) is an
        :class:`~flux2.InputError` saying which field is wrong."""
        if not isinstance(data, Mapping):
            raise InputError(f"a task must be a mapping, got {type(data).__name__}", param="task")
        fields = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        if not isinstance(fields.get("id"), str) or not fields["id"]:
            raise InputError("a task needs a non-empty 'id' string", param="id")
        for name, value in fields.items():
            if value is None or name == "id":
                continue
            if name in _TASK_TEXT_FIELDS and not isinstance(value, str):
                raise InputError(
                    f"a task's {name!r} must be a string, got {type(value).__name__}", param=name
                )
            if name not in _TASK_TEXT_FIELDS and not _is_finite_number(value):
                raise InputError(
                    f"a task's {name!r} must be a finite number, got {_shown(value)}", param=name
                )
        return cls(**fields)


_TASK_TEXT_FIELDS = frozenset({"id", "polling_url", "model", "webhook_url"})


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _shown(value: object) -> str:
    return repr(value)[:40] if isinstance(value, str) else type(value).__name__


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

    ``save(path)`` writes the image to disk; ``content`` holds it in memory; ``format``,
    ``mime_type``, ``width`` and ``height`` come from its header; ``to_pil()`` opens it with
    Pillow; Jupyter shows it. The signed URL expires 10 minutes after the task ended [doc]:
    save or read within that window (once read, ``content`` and further saves need no network).
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

    def save(self, path: str | os.PathLike[str], *, convert: bool = False) -> Path:
        """Write the image to ``path`` and return the path written.

        A directory gets ``<task_id>.<ext>`` with the extension of the image's actual format.
        A file path is written as given, but never with bytes its extension contradicts: saving
        a JPEG as ``x.png`` raises :class:`flux2.InputError` (ask for
        ``output_format="png"`` when generating, or pass ``convert=True`` to re-encode with
        Pillow, the ``images`` extra). The file is written beside the target and moved into
        place only when complete: an interrupted or short download leaves no file behind.
        """
        sink, convert_to = self._save_plan(path, convert)
        if convert_to is not None:
            return _write(sink, self._encoded_as(convert_to, self.read()))
        if self._content is not None:
            return _write(sink, self._content)
        self._downloader.fetch(self.url, sink, expires_at=self.expires_at)
        return sink.path

    async def asave(self, path: str | os.PathLike[str], *, convert: bool = False) -> Path:
        """Async :meth:`save`."""
        sink, convert_to = self._save_plan(path, convert)
        if convert_to is not None:
            return _write(sink, self._encoded_as(convert_to, await self.aread()))
        if self._content is not None:
            return _write(sink, self._content)
        await self._downloader.afetch(self.url, sink, expires_at=self.expires_at)
        return sink.path

    def _save_plan(
        self, path: str | os.PathLike[str], convert: bool
    ) -> tuple[FileSink, str | None]:
        """The sink :meth:`save` writes to, and the format to re-encode to (``None``: the bytes
        go to the file as they arrive). A file name whose extension names a format gets a sink
        that refuses, as the download ends and before any file is in place, an image of
        another format; with ``convert`` the image is read whole and re-encoded instead."""
        wanted = self._wanted_format(_checked_path(path))
        if wanted is None or convert:
            return _file_sink(path, self.task_id), wanted

        def check(actual: str) -> None:
            if actual != wanted:
                raise self._mismatch(wanted, actual, path)

        return _file_sink(path, self.task_id, check), None

    @staticmethod
    def _wanted_format(path: str | os.PathLike[str]) -> str | None:
        """The image format a file path's extension names (``None`` for a directory)."""
        text = os.fsdecode(os.fspath(path))
        target = Path(text).expanduser()
        if text.endswith((os.sep, "/")) or target.is_dir():
            return None
        return format_of_suffix(target.suffix)

    def _encoded_as(self, wanted: str, content: bytes) -> bytes:
        """``content`` as ``wanted``: as it is when it already is, else re-encoded."""
        from ._imageinfo import image_info

        info = image_info(content)
        actual = info.format if info is not None else None
        if actual == wanted:
            return content
        image = self.to_pil()
        if wanted == "jpeg" and image.mode not in {"RGB", "L", "CMYK"}:
            image = image.convert("RGB")  # JPEG has no alpha channel
        buffer = io.BytesIO()
        try:
            image.save(buffer, format=wanted.upper())
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(
                f"cannot re-encode the image as {wanted.upper()}: {exc}", param="path"
            ) from exc
        return buffer.getvalue()

    def _mismatch(self, wanted: str, actual: str | None, path: object) -> InputError:
        ask = (
            f", ask for output_format={wanted!r} when generating"
            if wanted in self._offered_formats()
            else ""
        )
        return InputError(
            f"{path} names a {wanted.upper()} file, but task {self.task_id}'s image is "
            f"{(actual or 'unknown').upper()}; nothing was written. Save it under a name "
            f"that matches{ask}, or re-encode it with save(path, convert=True) (needs "
            "Pillow: pip install 'flux2[images]')",
            param="path",
        )

    def _offered_formats(self) -> tuple[str, ...]:
        """The output formats the pinned spec offers for the image's model."""
        from . import registry

        try:
            param = registry.get_model(self.model or registry.DEFAULT_MODEL).params.get(
                "output_format"
            )
        except InputError:
            return ()
        return tuple(str(value) for value in param.enum or ()) if param is not None else ()

    def to_pil(self) -> PIL.Image.Image:
        """The image as a ``PIL.Image.Image`` (needs Pillow, the ``images`` extra)."""
        try:
            from PIL import Image
        except ImportError:
            raise Flux2Error(
                "GeneratedImage.to_pil() needs Pillow, the 'images' extra: "
                "pip install 'flux2[images]'"
            ) from None
        content = self.read()
        try:
            image = Image.open(io.BytesIO(content))
            image.load()
        except (OSError, ValueError) as exc:  # Pillow's UnidentifiedImageError is an OSError
            raise Flux2Error(f"Pillow cannot read task {self.task_id}'s image: {exc}") from exc
        return image

    def _info(self) -> ImageInfo:
        from ._imageinfo import image_info

        info = image_info(self.read())
        if info is None:  # downloads are checked to be images; this is a safety net
            raise Flux2Error(f"task {self.task_id}'s result is not an image")
        return info

    @property
    def format(self) -> str:
        """The image's format, read from its bytes: ``"jpeg"``, ``"png"`` or ``"webp"``."""
        return self._info().format

    @property
    def mime_type(self) -> str:
        """The image's MIME type, read from its bytes (``"image/jpeg"``...)."""
        return self._info().mime_type

    @property
    def width(self) -> int | None:
        """Width in pixels, read from the image's header (``None`` if it cannot be read)."""
        return self._info().width

    @property
    def height(self) -> int | None:
        """Height in pixels, read from the image's header (``None`` if it cannot be read)."""
        return self._info().height

    # Rich display in Jupyter and IPython: the image itself, with the repr as text.

    def _repr_png_(self) -> bytes | None:
        return self._shown("image/png")

    def _repr_jpeg_(self) -> bytes | None:
        return self._shown("image/jpeg")

    def _repr_mimebundle_(
        self, include: object = None, exclude: object = None
    ) -> dict[str, bytes | str]:
        try:
            content = self.read()
            info = self._info()
        except Flux2Error as exc:  # an expired URL, say: show why instead of a traceback
            return {"text/plain": f"{self!r}\n(image not shown: {exc})"}
        return {"text/plain": repr(self), info.mime_type: content}

    def _shown(self, mime: str) -> bytes | None:
        try:
            return self.read() if self._info().mime_type == mime else None
        except Flux2Error:
            return None

    def __repr__(self) -> str:
        return (
            f"GeneratedImage(task_id={self.task_id!r}, model={self.model!r}, seed={self.seed!r}, "
            f"cost={self.cost!r}, url={redact_url(self.url)!r})"
        )


def _checked_path(path: object) -> str | os.PathLike[str]:
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(
            f"path must be a str or an os.PathLike, got {type(path).__name__}", param="path"
        )
    return path


def _file_sink(
    path: str | os.PathLike[str], stem: str, check: Callable[[str], None] | None = None
) -> FileSink:
    return FileSink(_checked_path(path), stem=stem, check=check)


def _write(sink: FileSink, content: bytes) -> Path:
    try:
        return sink.write_all(content)
    except OSError as exc:
        raise as_flux2_error(exc) from exc


@dataclasses.dataclass(frozen=True)
class BatchSuccess:
    """A batch item that gave an image. ``ok`` is ``True`` (and says so to type checkers).

    ``error`` is set only when a callback of the batch raised for this item (a
    :class:`flux2.CallbackError`): the task was still waited for, and its image is here."""

    index: int
    """The item's position in the input."""
    item: Any = dataclasses.field(repr=False)
    task: Task
    image: GeneratedImage
    error: BaseException | None = None

    @property
    def ok(self) -> Literal[True]:
        return True


@dataclasses.dataclass(frozen=True)
class BatchFailure:
    """A batch item that gave no image: ``error`` says why. ``task`` is set once the item was
    submitted (also when waiting for it failed afterwards)."""

    index: int
    """The item's position in the input."""
    item: Any = dataclasses.field(repr=False)
    task: Task | None = None
    error: BaseException | None = None
    image: None = None

    @property
    def ok(self) -> Literal[False]:
        return False


BatchResult: TypeAlias = BatchSuccess | BatchFailure
"""The outcome of one item of a batch. ``if result.ok:`` narrows it to :class:`BatchSuccess`,
whose ``image`` is never ``None``; otherwise it is a :class:`BatchFailure` with ``error``."""
