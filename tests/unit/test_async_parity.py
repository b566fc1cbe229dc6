"""Client and AsyncClient: the same surface and the same behaviour.

Most unit tests run every scenario against both (the ``run`` fixture); this module checks the
surface itself and compares the two clients' traffic for the same scenario request by request.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux2_fakes import FakeBFL, Runner, json_body, make_async_client, make_client

import flux2


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_the_same_public_methods() -> None:
    sync, async_ = public_methods(flux2.Client), public_methods(flux2.AsyncClient)
    assert sorted(sync) == sorted(async_)
    public_properties = {
        name for name, member in inspect.getmembers(flux2.Client) if isinstance(member, property)
    }
    assert public_properties == {
        name
        for name, member in inspect.getmembers(flux2.AsyncClient)
        if isinstance(member, property)
    }


@pytest.mark.parametrize("name", [*sorted(public_methods(flux2.Client)), "__init__"])
def test_the_same_signatures(name: str) -> None:
    sync = inspect.signature(getattr(flux2.Client, name))
    async_ = inspect.signature(getattr(flux2.AsyncClient, name))
    shape = [(p.name, p.kind, p.default) for p in sync.parameters.values()]
    assert shape == [(p.name, p.kind, p.default) for p in async_.parameters.values()]
    for param in sync.parameters.values():
        if param.name != "http_client":
            assert param.annotation == async_.parameters[param.name].annotation, param.name


def test_the_async_methods_are_awaitable() -> None:
    for name in ("generate", "submit", "wait", "get_result", "credits", "download", "close"):
        assert inspect.iscoroutinefunction(getattr(flux2.AsyncClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(flux2.Client, name)), name
    assert inspect.isasyncgenfunction(flux2.AsyncClient.generate_many)
    assert inspect.isgeneratorfunction(flux2.Client.generate_many)


def scenario(kind: str, tmp_path: Path) -> tuple[list[tuple[Any, ...]], list[float], Any]:
    api = FakeBFL()
    api.submit_replies = [httpx.Response(429, headers={"retry-after": "2"})]
    api.polls = [
        httpx.Response(503),
        {"status": "Pending", "progress": 0.4},
        {"status": "Generating", "progress": 0.9},
        {"status": "Ready"},
    ]
    api.delivery_replies = [httpx.Response(502)]
    runner = Runner(kind, api)
    seen: list[str] = []
    try:
        task = runner("submit", "a fox", model="pro", seed=1, width=1024, height=1024)
        image = runner("wait", task, on_progress=lambda r: seen.append(str(r)))
        saved = runner.save(image, f"{tmp_path}/{kind}/")
        try:
            runner("wait", flux2.Task("t-x", "https://evil.example.com/v1/get_result?id=t-x"))
        except flux2.UntrustedHostError as exc:
            refused = str(exc)
    finally:
        runner.close()
    traffic = [
        (
            r.method,
            str(r.url),
            r.headers.get("x-key"),
            json_body(r) if r.content else None,
        )
        for r in api.requests
    ]
    outcome = (task, image.result, saved.name, saved.read_bytes(), seen, refused)
    return traffic, [round(s, 6) for s in api.clock.sleeps], outcome


def test_the_same_scenario_gives_the_same_traffic_sleeps_and_results(tmp_path: Path) -> None:
    sync = scenario("sync", tmp_path)
    async_ = scenario("async", tmp_path)
    assert sync[0] == async_[0]
    assert sync[1] == async_[1]
    assert sync[2] == async_[2]


def test_async_generate_keeps_at_most_max_concurrency_tasks_in_flight() -> None:
    api = FakeBFL()
    api.ready_after(3)
    client = make_async_client(api, max_concurrency=3)

    async def main() -> list[flux2.GeneratedImage]:
        async with client:
            return await asyncio.gather(*(client.generate(f"fox {i}") for i in range(10)))

    images = asyncio.run(main())
    assert len({i.task_id for i in images}) == 10
    assert api.max_in_flight == 3
    assert len(api.submissions()) == 10


def test_sync_generate_from_threads_keeps_at_most_max_concurrency_in_flight() -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = FakeBFL()
    api.ready_after(3)
    client = make_client(api, max_concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        images = list(pool.map(lambda i: client.generate(f"fox {i}"), range(8)))
    assert len({i.task_id for i in images}) == 8
    assert api.max_in_flight <= 2


def test_sync_generate_submits_only_while_holding_a_slot() -> None:
    # Deterministic: every submission must arrive while one of the client's slots is taken.
    api = FakeBFL()
    client = make_client(api, max_concurrency=2)
    held: list[int] = []
    submit = api.submit_ok

    def watched(request: httpx.Request) -> httpx.Response:
        held.append(2 - client._slots._value)
        return submit(request)

    api.submit_ok = watched  # type: ignore[method-assign]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda i: client.generate(f"fox {i}"), range(4)))
    assert len(held) == 4
    assert all(n >= 1 for n in held)
    assert client._slots._value == 2  # all given back


def test_two_concurrent_batches_share_the_async_clients_cap() -> None:
    api = FakeBFL()
    api.ready_after(3)
    client = make_async_client(api, max_concurrency=2)

    async def batch(prefix: str) -> list[flux2.BatchResult]:
        return [r async for r in client.generate_many([f"{prefix}{i}" for i in range(4)])]

    async def main() -> list[list[flux2.BatchResult]]:
        async with client:
            return await asyncio.gather(batch("a"), batch("b"), batch("c"))

    results = [r for batch_results in asyncio.run(main()) for r in batch_results]
    assert all(r.ok for r in results)
    assert len(api.submissions()) == 12
    assert api.max_in_flight == 2
