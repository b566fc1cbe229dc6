"""A file written from a thread of its own while the caller goes on receiving its bytes.

A download's disk work (copying into the page cache, starting writeback) then overlaps its
network reads, and the sync that makes the file durable has only the tail left to flush.
The caller's bytes are copied into a few buffers that are used again and again: holding the
received chunks themselves until they are written makes the allocator hand memory back to
the system and fault it in anew for every chunk, which costs more than the copy.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["BACKLOG", "BUFFER_BYTES", "WRITEBACK_BYTES", "FileWriter"]

# The size of each buffer handed to the writing thread: few hand-offs, and a bounded amount
# of memory (the buffers in existence stay at about BACKLOG / BUFFER_BYTES + 2).
BUFFER_BYTES: Final = 1 << 20
# How far the thread may fall behind before :meth:`FileWriter.write` asks for a drain.
BACKLOG: Final = 4 * BUFFER_BYTES
# How much is written between two requests to start writeback: at most this much is left for
# the final sync to flush (which the download waits for), and each request stays cheap.
WRITEBACK_BYTES: Final = 2 * BUFFER_BYTES

_Item = tuple[bytes | memoryview, bytearray | None]


class FileWriter:
    """Writes to ``fd`` what :meth:`write` is given, in order, from a thread started once a
    buffer is full (a smaller file is written by :meth:`close`, in the caller's thread).

    :meth:`write` never waits on the disk: it copies and hands on, and says when the thread
    is more than ``BACKLOG`` behind; :meth:`drain` then waits for it (the async client calls
    it from a worker thread). An error of the thread is raised by the next call. Used by one
    caller at a time; the thread is daemonic, so a writer left unclosed never keeps the
    interpreter from exiting.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray(BUFFER_BYTES)
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._spare: list[bytearray] = []  # written buffers, for the caller to fill again
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._handed = 0  # bytes handed to the thread (counted by the caller)
        self._written = 0  # bytes it wrote (counted by the thread)
        self._flushed = 0  # bytes it asked the system to start writing back
        self._error: BaseException | None = None
        self._dropping = False

    def write(self, chunk: bytes) -> bool:
        """Take ``chunk``; whether the thread is behind, so :meth:`drain` is due."""
        self._raise_error()
        if self._handed - self._written > 4 * BACKLOG:  # a caller that never drains
            self.drain()
        size = len(chunk)
        end = self._filled + size
        if end < BUFFER_BYTES:
            self._view[self._filled : end] = chunk
            self._filled = end
        elif not self._filled:  # a chunk as large as a buffer goes as it is, uncopied
            self._hand(chunk, None)
        else:  # fills this buffer, and the next ones
            rest = memoryview(chunk)
            while rest:
                take = min(BUFFER_BYTES - self._filled, len(rest))
                self._view[self._filled : self._filled + take] = rest[:take]
                self._filled += take
                rest = rest[take:]
                if self._filled == BUFFER_BYTES:
                    self._hand_buffer()
        return self._handed - self._written > BACKLOG

    def drain(self) -> None:
        """Wait until the thread is at most ``BACKLOG`` behind."""
        with self._progress:
            while self._error is None and self._handed - self._written > BACKLOG:
                self._progress.wait()
        self._raise_error()

    def close(self) -> None:
        """Write everything given; raise the first error, if any."""
        if self._thread is None:
            if self._filled:
                _write_fully(self._fd, self._view[: self._filled])
        else:
            if self._filled:
                self._hand(self._view[: self._filled], None)
            self._stop()
        self._filled = 0
        self._raise_error()

    def cancel(self) -> None:
        """Drop what is not written yet and wait for the write under way, if any."""
        self._dropping = True
        self._stop()

    def _hand_buffer(self) -> None:
        self._hand(self._view, self._buffer)
        self._buffer = self._spare.pop() if self._spare else bytearray(BUFFER_BYTES)
        self._view = memoryview(self._buffer)
        self._filled = 0

    def _hand(self, data: bytes | memoryview, buffer: bytearray | None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flux2-file-writer", daemon=True)
            self._thread.start()
        self._handed += len(data)
        self._queue.put((data, buffer))

    def _stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            data, buffer = item
            if self._error is None and not self._dropping:
                try:
                    self._write(data)
                except BaseException as exc:  # raised in the caller's thread by its next call
                    self._error = exc
            if buffer is not None:
                self._spare.append(buffer)
            with self._progress:
                self._written += len(data)
                self._progress.notify()

    def _write(self, data: bytes | memoryview) -> None:
        _write_fully(self._fd, data)
        written = self._written + len(data)
        if _START_WRITEBACK is not None and written - self._flushed >= WRITEBACK_BYTES:
            # Hands what was written so far to the disk now, without waiting for it, so the
            # sync that makes the file durable has only the tail left to flush.
            _START_WRITEBACK(self._fd, self._flushed, written - self._flushed)
            self._flushed = written


def _write_fully(fd: int, data: bytes | memoryview) -> None:
    with memoryview(data) as view:
        done = 0
        while done < len(view):  # a short write (a signal, a nearly full disk): the rest
            done += os.write(fd, view[done:])


def _start_writeback(fd: int, offset: int, length: int) -> None:
    # On Linux, DONTNEED starts writeback of the range's dirty pages without waiting for it
    # (and drops its pages from the cache once they are clean).
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


_START_WRITEBACK: Final[Callable[[int, int, int], None] | None] = (
    _start_writeback if hasattr(os, "posix_fadvise") else None
)
