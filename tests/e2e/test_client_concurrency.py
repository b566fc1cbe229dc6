"""Many tasks at once against a server that enforces an in-flight limit; sync batches."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flux2
from flux2.emulator import Emulator

KEY = "test-key"
SPEED = 0.01
LIMIT = 4


@pytest.fixture
def emu() -> Iterator[Any]:
    with Emulator(api_key=KEY, speed=SPEED, max_in_flight=LIMIT) as server:
        yield server


def rate_limited(emu: Any) -> int:
    return sum(1 for r in emu.requests if r.method == "POST") - len(emu.submissions())


def test_max_concurrency_keeps_the_async_client_under_the_limit(emu: Any) -> None:
    async def main() -> list[flux2.GeneratedImage]:
        async with flux2.AsyncClient(
            api_key=KEY,
            base_url=emu.base_url,
            max_concurrency=LIMIT,
            poll_schedule=flux2.PollSchedule(scale=SPEED),
        ) as client:
            return await asyncio.gather(
                *(client.generate(f"queued fox {i}", model="klein-4b") for i in range(12))
            )

    images = asyncio.run(main())
    assert len({i.task_id for i in images}) == 12
    assert rate_limited(emu) == 0


def test_over_the_limit_429s_are_retried_and_nothing_is_submitted_twice(emu: Any) -> None:
    async def main() -> list[flux2.GeneratedImage]:
        async with flux2.AsyncClient(
            api_key=KEY,
            base_url=emu.base_url,
            max_concurrency=2 * LIMIT,
            max_retries=20,
            poll_schedule=flux2.PollSchedule(scale=SPEED),
        ) as client:
            return await asyncio.gather(
                *(client.generate(f"eager fox {i}", model="klein-4b") for i in range(10))
            )

    images = asyncio.run(main())
    assert len({i.task_id for i in images}) == 10
    assert rate_limited(emu) > 0
    for i in range(10):
        assert len(emu.submissions(f"eager fox {i}")) == 1


def test_a_sync_batch_records_tasks_before_waiting_and_resumes_without_resubmitting(
    emu: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.jsonl"
    prompts = [f"batch fox {i}" for i in range(8)]

    def record(index: int, task: flux2.Task) -> None:
        polled = [r for r in emu.requests if r.origin == "polling" and task.id in r.query]
        assert polled == []  # recorded before the first poll of this task
        with manifest.open("a") as out:
            out.write(json.dumps({"index": index, **task.to_dict()}) + "\n")

    with flux2.Client(
        api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
    ) as client:
        first = list(
            client.generate_many(prompts, model="klein-4b", concurrency=LIMIT, on_submitted=record)
        )
        assert all(r.ok for r in first)
        assert rate_limited(emu) == 0
        stored = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert sorted(s["index"] for s in stored) == list(range(8))
        # Run again from the manifest: every task is waited for, none is submitted again.
        again = list(
            client.generate_many([flux2.Task.from_dict(s) for s in stored], concurrency=LIMIT)
        )
    assert all(r.ok for r in again)
    for result in again:
        assert result.image is not None
        result.image.save(tmp_path)
    assert len(emu.submissions()) == 8
    assert len(list(tmp_path.glob("*.jpg"))) == 8


def test_an_async_batch_left_unread_starts_no_new_task(emu: Any) -> None:
    width = 2

    async def main() -> int:
        async with flux2.AsyncClient(
            api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
        ) as client:
            results = client.generate_many(
                [f"unread fox {i}" for i in range(10)], model="klein-4b", concurrency=width
            )
            consumed = 0
            async for _ in results:
                consumed += 1
                break
            # The caller holds the iterator but reads no further: tasks in flight may finish,
            # nothing new may start.
            await asyncio.sleep(0.5)
            submitted = len(emu.submissions())
            await results.aclose()
            return submitted - consumed

    assert asyncio.run(main()) <= width


@pytest.mark.parametrize("held", [False, True], ids=["closed-early", "left-unread"])
def test_a_sync_batch_left_early_starts_no_new_task(emu: Any, held: bool) -> None:
    width = 2
    with flux2.Client(
        api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
    ) as client:
        results = client.generate_many(
            [f"early fox {held} {i}" for i in range(10)], model="klein-4b", concurrency=width
        )
        first = next(results)
        if held:
            # The caller holds the iterator but reads no further: the task in flight may
            # finish, nothing new may start.
            time.sleep(0.5)
        submitted = len(emu.submissions())
        results.close()
    assert first.ok
    assert submitted - 1 <= width
