"""Where a download's file work happens: in a thread of the file's own, while the next bytes
arrive, never on the async client's event loop; in bounded memory; and a failure, an
interrupt or a cancellation still leaves no file and no thread behind."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux2_fakes import PNG, FakeBFL, Runner, make_async_client

import flux2
from flux2 import _writer
from flux2.downloads import FileSink

# Larger than a buffer and than the stretch after which writeback is started.
BIG = PNG + bytes(range(256)) * ((_writer.WRITEBACK_BYTES + _writer.BUFFER_BYTES) // 256 + 1)
# Chunks that do not divide a buffer: some are split between two.
CHUNK = 3 * _writer.BUFFER_BYTES // 8 + 5


class PngBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A 200 body (a PNG) of ``count`` chunks, sent one at a time; ``after(n)`` runs once
    chunk ``n`` was taken (it may raise, or return a coroutine the async body awaits)."""

    def __init__(self, count: int, after: Callable[[int], Any] | None = None) -> None:
        self.count = count
        self.after = after
        self.sent = 0

    def _chunk(self, n: int) -> bytes:
        head = PNG if n == 0 else b""
        return head + bytes([n % 251]) * (CHUNK - len(head))

    def __iter__(self) -> Iterator[bytes]:
        for n in range(self.count):
            self.sent += 1
            yield self._chunk(n)
            if self.after is not None:
                self.after(n)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for n in range(self.count):
            self.sent += 1
            yield self._chunk(n)
            outcome = self.after(n) if self.after is not None else None
            if asyncio.iscoroutine(outcome):
                await outcome

    def whole(self) -> bytes:
        return b"".join(self._chunk(n) for n in range(self.count))


def streamed(body: PngBody) -> httpx.Response:
    return httpx.Response(200, stream=body, headers={"content-type": "image/png"})


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "flux2-file-writer"]


