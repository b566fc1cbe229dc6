"""generate_many (bounded, per-item errors, tasks recorded before waiting, resumable) and the
batch runner against answers no server should send: hostile task ids, garbled or failing ones."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from flux2_fakes import FakeBFL, Runner, json_body, make_async_client, make_client

import flux2


def test_items_of_every_kind_give_one_result_each(run: Runner, api: FakeBFL) -> None:
    old = flux2.Task("task-old", "https://api.eu2.bfl.ai/v1/get_result?id=task-old", model="flex")
    items = ["fox one", {"prompt": "fox two", "seed": 3}, {"prompt": "bad", "steps": 99}, old]
    results = sorted(run("generate_many", items, model="flex"), key=lambda r: r.index)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.ok for r in results] == [True, True, False, True], [r.error for r in results]
    assert isinstance(results[2].error, flux2.InputError)
    assert results[2].task is None
    assert results[3].task is old
    assert results[3].image is not None
    assert results[3].image.task_id == "task-old"
    sent = sorted(json_body(r)["prompt"] for r in api.submissions())
    assert sent == ["fox one", "fox two"]  # the Task item was only waited for
    assert results[1].item == {"prompt": "fox two", "seed": 3}


def test_defaults_apply_to_every_item(run: Runner, api: FakeBFL) -> None:
    run("generate_many", ["a", {"prompt": "b", "seed": 9}], model="klein-4b", seed=1)
    bodies = sorted((json_body(r) for r in api.submissions()), key=lambda b: b["prompt"])
    assert bodies == [{"prompt": "a", "seed": 1}, {"prompt": "b", "seed": 9}]
    assert {r.url.path for r in api.submissions()} == {"/v1/flux-2-klein-4b"}


def test_on_submitted_runs_before_the_first_poll(run: Runner, api: FakeBFL) -> None:
    recorded: dict[int, flux2.Task] = {}

    def remember(index: int, task: flux2.Task) -> None:
        api.events.append(("submitted", task.id))
        recorded[index] = task

    api.ready_after(2)
    run("generate_many", ["a", "b", "c"], on_submitted=remember)
    assert sorted(recorded) == [0, 1, 2]
    for task in recorded.values():
        assert task.polling_url
        assert api.events.index(("submitted", task.id)) < api.events.index(("poll", task.id))


def test_a_failed_task_is_that_items_error_only(run: Runner, api: FakeBFL) -> None:
    def poll(request: httpx.Request) -> httpx.Response:
        task_id = parse_qs(request.url.query.decode())["id"][0]
        if task_id == "task-2":
            return httpx.Response(200, json={"id": task_id, "status": "Content Moderated"})
        return api.poll(request)

    api.routes[("GET", "https://api.eu2.bfl.ai/v1/get_result")] = poll
    results = run("generate_many", ["a", "b", "c"], concurrency=1)
    by_task = {r.task.id: r for r in results if r.task}
    assert isinstance(by_task["task-2"].error, flux2.ContentModeratedError)
    assert by_task["task-1"].ok
    assert by_task["task-3"].ok


def test_the_batch_is_bounded(api: FakeBFL) -> None:
    api.ready_after(4)
    client = make_client(api)
    results = list(client.generate_many([f"p{i}" for i in range(12)], concurrency=3))
    assert len(results) == 12
    assert all(r.ok for r in results)
    assert api.max_in_flight <= 3
    async_api = FakeBFL()
    async_api.ready_after(4)
    aclient = make_async_client(async_api)

    async def main() -> list[flux2.BatchResult]:
        return [r async for r in aclient.generate_many([f"p{i}" for i in range(12)], concurrency=3)]

    assert len(asyncio.run(main())) == 12
    assert async_api.max_in_flight == 3


def test_stopping_early_stops_submitting(api: FakeBFL) -> None:
    api.ready_after(3)
    client = make_client(api)
    batch = client.generate_many([f"p{i}" for i in range(50)], concurrency=2)
    first = next(batch)
    batch.close()
    assert first.ok
    assert len(api.submissions()) < 10


async def test_stopping_an_async_batch_early_stops_submitting() -> None:
    api = FakeBFL()
    api.ready_after(3)
    client = make_async_client(api)
    batch = client.generate_many([f"p{i}" for i in range(50)], concurrency=2)
    first = await batch.__anext__()
    await batch.aclose()
    assert first.ok
    submitted = len(api.submissions())
    await asyncio.sleep(0)
    assert len(api.submissions()) == submitted < 10


def test_a_bad_item_type_is_a_per_item_error(run: Runner, api: FakeBFL) -> None:
    results = run("generate_many", [42, "ok"])
    by_index = {r.index: r for r in results}
    assert isinstance(by_index[0].error, flux2.InputError)
    assert by_index[1].ok


def test_a_webhook_item_is_refused(run: Runner, api: FakeBFL) -> None:
    (result,) = run("generate_many", [{"prompt": "a", "webhook_url": "https://h.example.com/x"}])
    assert isinstance(result.error, flux2.InputError)
    assert api.requests == []


def test_on_submitted_may_be_a_coroutine_function_for_the_async_client() -> None:
    api = FakeBFL()
    runner = Runner("async", api)
    seen: list[int] = []

    async def remember(index: int, task: flux2.Task) -> None:
        await asyncio.sleep(0)
        seen.append(index)

    runner("generate_many", ["a", "b"], on_submitted=remember)
    runner.close()
    assert sorted(seen) == [0, 1]


# -- flux2.batch: the same items rule, and what a hostile or broken answer cannot do ----------


def test_generate_many_and_the_batch_read_items_by_one_rule(run: Runner, api: FakeBFL) -> None:
    from flux2.batch import make_items

    items = ["a", {"prompt": "b", "seed": None}, {"prompt": "  "}, 7]
    results = sorted(run("generate_many", items, seed=1), key=lambda r: r.index)
    assert [r.ok for r in results] == [True, True, False, False]
    # None means "not given": the default applies, in generate_many as in a batch.
    bodies = sorted((json_body(r) for r in api.submissions()), key=lambda b: b["prompt"])
    assert [b["seed"] for b in bodies] == [1, 1]
    assert (
        make_items(["b"], {"seed": 1})[0].params
        == make_items([{"prompt": "b", "seed": None}], {"seed": 1})[0].params
    )
    for bad in ({"prompt": "  "}, 7):
        with pytest.raises(flux2.InputError):
            make_items([bad])


def _batch(client: flux2.AsyncClient, prompts: list[str], out: Path, **options: Any) -> Any:
    from flux2.batch import arun_batch, make_items

    async def main() -> Any:
        try:
            return await arun_batch(client, make_items(prompts), out, **options)
        finally:
            await client.close()

    return asyncio.run(main())


HOSTILE_IDS = ["/../../outside/pwned", "a/b/../c", "..", "../victim", "C:\\evil", "CON"]


def test_task_ids_never_become_paths_outside_the_directory(tmp_path: Path) -> None:
    from flux2.batch import Manifest

    out = tmp_path / "deep" / "out"
    # A half-download an earlier run might have left, under the hostile id's raw name.
    victim = tmp_path / "deep" / "victim.abc.part"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"not ours")
    api = FakeBFL()
    api.task_ids = iter(HOSTILE_IDS)
    prompts = [f"hostile {n}" for n in range(len(HOSTILE_IDS))]
    summary = _batch(make_async_client(api), prompts, out)
    assert summary.ok, [s.error for s in summary.failed + summary.uncertain]
    assert len(api.submissions()) == len(HOSTILE_IDS)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents]
    assert outside == [victim]
    images = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert len(images) == len(HOSTILE_IDS)
    assert all("/" not in name and not name.startswith(".") for name in images)
    assert not list(out.glob(".*.part"))
    states = Manifest(out).states().values()
    assert {s.task.id for s in states if s.task} == set(HOSTILE_IDS)
    # Resuming finds every image where it was written, and touches nothing outside.
    record = {"event": "submitted", "key": "x", "index": 9, "task": {"id": "/../victim"}}
    with (out / "manifest.jsonl").open("a", encoding="utf-8") as manifest:
        manifest.write(json.dumps(record) + "\n")
    again = _batch(make_async_client(FakeBFL()), prompts, out)
    assert again.already_done == len(HOSTILE_IDS)
    assert victim.read_bytes() == b"not ours"


def test_one_items_failure_of_any_kind_never_stops_the_others(tmp_path: Path) -> None:
    api = FakeBFL()
    submit_ok = api.submit_ok
    poll_ok = api.poll

    def submit(request: httpx.Request) -> httpx.Response:
        prompt = json_body(request)["prompt"]
        if prompt == "raises":
            raise RuntimeError("something nobody foresaw")
        if prompt == "garbled":
            return httpx.Response(200, content=b"{not json")
        if prompt == "server error":
            return httpx.Response(500, json={"detail": "Internal Server Error"})
        if prompt == "refused":
            return httpx.Response(402, json={"detail": "Insufficient credits"})
        return submit_ok(request)

    def poll(request: httpx.Request) -> httpx.Response:
        if "task-2" in str(request.url):
            raise RecursionError("maximum recursion depth exceeded")
        return poll_ok(request)

    api.routes[("POST", "https://api.bfl.ai/v1/flux-2-flex")] = submit
    api.routes[("GET", "https://api.eu2.bfl.ai/v1/get_result")] = poll
    prompts = ["fine 1", "raises", "fine 2", "garbled", "server error", "refused", "fine 3"]
    summary = _batch(make_async_client(api), prompts, tmp_path / "out", concurrency=2)
    by_prompt = {s.prompt: s for s in summary.failed + summary.uncertain + summary.done}
    assert {s.prompt for s in summary.done} == {"fine 1", "fine 3"}
    assert by_prompt["fine 2"].phase == "submitted"  # its wait failed; the next run waits again
    # Only a 4xx refusal proves no task exists; every other failed submit may have been billed.
    assert by_prompt["refused"].phase == "rejected"
    assert {s.prompt for s in summary.uncertain} == {"raises", "garbled", "server error"}
