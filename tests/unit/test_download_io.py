"""Where a download's file work happens: the async client keeps it off its event loop, in
bounded batches, and a cancellation still leaves no file."""

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
from flux2 import _transfer, downloads
from flux2.downloads import FileSink

# Larger than a write batch and than the stretch after which writeback is started.
BIG = PNG + bytes(range(256)) * ((downloads.WRITEBACK_BYTES + _transfer.WRITE_BATCH) // 256 + 1)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_large_download_is_written_whole(run: Runner, api: FakeBFL, tmp_path: Path) -> None:
    api.image = BIG
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path)
    assert saved.read_bytes() == BIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task-1.png"]


def test_the_async_client_writes_files_outside_its_event_loop(
    api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.image = BIG
    threads: dict[str, set[int]] = {}
    for name in ("begin", "write", "finish"):
        original = getattr(FileSink, name)

        def spy(self: FileSink, *args: Any, _name: str = name, _original: Any = original) -> Any:
            threads.setdefault(_name, set()).add(threading.get_ident())
            return _original(self, *args)

        monkeypatch.setattr(FileSink, name, spy)

    async def main() -> tuple[Path, int]:
        async with make_async_client(api) as client:
            image = await client.generate("a fox")
            return await image.asave(tmp_path), threading.get_ident()

    saved, loop_thread = asyncio.run(main())
    assert saved.read_bytes() == BIG
    assert set(threads) == {"begin", "write", "finish"}
    assert all(loop_thread not in seen for seen in threads.values())


def test_a_cancelled_async_download_waits_for_its_write_then_leaves_no_file(
    api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.image = BIG
    writing, release = threading.Event(), threading.Event()
    events: list[str] = []
    write, abort = FileSink.write, FileSink.abort

    def slow_write(self: FileSink, chunk: bytes) -> None:
        if not writing.is_set():
            writing.set()
            release.wait(10)  # never hangs the suite, even when the loop itself waits
        write(self, chunk)
        events.append("write")

    def logged_abort(self: FileSink) -> None:
        events.append("abort")
        abort(self)

    monkeypatch.setattr(FileSink, "write", slow_write)
    monkeypatch.setattr(FileSink, "abort", logged_abort)

    async def main() -> None:
        async with make_async_client(api) as client:
            image = await client.generate("a fox")
            saving = asyncio.create_task(image.asave(tmp_path))
            await asyncio.get_running_loop().run_in_executor(None, writing.wait)
            saving.cancel()
            for _ in range(20):
                await asyncio.sleep(0)
            # Cancelled, but not done while its write still runs: clean-up must come after.
            assert not saving.done()
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await saving

    asyncio.run(main())
    assert events[-1] == "abort"
    assert "write" in events
    assert list(tmp_path.iterdir()) == []


MIB = 1 << 20


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A 200 body of ``count`` chunks of 1 MiB (a PNG), sent one at a time; ``after(n)`` runs
    once chunk ``n`` was taken (it may raise or, in the async client, wait)."""

    def __init__(self, count: int, after: Callable[[int], Any] | None = None) -> None:
        self.count = count
        self.after = after
        self.sent = 0

    def _chunk(self, n: int) -> bytes:
        return (PNG if n == 0 else b"") + bytes([n % 251]) * (MIB - (len(PNG) if n == 0 else 0))

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
            if self.after is not None:
                outcome = self.after(n)
                if asyncio.iscoroutine(outcome):
                    await outcome

    def whole(self) -> bytes:
        return b"".join(self._chunk(n) for n in range(self.count))


def streamed(body: Chunks) -> httpx.Response:
    return httpx.Response(200, stream=body, headers={"content-type": "image/png"})


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "flux2-file-writer"]


def test_a_streamed_download_is_written_whole_by_a_thread_of_its_own(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = Chunks(12)
    api.delivery_replies = [streamed(body)]
    threads: set[int] = set()
    write = downloads._write_fully

    def spy(fd: int, chunks: list[bytes]) -> int:
        threads.add(threading.get_ident())
        return write(fd, chunks)

    monkeypatch.setattr(downloads, "_write_fully", spy)
    image = run("generate", "a fox")
    saved = run.save(image, tmp_path)
    assert saved.read_bytes() == body.whole()
    assert leftovers(tmp_path) == ["task-1.png"]
    # Neither the caller's thread nor the async client's event loop: the sink's writer.
    assert threading.get_ident() not in threads
    assert writer_threads() == []


def test_a_small_download_is_written_without_a_thread(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(downloads._WriteBehind, "__init__", lambda *a: started.append(a))
    image = run("generate", "a fox")
    assert run.save(image, tmp_path).read_bytes() == PNG
    assert started == []


@pytest.mark.parametrize("failing", [0, 3])
def test_a_failing_disk_stops_the_download_with_a_flux2_error_and_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    body = Chunks(40)
    api.delivery_replies = [streamed(body)]
    write = downloads._write_fully
    calls = 0

    def full_disk(fd: int, chunks: list[bytes]) -> int:
        nonlocal calls
        calls += 1
        if calls > failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, chunks)

    monkeypatch.setattr(downloads, "_write_fully", full_disk)
    image = run("generate", "a fox")
    with pytest.raises(flux2.UnexpectedError, match=r"writing the result failed.*No space left"):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []
    assert body.sent < body.count  # the download stopped, not only the writing
    assert writer_threads() == []
    assert len(api.to("delivery-eu1.bfl.ai")) == 1  # a disk error is not the network's: no retry


def test_an_error_at_the_last_write_is_raised_by_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int, chunks: list[bytes]) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(downloads, "_write_fully", full_disk)
    sink = FileSink(tmp_path, stem="t")
    sink.begin("image/png")
    sink.write(PNG + bytes(downloads.WRITE_BATCH))  # handed to the writer, which fails
    with pytest.raises(OSError, match="No space left"):
        sink.finish()
    assert leftovers(tmp_path) == []
    assert writer_threads() == []


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # writev may write less than asked (a signal, a nearly full disk); the rest follows.
    monkeypatch.setattr(downloads, "_writev", lambda fd, chunks: os.write(fd, chunks[0][:5]))
    sink = FileSink(tmp_path / "x.png", stem="t")
    assert sink.write_all(PNG).read_bytes() == PNG
    content = PNG + bytes(range(256)) * 9000
    assert FileSink(tmp_path / "y.png", stem="t").write_all(content).read_bytes() == content


def test_an_interrupt_while_the_writer_writes_waits_for_it_then_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, release = threading.Event(), threading.Event()
    events: list[tuple[str, list[str]]] = []
    write = downloads._write_fully

    def slow_write(fd: int, chunks: list[bytes]) -> int:
        writing.set()
        release.wait(10)  # never hangs the suite
        events.append(("written", leftovers(tmp_path)))
        return write(fd, chunks)

    cancel = downloads._WriteBehind.cancel

    def logged_cancel(self: Any) -> None:
        events.append(("cancel", []))
        release.set()
        cancel(self)

    async def hang() -> None:
        await asyncio.Event().wait()

    def interrupt(n: int) -> Any:
        if n < 2:
            return None
        writing.wait(10)
        if run.kind == "sync":
            raise KeyboardInterrupt  # Ctrl-C while the writer thread writes
        return hang()

    body = Chunks(20, interrupt)
    api.delivery_replies = [streamed(body)]
    monkeypatch.setattr(downloads, "_write_fully", slow_write)
    monkeypatch.setattr(downloads._WriteBehind, "cancel", logged_cancel)
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
