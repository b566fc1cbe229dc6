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
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Final, Protocol
from urllib.parse import unquote_plus

from ._logging import logger
from ._paths import path_inside, safe_file_name
from ._wire import RESULT_TTL_SECONDS
from ._writer import FileWriter
from .errors import InputError
from .inputs import SNIFF_BYTES, describe_content, sniff_image_format

__all__ = ["FORMAT_SUFFIXES", "FileSink", "MemorySink", "Sink", "format_of_suffix", "url_expiry"]


class NotAnImageError(Exception):
    """The downloaded bytes are not an image (raised by a sink, mapped by the download flow)."""


class Sink(Protocol):
    """Receives one download attempt; may be restarted after :meth:`abort`.

    A sink whose methods may block (on a disk) says so in ``blocking``: the async client then
    calls them from a worker thread, one at a time, never two at once; all but :meth:`write`,
    which never waits on a disk.
    """

    blocking: ClassVar[bool]

    def begin(self, content_type: str | None) -> None: ...

    def write(self, chunk: bytes) -> bool:
        """Take the next bytes; whether the sink holds more than it should, so that
        :meth:`drain` is due before the next write."""

    def drain(self) -> None:
        """Wait until the sink holds little enough (its writes caught up)."""

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

    def write(self, chunk: bytes) -> bool:
        self._see(chunk)
        self._buffer.write(chunk)
        return False

    def drain(self) -> None:
        pass

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

    The bytes are written by a thread of the sink's own while the next ones arrive
    (:class:`flux2._writer.FileWriter`): :meth:`write` never waits on the disk.
    """

    blocking: ClassVar[bool] = True

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        stem: str,
        check: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        # Called with the image's format before the file is moved into place; what it
        # raises leaves no file.
        self._check = check
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
        self._writer: FileWriter | None = None
        self._temp: Path | None = None
        self._final: Path | None = None

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
        self._writer = FileWriter(self._fd)

    def write(self, chunk: bytes) -> bool:
        assert self._writer is not None, "begin() first"
        self._see(chunk)
        return self._writer.write(chunk)

    def drain(self) -> None:
        assert self._writer is not None, "begin() first"
        self._writer.drain()

    def finish(self) -> None:
        assert self._writer is not None, "begin() first"
        assert self._fd is not None
        assert self._temp is not None
        try:
            fmt, ext = self._format()
            if self._check is not None:
                self._check(fmt)
            self._writer.close()
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
