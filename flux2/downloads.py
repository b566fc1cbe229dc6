"""Where downloaded result images go: a file, written atomically, or memory.

A :class:`FileSink` streams into a temporary file beside the target and moves it into place
(``os.replace``) only once the whole image arrived; an error, a short read or an interrupt
leaves no file. Every download is checked by its magic bytes: a 200 answer that is not an
image (an HTML error page from a proxy, say) is an error, not a ``.jpg`` full of HTML.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Final, Protocol
from urllib.parse import unquote_plus

from ._logging import logger
from ._paths import path_inside, safe_file_name
from ._wire import RESULT_TTL_SECONDS
from .errors import InputError
from .inputs import SNIFF_BYTES, describe_content, sniff_image_format

__all__ = ["FORMAT_SUFFIXES", "FileSink", "MemorySink", "Sink", "format_of_suffix", "url_expiry"]


class NotAnImageError(Exception):
    """The downloaded bytes are not an image (raised by a sink, mapped by the download flow)."""


class Sink(Protocol):
    """Receives one download attempt; may be restarted after :meth:`abort`.

    A sink whose methods may block (on a disk) says so in ``blocking``: the async client then
    calls them from a worker thread, one at a time, never two at once.
    """

    blocking: ClassVar[bool]

    def begin(self, content_type: str | None) -> None: ...

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class _Sniffing:
    """Keeps the first bytes of a download to tell its format."""

    def __init__(self) -> None:
        self._head = b""
        self._content_type: str | None = None

    def _start(self, content_type: str | None) -> None:
        self._head = b""
        self._content_type = content_type

    def _see(self, chunk: bytes) -> None:
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]

    def _format(self) -> tuple[str, str]:
        """``(format, extension)`` of the downloaded image; NotAnImageError if it is not one."""
        found = sniff_image_format(self._head)
        if found is None:
            # Named, never quoted: the bytes may be anything the host chose to send.
            raise NotAnImageError(
                f"the result is not an image but {describe_content(self._head)} "
                f"(content type {_shown_type(self._content_type)})"
            )
        return found[0], found[1]


def _shown_type(content_type: str | None) -> str:
    if content_type is None:
        return "none"
    text = content_type.split(";", 1)[0].strip()
    return repr(text[:60]) if text.isascii() and text.isprintable() else "unreadable"


class MemorySink(_Sniffing):
    """Collects a download in memory."""

    blocking: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self._buffer = io.BytesIO()

    def begin(self, content_type: str | None) -> None:
        self._start(content_type)
        self._buffer = io.BytesIO()

    def write(self, chunk: bytes) -> None:
        self._see(chunk)
        self._buffer.write(chunk)

    def finish(self) -> None:
        self._format()

    def abort(self) -> None:
        self._buffer = io.BytesIO()

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


class FileSink(_Sniffing):
    """Writes a download to ``target`` atomically.

    ``target`` is a file path (written exactly as given) or a directory (an existing one, or a
    path ending in a separator), in which the file is named ``<stem><ext>`` with the extension
    of the image's actual format. ``stem`` comes from the service (a task id) or a URL, so it
    is made a safe file name and the final path is checked to lie inside the directory.

    A download larger than one batch is written by a thread of the sink's own while the next
    bytes arrive (see :class:`_WriteBehind`); a smaller one when it is finished.
    """

    blocking: ClassVar[bool] = True

    def __init__(self, target: str | os.PathLike[str], *, stem: str) -> None:
        super().__init__()
        try:
            text = os.fsdecode(os.fspath(target))
        except TypeError:
            raise InputError(
                f"path must be a file or directory path (str or os.PathLike), got "
                f"{type(target).__name__}",
                param="path",
            ) from None
        if "\x00" in text:
            raise InputError("path cannot hold a NUL character", param="path")
        self._target = Path(text).expanduser()
        self._is_dir = self._target.is_dir() or text.endswith((os.sep, "/"))
        self._stem = safe_file_name(stem)
        self._fd: int | None = None
        self._temp: Path | None = None
        self._final: Path | None = None
        self._batch: list[bytes] = []
        self._batched = 0
        self._writer: _WriteBehind | None = None
        self._written = 0
        self._flushed = 0

    @property
    def path(self) -> Path:
        """The file written (after a successful download)."""
        if self._final is None:
            raise RuntimeError("nothing has been written yet")
        return self._final

    def begin(self, content_type: str | None) -> None:
        self.abort()
        self._start(content_type)
        directory = self._target if self._is_dir else self._target.parent
        if self._is_dir:
            directory.mkdir(parents=True, exist_ok=True)
        name = self._stem if self._is_dir else self._target.name
        # Not tempfile.mkstemp: its 0600 mode would stick to the final file. 0666 minus the
        # umask gives the permissions any other new file would get.
        temp = directory / f".{name}.{secrets.token_hex(6)}.part"
        self._fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
        )
        self._temp = temp
        self._batch, self._batched = [], 0
        self._written = self._flushed = 0

    def write(self, chunk: bytes) -> None:
        assert self._fd is not None, "begin() first"
        self._see(chunk)
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= WRITE_BATCH or len(self._batch) >= _MAX_BUFFERS:
            if self._writer is None:
                self._writer = _WriteBehind(self._write_out)
            self._writer.put(self._batch)
            self._batch, self._batched = [], 0

    def finish(self) -> None:
        assert self._fd is not None, "begin() first"
        assert self._temp is not None
        try:
            fmt, ext = self._format()
            if self._writer is not None:
                if self._batch:
                    self._writer.put(self._batch)
                self._writer.join()
            elif self._batch:
                self._write_out(self._batch)
            self._batch = []
            _sync_data(self._fd)
            os.close(self._fd)
            self._fd = None
            if self._is_dir:
                final = path_inside(self._target, f"{self._stem}{ext}")
            else:
                final = self._target
                _warn_if_extension_differs(final, fmt)
            os.replace(self._temp, final)
        except BaseException:
            self.abort()
            raise
        self._writer = None
        self._temp = None
        self._final = final

    def abort(self) -> None:
        # The writer first: the file is closed and removed only once nothing writes to it.
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._batch, self._batched = [], 0
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None

    def write_all(self, content: bytes) -> Path:
        """Write bytes already in memory, with the same atomicity and naming."""
        self.begin(None)
        try:
            self.write(content)
        except BaseException:
            self.abort()
            raise
        self.finish()
        return self.path

    def _write_out(self, batch: list[bytes]) -> None:
        """Write ``batch`` whole, and start writeback every ``WRITEBACK_BYTES``; called by one
        thread at a time (the writer's, once there is one)."""
        assert self._fd is not None
        self._written += _write_fully(self._fd, batch)
        if _START_WRITEBACK is not None and self._written - self._flushed >= WRITEBACK_BYTES:
            # Hands what was written so far to the disk now, without waiting for it, so the
            # sync that makes the file durable has only the tail left to flush.
            _START_WRITEBACK(self._fd, self._flushed, self._written - self._flushed)
            self._flushed = self._written


class _WriteBehind:
    """Calls ``write`` on each batch it is given, in a thread of its own, so a download's disk
    work overlaps its network reads; at most ``_WAITING_BATCHES`` batches wait (bounded memory,
    and a writer slower than the network holds up the reads).

    An error of ``write`` is raised by the next :meth:`put` or by :meth:`join`; after it, the
    remaining batches are dropped. Daemonic: a sink left unfinished never keeps the
    interpreter from exiting.
    """

    def __init__(self, write: Callable[[list[bytes]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(_WAITING_BATCHES)
        self._error: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name="flux2-file-writer", daemon=True)
        self._thread.start()

    def put(self, batch: list[bytes]) -> None:
        self._raise_error()
        self._queue.put(batch)

    def join(self) -> None:
        """Wait until every batch is written; raise the writer's error, if any."""
        self._stop()
        self._raise_error()

    def cancel(self) -> None:
        """Drop the batches still waiting and wait for the one being written."""
        self._dropping = True
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None and not self._dropping:
                try:
                    self._write(batch)
                except BaseException as exc:  # raised in the sink's own thread, by put or join
                    self._error = exc


def _write_fully(fd: int, chunks: list[bytes]) -> int:
    """Write ``chunks`` to ``fd`` in order, whole (one system call where ``os.writev``
    exists); the number of bytes."""
    size = sum(len(chunk) for chunk in chunks)
    done = _writev(fd, chunks) if _writev is not None else 0
    if done < size:  # a short write, or no writev: the rest one call at a time
        with memoryview(b"".join(chunks)) as rest:
            while done < size:
                done += os.write(fd, rest[done:])
    return size


# How much a FileSink hands its writer at once, and how many such batches may wait for it:
# bounded memory, few hand-offs between threads.
WRITE_BATCH: Final = 1 << 20
_WAITING_BATCHES: Final = 2
# At most this many chunks in one batch: os.writev takes at most IOV_MAX (1024 on Linux).
_MAX_BUFFERS: Final = 256
# How much a FileSink writes between two requests to start writeback.
WRITEBACK_BYTES: Final = 8 << 20


def _start_writeback(fd: int, offset: int, length: int) -> None:
    # On Linux, DONTNEED starts writeback of the range's dirty pages without waiting for it
    # (and drops its pages from the cache once they are clean).
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


_START_WRITEBACK: Final = _start_writeback if hasattr(os, "posix_fadvise") else None
_writev: Final[Callable[[int, list[bytes]], int] | None] = getattr(os, "writev", None)
# The data and the size, which is what a file read back after a crash needs; not the times.
_sync_data: Final = getattr(os, "fdatasync", os.fsync)


# File name suffixes of each image format flux2 can tell (``inputs.sniff_image_format``),
# the one it writes first: the one table that maps formats and suffixes both ways.
FORMAT_SUFFIXES: Final = MappingProxyType(
    {
        "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
        "png": (".png",),
        "webp": (".webp",),
        "gif": (".gif",),
        "tiff": (".tif", ".tiff"),
        "bmp": (".bmp",),
        "avif": (".avif",),
        "heic": (".heic",),
    }
)


def format_of_suffix(suffix: str) -> str | None:
    """The image format a file name suffix (``".JPG"``) stands for, or ``None``."""
    lowered = suffix.lower()
    return next((fmt for fmt, known in FORMAT_SUFFIXES.items() if lowered in known), None)


def _warn_if_extension_differs(path: Path, fmt: str) -> None:
    wanted = format_of_suffix(path.suffix)
    if path.suffix and wanted != fmt:
        logger.warning(
            "%s holds a %s image; its extension says otherwise (ask for output_format=%r to "
            "get that format)",
            path,
            fmt.upper(),
            wanted or path.suffix.lstrip(".").lower(),
        )


_SAS_EXPIRY: Final = re.compile(r"(?:^|&)se=([^&]+)")


def url_expiry(url: str, end_time: float | None) -> float | None:
    """Unix time at which a signed result URL expires, when it can be told.

    From the URL's own ``se=`` (Azure SAS expiry) parameter [seen], else 10 minutes after the
    task's ``end_time`` [doc].
    """
    # The query's first ``se`` value, as parse_qs would give it; a search rather than a full
    # parse because every image read asks (scripts/bench, scenario overhead).
    query = url.partition("#")[0].partition("?")[2]
    found = _SAS_EXPIRY.search(query)
    text = unquote_plus(found.group(1)).strip() if found else ""
    if text:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            # SAS times are UTC [seen]; a bare one is read as UTC, not local time.
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if end_time is not None:
        return end_time + RESULT_TTL_SECONDS
    return None
