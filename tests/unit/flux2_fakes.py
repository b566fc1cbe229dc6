"""Test doubles for the library's unit tests: a scripted BFL API behind httpx.MockTransport,
a clock whose sleeps cost no time, and a runner that drives Client and AsyncClient alike."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx

import flux2

KEY = "sk-test-0123456789abcdef"
BASE = "https://api.bfl.ai"
REGION = "https://api.eu2.bfl.ai"
DELIVERY = "https://delivery-eu1.bfl.ai"
SIG = "c2VjcmV0LXNpZ25hdHVyZQ"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))


def result_url(task_id: str, expires: str = "2999-01-01T00:00:00Z") -> str:
    return f"{DELIVERY}/results/{task_id}/sample.jpeg?se={expires}&sp=r&sig={SIG}"


class FakeClock:
    """Time that only moves when the client sleeps; records every sleep."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.sleep(seconds)
        return event.is_set()

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent chunk by chunk (not read up front, as ``content=`` would be).

    ``chunks`` may be endless; ``on_chunk`` runs before each one (to move a fake clock).
    """

    def __init__(self, chunks: Iterable[bytes], on_chunk: Callable[[], object] | None = None):
        self._chunks = chunks
        self._on_chunk = on_chunk

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self._on_chunk is not None:
                self._on_chunk()
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def streamed(
    status: int,
    chunks: Iterable[bytes],
    *,
    headers: dict[str, str] | None = None,
    on_chunk: Callable[[], object] | None = None,
) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, stream=Chunks(chunks, on_chunk))


Reply = httpx.Response | BaseException
Responder = Callable[[httpx.Request], Reply]


class FakeBFL:
    """A scripted API. Every request is recorded with the clock time it arrived at.

    - submit: answers from ``submit_replies`` (in order) when given, else a task with a
      polling_url on ``polling_base``;
    - poll: answers from ``polls`` (in order; the last one repeats);
    - delivery: ``image`` bytes, unless ``delivery_replies`` says otherwise.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.submit_replies: list[Responder | Reply] = []
        self.polls: list[Responder | Reply | dict[str, Any]] = []
        self.delivery_replies: list[Responder | Reply] = []
        self.polling_base = REGION
        self.task_ids = iter(f"task-{n}" for n in range(1, 10_000))
        self.image = PNG
        self.routes: dict[tuple[str, str], Responder] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._poll_index: dict[str, int] = {}
        self._lock = threading.RLock()
        self.events: list[tuple[str, str]] = []

    # -- scripting ---------------------------------------------------------------------

    def ready_after(self, pending: int, *, progress: bool = True) -> None:
        """Polls answer Pending ``pending`` times, then Ready."""
        self.polls = [
            {"status": "Pending", **({"progress": (i + 1) / (pending + 1)} if progress else {})}
            for i in range(pending)
        ]
        self.polls.append({"status": "Ready"})

    # -- transport ---------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.times.append(self.clock.now)
            reply = self._route(request)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _route(self, request: httpx.Request) -> Reply:
        key = (request.method, f"{request.url.scheme}://{request.url.host}{request.url.path}")
        if key in self.routes:
            return self.routes[key](request)
        path = request.url.path
        if request.url.host.startswith("delivery"):
            if self.delivery_replies:
                return _resolve(self.delivery_replies.pop(0), request)
            return httpx.Response(200, content=self.image, headers={"content-type": "image/png"})
        if request.method == "POST" and path.startswith("/v1/flux-2-"):
            if self.submit_replies:
                return _resolve(self.submit_replies.pop(0), request)
            return self.submit_ok(request)
        if request.method == "GET" and path == "/v1/get_result":
            return self.poll(request)
        if request.method == "GET" and path == "/v1/credits":
            return httpx.Response(200, json={"credits": 123.5})
        return httpx.Response(404, json={"detail": "Not Found"})

    def submit_ok(self, request: httpx.Request) -> httpx.Response:
        task_id = next(self.task_ids)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        body = json.loads(request.content)
        if "webhook_url" in body:
            return httpx.Response(
                200,
                json={"id": task_id, "status": "Pending", "webhook_url": body["webhook_url"]},
            )
        return httpx.Response(
            200,
            json={
                "id": task_id,
                "polling_url": f"{self.polling_base}/v1/get_result?id={task_id}",
                "cost": 10.0,
                "input_mp": 0.0,
                "output_mp": 1.0,
            },
        )

    def poll(self, request: httpx.Request) -> httpx.Response:
        task_id = parse_qs(request.url.query.decode())["id"][0]
        self.events.append(("poll", task_id))
        index = self._poll_index.get(task_id, 0)
        self._poll_index[task_id] = index + 1
        script = self.polls or [{"status": "Ready"}]
        entry = script[min(index, len(script) - 1)]
        if not isinstance(entry, dict):
            reply = _resolve(entry, request)
            if isinstance(reply, BaseException):
                raise reply
            return reply
        body = {"id": task_id, **entry}
        if body["status"] == "Ready" and "result" not in body:
            body["result"] = {
                "sample": result_url(task_id),
                "prompt": "upsampled prompt",
                "seed": 42,
                "start_time": self.clock.now - 5,
                "end_time": self.clock.now,
                "duration": 5.0,
            }
        if body["status"] not in {"Pending", "Generating", "Reasoning", "Dreaming"}:
            self.in_flight -= 1
        return httpx.Response(200, json=body)

    # -- inspection --------------------------------------------------------------------

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.host}{r.url.path}" for r in self.requests]

    def submissions(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    def polls_made(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/v1/get_result"]

    def to(self, host: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == host]


def _resolve(item: Any, request: httpx.Request) -> Reply:
    if isinstance(item, (httpx.Response, BaseException)):
        return item
    return item(request)


def json_body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def make_client(api: FakeBFL, **options: Any) -> flux2.Client:
    options.setdefault("api_key", KEY)
    options.setdefault("base_url", BASE)
    client = flux2.Client(http_client=httpx.Client(transport=api.transport()), **options)
    return client._set_clock(api.clock, _seeded())


def make_async_client(api: FakeBFL, **options: Any) -> flux2.AsyncClient:
    options.setdefault("api_key", KEY)
    options.setdefault("base_url", BASE)
    client = flux2.AsyncClient(http_client=httpx.AsyncClient(transport=api.transport()), **options)
    return client._set_clock(api.clock, _seeded())


def _seeded() -> Any:
    import random

    return random.Random(1234)


class Runner:
    """Calls the same method on a Client or an AsyncClient and returns plain results, so one
    test body holds both to the same behaviour."""

    def __init__(self, kind: str, api: FakeBFL, **options: Any) -> None:
        self.kind = kind
        self.api = api
        self._loop = asyncio.new_event_loop() if kind == "async" else None
        self.client: flux2.Client | flux2.AsyncClient = (
            make_async_client(api, **options) if kind == "async" else make_client(api, **options)
        )

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self._loop is not None:
            if method == "generate_many":
                return self._loop.run_until_complete(_collect(result))
            return self._loop.run_until_complete(result)
        if method == "generate_many":
            return list(result)
        return result

    def run(self, awaitable_or_value: Any) -> Any:
        if self._loop is not None and asyncio.iscoroutine(awaitable_or_value):
            return self._loop.run_until_complete(awaitable_or_value)
        return awaitable_or_value

    def save(self, image: flux2.GeneratedImage, path: Any) -> Any:
        if self._loop is not None:
            return self._loop.run_until_complete(image.asave(path))
        return image.save(path)

    def close(self) -> None:
        if self._loop is not None:
            assert isinstance(self.client, flux2.AsyncClient)
            self._loop.run_until_complete(self.client.close())
            self._loop.close()
        else:
            assert isinstance(self.client, flux2.Client)
            self.client.close()


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def all_text(items: Iterable[Any]) -> str:
    return "\n".join(str(i) for i in items)