def spy_on_writes(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads the file's bytes are written from."""
    threads: set[int] = set()
    write = _writer._write_fully

    def spy(fd: int, data: Any) -> None:
        threads.add(threading.get_ident())
        write(fd, data)

    monkeypatch.setattr(_writer, "_write_fully", spy)
    return threads


def test_a_large_download_is_written_whole(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.image = BIG
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path)
    assert saved.read_bytes() == BIG
    assert leftovers(tmp_path) == ["task-1.png"]


def test_a_streamed_download_is_written_whole_by_a_thread_of_its_own(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = PngBody(40)
    api.delivery_replies = [streamed(body)]
    threads = spy_on_writes(monkeypatch)
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path)
    assert saved.read_bytes() == body.whole()
    assert leftovers(tmp_path) == ["task-1.png"]
    # Neither the caller's thread nor the async client's event loop: the file's writer.
    assert threading.get_ident() not in threads
    assert writer_threads() == []


def test_the_async_client_does_no_file_work_on_its_event_loop(
    api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = PngBody(40)
    api.delivery_replies = [streamed(body)]
    threads: dict[str, set[int]] = {"write": spy_on_writes(monkeypatch)}
    drained = threading.Event()
    for name in ("begin", "drain", "finish"):
        original = getattr(FileSink, name)

        def spy(self: FileSink, *args: Any, _name: str = name, _original: Any = original) -> Any:
            threads.setdefault(_name, set()).add(threading.get_ident())
            if _name == "drain":
                drained.set()
            return _original(self, *args)

        monkeypatch.setattr(FileSink, name, spy)
    # A writer slower than the network: it writes only once the download waits for it.
    write = _writer._write_fully

    def slow_write(fd: int, data: Any) -> None:
        drained.wait(10)  # never hangs the suite
        write(fd, data)

    monkeypatch.setattr(_writer, "_write_fully", slow_write)

    async def main() -> tuple[Path, int]:
        async with make_async_client(api) as client:
            image = await client.generate("a fox")
            return await image.asave(tmp_path), threading.get_ident()

    saved, loop_thread = asyncio.run(main())
    assert saved.read_bytes() == body.whole()
    assert set(threads) == {"write", "begin", "drain", "finish"}
    assert all(loop_thread not in seen for seen in threads.values())


def test_a_small_download_is_written_without_a_thread(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = spy_on_writes(monkeypatch)
    image = run("generate", "a fox")
    assert run.save(image, tmp_path).read_bytes() == PNG
    assert len(threads) == 1
    assert writer_threads() == []


def test_memory_stays_bounded_when_the_disk_is_slower_than_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    write = _writer._write_fully

    def stuck(fd: int, data: Any) -> None:
        release.wait(10)  # never hangs the suite
        write(fd, data)

    monkeypatch.setattr(_writer, "_write_fully", stuck)
    sink = FileSink(tmp_path, stem="t")
    sink.begin("image/png")
    chunks = [PNG + bytes(CHUNK - len(PNG))] + [bytes([n]) * CHUNK for n in range(1, 40)]
    taken = 0
    while not sink.write(chunks[taken]):
        taken += 1
    # Asked to wait once it holds about the backlog, far short of the whole body.
    assert taken * CHUNK <= _writer.BACKLOG + 2 * _writer.BUFFER_BYTES
    release.set()
    sink.drain()
    for chunk in chunks[taken + 1 :]:
        if sink.write(chunk):
            sink.drain()
    sink.finish()
    assert sink.path.read_bytes() == b"".join(chunks)


@pytest.mark.parametrize("failing", [0, 3])
def test_a_failing_disk_stops_the_download_with_a_flux2_error_and_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    body = PngBody(40)
    api.delivery_replies = [streamed(body)]
    write = _writer._write_fully
    calls = 0

    def full_disk(fd: int, data: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(fd, data)

    monkeypatch.setattr(_writer, "_write_fully", full_disk)
    image = run("generate", "a fox")
    with pytest.raises(flux2.UnexpectedError, match=r"writing the result failed.*No space left"):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []
    assert body.sent < body.count  # the download stopped, not only the writing
    assert writer_threads() == []
    assert len(api.to("delivery-eu1.bfl.ai")) == 1  # a disk error is not the network's: no retry


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", ["size limit", "deadline"])
def test_a_download_cut_while_the_writer_writes_leaves_no_file_and_no_thread(
    api: FakeBFL, tmp_path: Path, kind: str, cut: str
) -> None:
    def late(n: int) -> None:
        if cut == "deadline" and n == 20:
            api.clock.now += 3600

    body = PngBody(40, late)
    api.delivery_replies = [streamed(body)]
    limit = 12 * CHUNK if cut == "size limit" else 40 * CHUNK
    run = Runner(kind, api, max_download_bytes=limit, download_timeout=60)
    try:
        image = run("generate", "a fox")
        error = flux2.ResponseTooLargeError if cut == "size limit" else flux2.TransferTimeoutError
        with pytest.raises(error):
            run.save(image, tmp_path)
    finally:
        run.close()
    assert leftovers(tmp_path) == []
    assert writer_threads() == []


def test_an_error_at_the_last_write_is_raised_by_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int, data: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_writer, "_write_fully", full_disk)
    sink = FileSink(tmp_path, stem="t")
    sink.begin("image/png")
    sink.write(PNG + bytes(_writer.BUFFER_BYTES))  # handed to the writer, which fails
    with pytest.raises(OSError, match="No space left"):
        sink.finish()
    assert leftovers(tmp_path) == []
    assert writer_threads() == []


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A write may take less than it was given (a signal, a nearly full disk); the rest follows.
    write = os.write
    monkeypatch.setattr(_writer.os, "write", lambda fd, data: write(fd, bytes(data[:1000])))
    for n, content in enumerate([PNG, BIG]):
        sink = FileSink(tmp_path / f"{n}.png", stem="t")
        assert sink.write_all(content).read_bytes() == content


def test_an_interrupt_while_the_writer_writes_waits_for_it_then_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, release = threading.Event(), threading.Event()
    events: list[tuple[str, list[str]]] = []
    write = _writer._write_fully

    def slow_write(fd: int, data: Any) -> None:
        writing.set()
        release.wait(10)  # never hangs the suite
        events.append(("written", leftovers(tmp_path)))
        write(fd, data)

    cancel = _writer.FileWriter.cancel

    def logged_cancel(self: Any) -> None:
        events.append(("cancel", []))
        release.set()
        cancel(self)

    async def wait_then_hang() -> None:
        await asyncio.get_running_loop().run_in_executor(None, writing.wait, 10)
        await asyncio.Event().wait()

    def interrupt(n: int) -> Any:
        if n * CHUNK < _writer.BUFFER_BYTES:
            return None
        if run.kind == "sync":  # Ctrl-C once the writer thread writes the first buffer
            writing.wait(10)
            raise KeyboardInterrupt
        return wait_then_hang()

    body = PngBody(40, interrupt)
    api.delivery_replies = [streamed(body)]
    monkeypatch.setattr(_writer, "_write_fully", slow_write)
    monkeypatch.setattr(_writer.FileWriter, "cancel", logged_cancel)
    image = run("generate", "a fox")
    if run.kind == "sync":
        with pytest.raises(KeyboardInterrupt):
            run.save(image, tmp_path)
    else:

        async def cancelled() -> None:
            saving = asyncio.ensure_future(image.asave(tmp_path))
            await asyncio.get_running_loop().run_in_executor(None, writing.wait, 10)
            for _ in range(5):
                await asyncio.sleep(0)
            saving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await saving

        run.run(cancelled())
    # The writer's write ended before its file was removed, and nothing was written after.
    assert [event for event, _ in events] == ["cancel", "written"]
    assert [name.endswith(".part") for name in events[1][1]] == [True]
    assert leftovers(tmp_path) == []
    assert writer_threads() == []
