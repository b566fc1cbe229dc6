"""Where a download's file work happens: the async client keeps it off its event loop, in
bounded batches, and a cancellation still leaves no file."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from flux2_fakes import PNG, FakeBFL, Runner, make_async_client

from flux2 import _transfer, downloads
from flux2.downloads import FileSink

# Larger than a write batch and than the stretch after which writeback is started.
BIG = PNG + bytes(range(256)) * ((downloads.WRITEBACK_BYTES + _transfer.WRITE_BATCH) // 256 + 1)


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
