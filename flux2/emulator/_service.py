"""The emulated service: its state and its HTTP handlers, as one Starlette application that
serves three listeners (api, polling, delivery), told apart by the local port of a request."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hmac
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from flux2._wire import AUTH_HEADER, CREDITS_PATH, RESULT_PATH

from . import _images
from . import _responses as answer
from ._creation import new_task, oversized, prompt_of
from ._delivery import Results
from ._endpoints import Endpoint, submit_endpoints
from ._faults import Fault, FaultError, FaultSet, parse_markers
from ._tasks import EmulatedTask, Origin, RecordedRequest, TaskView, WebhookDelivery
from ._timing import Timing
from ._validation import BodyValidator, json_error, missing_query, too_large
from ._webhooks import WebhookSender

__all__ = ["Config", "Service"]

# A base Retry-After, scaled by the speed factor like every simulated time.
_RETRY_AFTER: Final = 1.0
# What a moderated task names when the fault gives no reason; "Moderation Reasons" is the key
# live answers use [seen in clients].
_MODERATION_REASONS: Final = {
    "Request Moderated": "Prompt flagged by the input filter",
    "Content Moderated": "Derivative Works Filter",
}
_STATUS_MESSAGES: Final = {
    429: "Too many requests, please slow down",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service temporarily unavailable",
    504: "Gateway Timeout",
}
_DROPPED: Final = (answer.HangUp, answer.Abandon)


@dataclasses.dataclass
class Config:
    """Settings that may change while the emulator runs."""

    api_key: str | None
    speed: float
    result_ttl: float
    max_in_flight: int
    result_size: int | None
    timing: Timing = dataclasses.field(default_factory=Timing)


@dataclasses.dataclass(frozen=True)
class Origins:
    api: str
    polling: str
    delivery: str
    by_port: Mapping[int, Origin]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return answer.detail(exc.detail, exc.status_code, exc.headers)


def _parse_body(raw: bytes) -> tuple[Any, Response | None]:
    """The JSON of a submit body, or FastAPI's 422 when there is none or it cannot be read."""
    if not raw.strip():
        missing = {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
        return None, answer.invalid([missing])
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return None, answer.invalid(json_error(exc.pos, exc.msg))
    except UnicodeDecodeError as exc:
        return None, answer.invalid(json_error(exc.start, "Invalid UTF-8"))
    except (ValueError, RecursionError) as exc:
        # Numbers too long to convert, nesting deeper than a reader goes.
        return None, answer.invalid(json_error(0, str(exc) or type(exc).__name__))


class Service:
    """State and handlers of one emulator."""

    def __init__(
        self,
        config: Config,
        origins: Origins,
        *,
        credits: float,
        faults: Iterable[Fault],
        spec: Mapping[str, Any],
        close_connection: Callable[[Scope], bool],
        history: int,
    ) -> None:
        self.config = config
        self.origins = origins
        self.lock = threading.Lock()
        self.credits = float(credits)
        self.server_faults = FaultSet(faults)
        # What it remembers is bounded: the last `history` requests and deliveries, and as
        # many tasks (see _forget).
        self._history = history
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=history)
        self.tasks: dict[str, EmulatedTask] = {}
        # The tasks that may still be in flight: a task leaves flight only as time passes, so
        # the in-flight count costs what is in flight, not every task ever made.
        self._busy: dict[str, EmulatedTask] = {}
        self.webhooks: collections.deque[WebhookDelivery] = collections.deque(maxlen=history)
        self._spec = spec
        self.endpoints: dict[str, Endpoint] = submit_endpoints(spec)
        self._validators: dict[str, BodyValidator] = {}
        self._prompt_faults: dict[str, FaultSet] = {}
        self._close_connection = close_connection
        self.results = Results(origins.delivery, lambda: self.config.result_ttl)
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._webhook_sender = WebhookSender(
            sleep=self._sleep,
            task_body=self._task_body,
            record=self._record_webhook,
            speed=lambda: self.config.speed,
        )
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                )
            ],
            lifespan=self._lifespan,
            # Methods no route lists (TRACE, made-up ones) get FastAPI's JSON, not plain text.
            exception_handlers={HTTPException: _http_error},
        )

    # -- lifecycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            yield
        finally:
            await self.shutdown()

    def begin_stop(self) -> None:
        """From any thread: end pending waits, so the server can shut down at once."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)

    async def shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._webhook_sender.aclose()

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the emulator stops first."""
        if seconds <= 0:
            return not (self._stopping is not None and self._stopping.is_set())
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _record_webhook(self, delivery: WebhookDelivery) -> None:
        with self.lock:
            self.webhooks.append(delivery)

    # -- the in-flight index and what is remembered (with the lock held) -----------------

    def in_flight(self, now: float) -> list[EmulatedTask]:
        """The tasks in flight at ``now`` (call with the lock held)."""
        for task_id in [i for i, t in self._busy.items() if not t.in_flight(now)]:
            del self._busy[task_id]
        return list(self._busy.values())

    def _forget(self) -> None:
        """Past ``history`` tasks, forget the oldest that have ended (call with the lock held,
        right after ``in_flight``: tasks still in flight are kept, whatever their age)."""
        excess = len(self.tasks) - self._history
        if excess <= 0:
            return
        ended = []
        for task_id in self.tasks:
            if task_id not in self._busy:
                ended.append(task_id)
                if len(ended) == excess:
                    break
        for task_id in ended:
            del self.tasks[task_id]

    # -- dispatch ------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        origin = self.origins.by_port.get(request.scope["server"][1], "api")
        raw = await request.body()
        # Read once: the record and the task share the body (an input image is held once).
        parsed = _parse_body(raw) if raw else None
        record = self._record(origin, request, raw, parsed)
        response = await self._route(origin, request, raw, parsed)
        record.status = None if isinstance(response, _DROPPED) else response.status_code
        return response

    def _record(
        self,
        origin: Origin,
        request: Request,
        raw: bytes,
        parsed: tuple[Any, Response | None] | None,
    ) -> RecordedRequest:
        body: Any = None
        if parsed is not None:
            body, refusal = parsed
            if refusal is not None:
                body = raw.decode("utf-8", "replace")
        key = request.headers.get(AUTH_HEADER)
        headers = {
            name: ("***" if name == AUTH_HEADER else value)
            for name, value in request.headers.items()
        }
        record = RecordedRequest(
            origin=origin,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            host=request.headers.get("host"),
            has_key=key is not None,
            key_matches=self._key_ok(key),
            json=body,
            time=time.time(),
            headers=headers,
        )
        with self.lock:
            self.requests.append(record)
        return record

    def _key_ok(self, key: str | None) -> bool:
        if not key:
            return False
        expected = self.config.api_key
        if expected is None:
            return True
        return hmac.compare_digest(key.encode(), expected.encode())

    async def _route(
        self,
        origin: Origin,
        request: Request,
        raw: bytes,
        parsed: tuple[Any, Response | None] | None,
    ) -> Response:
        path, method = request.url.path, request.method
        if origin == "delivery":
            if method in ("GET", "HEAD") and path.startswith("/results/"):
                return await self._deliver(request)
            return answer.azure_error(
                "ResourceNotFound", "The specified resource does not exist.", 404
            )
        if path in self.endpoints and origin == "api":
            allowed = "POST"
        elif path == RESULT_PATH or (path == CREDITS_PATH and origin == "api"):
            allowed = "GET"
        else:
            return answer.detail("Not Found", 404)
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            return answer.detail("Method Not Allowed", 405, {"allow": allowed})
        # FastAPI resolves the key dependency before it reads the body: no key, no 422.
        key = request.headers.get(AUTH_HEADER)
        if not key:
            return answer.detail("Not authenticated", 403)
        if not self._key_ok(key):
            return answer.detail("Not authenticated - Invalid Authentication", 403)
        if path == CREDITS_PATH:
            with self.lock:
                return answer.json_answer({"credits": round(self.credits, 4)})
        if path == RESULT_PATH:
            return await self._poll(origin, request)
        return await self._submit(self.endpoints[path], parsed or _parse_body(raw))

    # -- submit --------------------------------------------------------------------------

    def _validator(self, endpoint: Endpoint) -> BodyValidator:
        validator = self._validators.get(endpoint.request_schema)
        if validator is None:
            validator = BodyValidator(self._spec, endpoint.request_schema)
            self._validators[endpoint.request_schema] = validator
        return validator

    def _retry_after(self, fault: Fault | None, seconds: float) -> dict[str, str]:
        scaled = seconds * self.config.speed
        if fault is not None and fault.retry_after == "date":
            return {"retry-after": answer.http_date(time.time() + max(1.0, math.ceil(scaled)))}
        if fault is not None and fault.retry_after is not None:
            return {"retry-after": fault.retry_after}
        return {"retry-after": str(round(scaled))}

    def _status_fault(self, fault: Fault) -> Response:
        assert fault.status is not None
        headers = self._retry_after(fault, _RETRY_AFTER) if fault.status in (429, 503) else {}
        message = _STATUS_MESSAGES.get(fault.status, f"Emulated HTTP {fault.status}")
        return answer.detail(message, fault.status, headers)

    def _abandon(self) -> Response:
        return answer.Abandon(self._close_connection, self._stopping)

    async def _submit(self, endpoint: Endpoint, parsed: tuple[Any, Response | None]) -> Response:
        body, refusal = parsed
        if refusal is not None:
            return refusal
        validator = self._validator(endpoint)
        errors = validator.errors(body)
        if errors:
            return answer.invalid(errors)
        pixels = oversized(endpoint, body)
        if pixels is not None:
            return answer.invalid(too_large(pixels, body))
        prompt = prompt_of(endpoint, body)
        try:
            markers = parse_markers(prompt)
        except FaultError as exc:
            detail = {"type": "value_error", "loc": ["body", "prompt"], "msg": str(exc)}
            return answer.invalid([{**detail, "input": prompt}])
        with self.lock:
            own = self._prompt_faults.get(prompt)
            if own is None:
                own = FaultSet(f for f in markers.faults if f.stage in ("submit", "any"))
                if own:  # kept across submits for their counts; a prompt without any is not
                    self._prompt_faults[prompt] = own
            server = self.server_faults
        await self._sleep(server.delay("submit") + own.delay("submit"))
        status_fault = server.take_status("submit") or own.take_status("submit")
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.get("insufficient-credits") or own.get("insufficient-credits"):
            return answer.detail("Insufficient credits", 402)

        task = await run_in_threadpool(
            new_task,
            endpoint,
            body,
            speed=self.config.speed,
            timing=self.config.timing.draw(endpoint.name),
            polling_origin=self.origins.polling,
            markers=markers,
            outcome_faults=server.outcome(),
            unknown_fields=validator.unknown_fields(body),
            result_size=self.config.result_size,
        )
        now = time.time()
        with self.lock:
            busy = self.in_flight(now)
            if len(busy) >= self.config.max_in_flight:
                # Ask to come back when the first task in flight ends (stuck ones never do).
                ends = [t.end_time for t in busy if not t.stuck]
                wait = min(ends) - now if ends else _RETRY_AFTER * self.config.speed
                return answer.detail(
                    f"Too many tasks in flight: at most {self.config.max_in_flight}",
                    429,
                    {"retry-after": str(max(0, round(wait)))},
                )
            if self.credits < task.cost:
                return answer.detail("Insufficient credits", 402)
            self.credits = round(self.credits - task.cost, 6)
            task.created = now
            self.tasks[task.id] = task
            self._busy[task.id] = task
            self._forget()
        if task.webhook_url is not None:
            self._spawn(self._webhook_sender.send(task, body.get("webhook_secret")))
        # From here on the task exists and is billed: the faults below spoil only the answer.
        if server.take("drop-submit") or own.take("drop-submit"):
            return answer.HangUp(self._close_connection)
        if server.take("hang-submit") or own.take("hang-submit"):
            return self._abandon()
        reply: dict[str, Any] = {"id": task.id}
        if task.webhook_url is not None:
            # With a webhook the answer names it and has no polling_url [doc].
            reply.update(status="Pending", webhook_url=task.webhook_url)
        else:
            reply["polling_url"] = task.polling_url
        reply.update(cost=task.cost, input_mp=task.input_mp, output_mp=task.output_mp)
        if server.take("deep-json-submit") or own.take("deep-json-submit"):
            return answer.deep_json(reply)
        if server.take("bad-encoding-submit") or own.take("bad-encoding-submit"):
            return answer.badly_encoded_json(reply)
        return answer.json_answer(reply)

    # -- polling -------------------------------------------------------------------------

    def _not_found(self, task_id: str, status: int) -> Response:
        body = {
            "id": task_id,
            "status": "Task not found",
            "result": None,
            "progress": None,
            "details": None,
            "preview": None,
        }
        return answer.json_answer(body, status)

    async def _poll(self, origin: Origin, request: Request) -> Response:
        task_id = request.query_params.get("id")
        if task_id is None:
            return answer.invalid(missing_query("id"))
        with self.lock:
            task = self.tasks.get(task_id)
            server = self.server_faults
        if task is None:
            return self._not_found(task_id, 404 if origin == "api" else 200)
        if origin == "api" and task.polling_url is not None:
            # The task lives on a regional cluster; the global host does not know it [doc].
            return self._not_found(task_id, 404)
        with self.lock:
            task.polls += 1
            first = task.polls == 1
        own = task.faults
        await self._sleep(server.delay("poll") + own.delay("poll"))
        status_fault = server.take_status("poll") or own.take_status("poll")
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.take("drop-poll") or own.take("drop-poll"):
            return answer.HangUp(self._close_connection)
        if server.take("hang-poll") or own.take("hang-poll"):
            return self._abandon()
        long_wait = server.get("long-retry-after") or own.get("long-retry-after")
        if long_wait is not None:
            return answer.detail(_STATUS_MESSAGES[503], 503, self._retry_after(long_wait, 0))
        if server.get("not-found") or own.get("not-found"):
            return self._not_found(task_id, 200)
        view = task.view(time.time(), first_poll=first)
        body = self._task_body(task, view)
        status = 422 if view.terminal and task.poll_422 else 200
        headers: dict[str, str] = {}
        busy = server.take("poll-503-task") or own.take("poll-503-task")
        if busy is not None:
            status, headers = 503, self._retry_after(busy, _RETRY_AFTER)
        return self._poll_answer(server, own, body, status, headers)

    def _poll_answer(
        self,
        server: FaultSet,
        own: FaultSet,
        body: dict[str, Any],
        status: int,
        headers: dict[str, str],
    ) -> Response:
        """A poll's body as it is sent, spoiled the way the poll faults in force ask."""
        if server.take("deep-json-poll") or own.take("deep-json-poll"):
            return answer.deep_json(body, status)
        if server.take("bad-encoding-poll") or own.take("bad-encoding-poll"):
            return answer.badly_encoded_json(body, status)
        size = server.amount("huge-poll") or own.amount("huge-poll")
        if size:
            return answer.huge_json(body, size, self._stopping, status)
        rate = server.amount("trickle-poll") or own.amount("trickle-poll")
        if rate:
            return answer.trickled_json(body, status, rate, self._stopping)
        return answer.json_answer(body, status, headers)

    def _task_body(self, task: EmulatedTask, view: TaskView) -> dict[str, Any]:
        result: dict[str, Any] | None = None
        details: dict[str, Any] | None = None
        if view.status == "Ready":
            result = self._result(task)
        elif view.terminal:
            message = task.error or view.status
            if view.status in _MODERATION_REASONS:
                reason = task.error or _MODERATION_REASONS[view.status]
                details = {"Moderation Reasons": [reason]}
            elif task.error_in_result:
                result = {"error": message}
            else:
                details = {"error": message}
        return {
            "id": task.id,
            "status": view.status,
            "result": result,
            "progress": view.progress,
            "details": details,
            "preview": None,
        }

    def _result(self, task: EmulatedTask) -> dict[str, Any]:
        start, end = round(task.start_time, 3), round(task.end_time, 3)
        return {
            "sample": self.sample_url(task),
            "prompt": task.used_prompt,
            "seed": task.seed,
            "start_time": start,
            "end_time": end,
            "duration": round(end - start, 3),
        }

    # -- delivery ------------------------------------------------------------------------

    def sample_url(self, task: EmulatedTask) -> str:
        """The signed, expiring URL of a finished task's image."""
        return self.results.sample_url(task)

    async def _deliver(self, request: Request) -> Response:
        task = self.results.find(self.tasks, request)
        if task is None or task.view(time.time()).status != "Ready":
            return answer.azure_error("BlobNotFound", "The specified blob does not exist.", 404)
        refusal = self.results.refusal(task, request)
        if refusal is not None:
            return refusal
        with self.lock:
            task.downloads += 1
            server = self.server_faults
        own = task.faults
        await self._sleep(server.delay("download") + own.delay("download"))
        status_fault = server.take_status("download") or own.take_status("download")
        if status_fault is not None and status_fault.status == 404:
            return answer.azure_error("BlobNotFound", "The specified blob does not exist.", 404)
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.take("drop-download") or own.take("drop-download"):
            return answer.HangUp(self._close_connection)
        if server.take("hang-download") or own.take("hang-download"):
            return self._abandon()
        return self._image_answer(request, task, server, own, await self.results.picture(task))

    def _image_answer(
        self, request: Request, task: EmulatedTask, server: FaultSet, own: FaultSet, data: bytes
    ) -> Response:
        """The result file as it is sent, spoiled the way the download faults in force ask."""
        media_type = _images.content_type(task.output_format)
        if server.take("endless-download") or own.take("endless-download"):
            return answer.endless_image(data, media_type, self._stopping)
        if server.take("bad-encoding-download") or own.take("bad-encoding-download"):
            return answer.badly_encoded(data, media_type)
        bomb = server.amount("gzip-bomb") or own.amount("gzip-bomb")
        if bomb:
            return answer.gzip_bomb(data, media_type, bomb, self._stopping)
        rate = server.amount("trickle-download") or own.amount("trickle-download")
        if rate:
            return answer.trickled_image(data, media_type, rate, self._stopping)
        truncated = server.take("truncated-download") or own.take("truncated-download")
        if task.result_size is not None and task.result_size > len(data):
            body = _images.padded(data, _images.encoding(task.output_format), task.result_size)
            if truncated:
                half = b"".join(body.iter_range(0, body.size // 2))
                return answer.HangUp(self._close_connection, (half, body.size, media_type))
            return answer.streamed(request, body, media_type)
        if truncated:
            return answer.HangUp(
                self._close_connection, (data[: len(data) // 2], len(data), media_type)
            )
        return answer.ranged(request, data, media_type)
