"""The emulated service: its state and its HTTP handlers, as one Starlette application that
serves three listeners (api, polling, delivery), told apart by the local port of a request."""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import dataclasses
import email.utils
import hashlib
import hmac
import io
import json
import math
import random
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from flux2._wire import AUTH_HEADER, CREDITS_PATH, RESULT_PATH
from flux2.registry import Model, models_from_spec

from . import _images, _policy
from ._faults import Fault, FaultError, FaultSet, Markers, parse_markers
from ._tasks import (
    IN_FLIGHT_UNKNOWN,
    EmulatedTask,
    Origin,
    RecordedRequest,
    TaskView,
    WebhookDelivery,
)
from ._timing import Timing
from ._validation import BodyValidator, ErrorDetail, json_error, missing_query

__all__ = ["Config", "Service"]

# Webhook retries after a failed delivery: 1 s, 5 s, 30 s [doc] (scaled by the speed factor).
WEBHOOK_RETRIES: Final = (1.0, 5.0, 30.0)
# How long the emulator waits for a webhook receiver to answer.
WEBHOOK_TIMEOUT: Final = 10.0
# A client that keeps a dropped connection open is let go after this long.
_HANG_UP_WAIT: Final = 5.0
# Rendered results kept per emulator; a picture costs 20-60 ms to make at 1 MP.
_IMAGE_CACHE: Final = 64
# A base Retry-After, scaled by the speed factor like every simulated time.
_RETRY_AFTER: Final = 1.0
# What a moderated task names when the fault gives no reason; "Moderation Reasons" is the key
# live answers use [seen in clients].
_MODERATION_REASONS: Final = {
    "Request Moderated": "Prompt flagged by the input filter",
    "Content Moderated": "Derivative Works Filter",
}
# The live answer to a corrupted input image: the poll says 422 with the task as body [seen].
_CORRUPTED_INPUT: Final = "Invalid or corrupted image input"
# The storage API version a delivery URL names, like Azure's signed URLs (`sv=`).
_SAS_VERSION: Final = "2024-11-04"
# Upsampled prompts gain a short description; the live rewrite is longer and varies [doc].
_UPSAMPLED_SUFFIX: Final = ", rendered in rich detail with natural light"
_WEBHOOK_STATUS: Final = {
    "Ready": "SUCCESS",
    "Error": "FAILED",
    "Failed": "FAILED",
    "Request Moderated": "REQUEST_MODERATED",
    "Content Moderated": "CONTENT_MODERATED",
}


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


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _detail(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"detail": message}, status, headers)


def _invalid(details: list[ErrorDetail]) -> Response:
    return _json({"detail": details}, 422)


def _azure_error(code: str, message: str, status: int, detail: str | None = None) -> Response:
    """An error from the result host, in the shape Azure blob storage answers with."""
    now = email.utils.formatdate(usegmt=True)
    extra = f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail>" if detail else ""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:{uuid.uuid4()}\nTime:{now}"
        f"</Message>{extra}</Error>"
    )
    return Response(
        xml, status_code=status, media_type="application/xml", headers={"x-ms-error-code": code}
    )


def _http_date(unix: float) -> str:
    return email.utils.formatdate(unix, usegmt=True)


class _HangUp(Response):
    """Closes the connection instead of answering, optionally after part of a body."""

    def __init__(
        self,
        close: Callable[[Scope], bool],
        partial: tuple[bytes, int, str] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._close = close
        self._partial = partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._partial is not None:
            data, length, media_type = self._partial
            headers = [
                (b"content-type", media_type.encode()),
                (b"content-length", str(length).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if not self._close(scope):
            raise RuntimeError("the emulator could not find the connection to drop")
        # Wait until the server has seen the connection go, so it does not answer for us.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_HANG_UP_WAIT):
                while (await receive())["type"] != "http.disconnect":
                    pass


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
    ) -> None:
        self.config = config
        self.origins = origins
        self.lock = threading.Lock()
        self.credits = float(credits)
        self.server_faults = FaultSet(faults)
        self.requests: list[RecordedRequest] = []
        self.tasks: dict[str, EmulatedTask] = {}
        self.webhooks: list[WebhookDelivery] = []
        self._spec = spec
        self._models: dict[str, Model] = models_from_spec(dict(spec))
        self._paths = {model.path: model for model in self._models.values()}
        self._validators: dict[str, BodyValidator] = {}
        self._prompt_faults: dict[str, FaultSet] = {}
        self._close_connection = close_connection
        self._signing_key = secrets.token_bytes(32)
        self._images: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
        self._images_lock = threading.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._http: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                )
            ],
            lifespan=self._lifespan,
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
        if self._http is not None:
            await self._http.aclose()
            self._http = None

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

    # -- reading the state (any thread) --------------------------------------------------

    def in_flight(self, now: float) -> list[EmulatedTask]:
        return [t for t in self.tasks.values() if t.in_flight(now)]

    # -- dispatch ------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        origin = self.origins.by_port.get(request.scope["server"][1], "api")
        raw = await request.body()
        record = self._record(origin, request, raw)
        response = await self._route(origin, request, raw, record)
        record.status = None if isinstance(response, _HangUp) else response.status_code
        return response

    def _record(self, origin: Origin, request: Request, raw: bytes) -> RecordedRequest:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
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
        self, origin: Origin, request: Request, raw: bytes, record: RecordedRequest
    ) -> Response:
        path, method = request.url.path, request.method
        if origin == "delivery":
            if method in ("GET", "HEAD") and path.startswith("/results/"):
                return await self._deliver(request)
            return _azure_error("ResourceNotFound", "The specified resource does not exist.", 404)
        if path in self._paths and origin == "api":
            allowed = "POST"
        elif path == RESULT_PATH or (path == CREDITS_PATH and origin == "api"):
            allowed = "GET"
        else:
            return _detail("Not Found", 404)
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            return _detail("Method Not Allowed", 405, {"allow": allowed})
        # FastAPI resolves the key dependency before it reads the body: no key, no 422.
        key = request.headers.get(AUTH_HEADER)
        if not key:
            return _detail("Not authenticated", 403)
        if not self._key_ok(key):
            return _detail("Not authenticated - Invalid Authentication", 403)
        if path == CREDITS_PATH:
            with self.lock:
                return _json({"credits": round(self.credits, 4)})
        if path == RESULT_PATH:
            return await self._poll(origin, request)
        return await self._submit(self._paths[path], raw, record)

    # -- submit --------------------------------------------------------------------------

    def _validator(self, model: Model) -> BodyValidator:
        validator = self._validators.get(model.request_schema)
        if validator is None:
            validator = BodyValidator(self._spec, model.request_schema)
            self._validators[model.request_schema] = validator
        return validator

    def _retry_after(self, fault: Fault | None, seconds: float) -> dict[str, str]:
        scaled = seconds * self.config.speed
        if fault is not None and fault.retry_after == "date":
            return {"retry-after": _http_date(time.time() + max(1.0, math.ceil(scaled)))}
        if fault is not None and fault.retry_after is not None:
            return {"retry-after": fault.retry_after}
        return {"retry-after": str(round(scaled))}

    def _status_fault(self, fault: Fault) -> Response:
        assert fault.status is not None
        headers = self._retry_after(fault, _RETRY_AFTER) if fault.status in (429, 503) else {}
        message = {
            429: "Too many requests, please slow down",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service temporarily unavailable",
            504: "Gateway Timeout",
        }.get(fault.status, f"Emulated HTTP {fault.status}")
        return _detail(message, fault.status, headers)

    async def _submit(self, model: Model, raw: bytes, record: RecordedRequest) -> Response:
        if not raw.strip():
            missing = {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
            return _invalid([missing])
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            return _invalid(json_error(exc))
        validator = self._validator(model)
        errors = validator.errors(body)
        if errors:
            return _invalid(errors)
        prompt = str(body.get("prompt", ""))
        try:
            markers = parse_markers(prompt)
        except FaultError as exc:
            detail = {"type": "value_error", "loc": ["body", "prompt"], "msg": str(exc)}
            return _invalid([{**detail, "input": prompt}])
        with self.lock:
            own = self._prompt_faults.get(prompt)
            if own is None:
                own = FaultSet(f for f in markers.faults if f.stage in ("submit", "any"))
                self._prompt_faults[prompt] = own
            server = self.server_faults
        await self._sleep(server.delay("submit") + own.delay("submit"))
        status_fault = server.take_status("submit") or own.take_status("submit")
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.get("insufficient-credits") or own.get("insufficient-credits"):
            return _detail("Insufficient credits", 402)

        task = await run_in_threadpool(
            self._new_task, model, body, validator, markers, server.outcome()
        )
        now = time.time()
        with self.lock:
            busy = self.in_flight(now)
            if len(busy) >= self.config.max_in_flight:
                # Ask to come back when the first task in flight ends (stuck ones never do).
                ends = [t.end_time for t in busy if not t.stuck]
                wait = min(ends) - now if ends else _RETRY_AFTER * self.config.speed
                return _detail(
                    f"Too many tasks in flight: at most {self.config.max_in_flight}",
                    429,
                    {"retry-after": str(max(0, round(wait)))},
                )
            if self.credits < task.cost:
                return _detail("Insufficient credits", 402)
            self.credits = round(self.credits - task.cost, 6)
            task.created = now
            self.tasks[task.id] = task
        if task.webhook_url is not None:
            self._spawn(self._send_webhook(task, body.get("webhook_secret")))
        if server.take("drop-submit") or own.take("drop-submit"):
            return _HangUp(self._close_connection)
        answer: dict[str, Any] = {"id": task.id}
        if task.webhook_url is not None:
            # With a webhook the answer names it and has no polling_url [doc].
            answer.update(status="Pending", webhook_url=task.webhook_url)
        else:
            answer["polling_url"] = task.polling_url
        answer.update(cost=task.cost, input_mp=task.input_mp, output_mp=task.output_mp)
        return _json(answer)

    def _new_task(
        self,
        model: Model,
        body: dict[str, Any],
        validator: BodyValidator,
        markers: Markers,
        server_outcome: tuple[Fault, ...],
    ) -> EmulatedTask:
        task_id = str(uuid.uuid4())
        inputs, first_input, corrupted = _read_inputs(body, model.image_slots)
        width, height = _policy.output_size(
            body.get("width"), body.get("height"), inputs[0] if inputs else None
        )
        input_mp = round(sum((_policy.megapixels(w, h) for w, h in inputs), 0.0), 2)
        output_mp = _policy.megapixels(width, height)
        seed = body.get("seed")
        if not isinstance(seed, int):
            seed = random.randrange(1 << 32)
        output_default = model.params.get("output_format")
        output_format = str(
            body.get("output_format")
            or (output_default.default if output_default is not None else None)
            or "jpeg"
        )
        timing = self.config.timing.draw(model.name)
        task = EmulatedTask(
            id=task_id,
            model=model.name,
            prompt=str(body["prompt"]),
            params=body,
            created=time.time(),
            duration=timing.seconds * self.config.speed,
            shape=timing.shape,
            width=width,
            height=height,
            seed=seed,
            output_format=output_format,
            cost=_policy.cost(model.name, output_mp, input_mp),
            input_mp=input_mp,
            output_mp=output_mp,
            used_prompt=self._used_prompt(model, body),
            unknown_fields=validator.unknown_fields(body),
            text=markers.text,
            input_image=first_input,
            result_size=markers.size or self.config.result_size,
            faults=FaultSet(f for f in markers.faults if f.stage in ("poll", "download", "any")),
        )
        if isinstance(body.get("webhook_url"), str):
            task.webhook_url = body["webhook_url"]
        else:
            task.polling_url = f"{self.origins.polling}{RESULT_PATH}?{urlencode({'id': task_id})}"
        for fault in (*server_outcome, *(f for f in markers.faults if f.stage == "outcome")):
            _apply_outcome(task, fault)
        if any(f.name == "expired-url" for f in (*server_outcome, *markers.faults)):
            task.expired_url = True
        if corrupted:
            task.outcome, task.error, task.poll_422 = "Error", _CORRUPTED_INPUT, True
        return task

    def _used_prompt(self, model: Model, body: Mapping[str, Any]) -> str:
        prompt = str(body["prompt"])
        if "prompt_upsampling" in model.params:
            upsample = body.get("prompt_upsampling", model.params["prompt_upsampling"].default)
        elif "disable_pup" in model.params:
            upsample = not body.get("disable_pup", model.params["disable_pup"].default)
        else:
            upsample = _policy.upsamples_by_default(model.name)
        return prompt + _UPSAMPLED_SUFFIX if upsample else prompt

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
        return _json(body, status)

    async def _poll(self, origin: Origin, request: Request) -> Response:
        task_id = request.query_params.get("id")
        if task_id is None:
            return _invalid(missing_query("id"))
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
        await self._sleep(server.delay("poll") + task.faults.delay("poll"))
        status_fault = server.take_status("poll") or task.faults.take_status("poll")
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.take("drop-poll") or task.faults.take("drop-poll"):
            return _HangUp(self._close_connection)
        if server.get("not-found") or task.faults.get("not-found"):
            return self._not_found(task_id, 200)
        view = task.view(time.time(), first_poll=first)
        body = self._task_body(task, view)
        if view.terminal and task.poll_422:
            return _json(body, 422)
        return _json(body)

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

    def _signature(self, task_id: str, expiry: str) -> str:
        digest = hmac.new(self._signing_key, f"{task_id}\n{expiry}".encode(), hashlib.sha256)
        return base64.b64encode(digest.digest()).decode()

    def sample_url(self, task: EmulatedTask) -> str:
        """The signed, expiring URL of a finished task's image (Azure-style ``se``/``sig``)."""
        if task.expired_url:
            expires = math.floor(task.end_time) - 1
        else:
            # Whole seconds, as signed URLs carry them; never earlier than promised.
            expires = math.ceil(task.end_time + self.config.result_ttl)
        expiry = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        name = _images.encoding(task.output_format)
        query = urlencode(
            {
                "se": expiry,
                "sp": "r",
                "sv": _SAS_VERSION,
                "sr": "b",
                "rsct": _images.content_type(task.output_format),
                "sig": self._signature(task.id, expiry),
            }
        )
        return f"{self.origins.delivery}/results/{task.id}/sample.{name}?{query}"

    async def _deliver(self, request: Request) -> Response:
        parts = request.url.path.split("/")
        task = self.tasks.get(parts[2]) if len(parts) == 4 else None
        if task is None or task.view(time.time()).status != "Ready":
            return _azure_error("BlobNotFound", "The specified blob does not exist.", 404)
        expiry = request.query_params.get("se", "")
        given = request.query_params.get("sig", "")
        if not hmac.compare_digest(given.encode(), self._signature(task.id, expiry).encode()):
            return _azure_error(
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
                403,
                "Signature did not match.",
            )
        expires = datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        now = time.time()
        if now >= expires.timestamp():
            return _azure_error(
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
                403,
                "Signature not valid in the specified time frame: Start [] - Expiry "
                f"[{_http_date(expires.timestamp())}] - Current [{_http_date(now)}]",
            )
        with self.lock:
            task.downloads += 1
            server = self.server_faults
        await self._sleep(server.delay("download") + task.faults.delay("download"))
        status_fault = server.take_status("download") or task.faults.take_status("download")
        if status_fault is not None and status_fault.status == 404:
            return _azure_error("BlobNotFound", "The specified blob does not exist.", 404)
        if status_fault is not None:
            return self._status_fault(status_fault)
        if server.take("drop-download") or task.faults.take("drop-download"):
            return _HangUp(self._close_connection)
        data = await self._picture(task)
        media_type = _images.content_type(task.output_format)
        truncated = server.take("truncated-download") or task.faults.take("truncated-download")
        if task.result_size is not None and task.result_size > len(data):
            body = _images.padded(data, _images.encoding(task.output_format), task.result_size)
            if truncated:
                half = b"".join(body.iter_range(0, body.size // 2))
                return _HangUp(self._close_connection, (half, body.size, media_type))
            return _streamed(request, body, media_type)
        if truncated:
            return _HangUp(self._close_connection, (data[: len(data) // 2], len(data), media_type))
        return _ranged(request, data, media_type)

    async def _picture(self, task: EmulatedTask) -> bytes:
        key = (
            task.text,
            task.seed,
            task.width,
            task.height,
            _images.encoding(task.output_format),
            hashlib.sha256(task.input_image).hexdigest() if task.input_image else None,
        )
        with self._images_lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
        data = await run_in_threadpool(
            _images.render,
            task.text,
            task.seed,
            task.width,
            task.height,
            output_format=task.output_format,
            input_image=task.input_image,
        )
        with self._images_lock:
            self._images[key] = data
            while len(self._images) > _IMAGE_CACHE:
                self._images.popitem(last=False)
        return data

    # -- webhooks ------------------------------------------------------------------------

    async def _send_webhook(self, task: EmulatedTask, secret: Any) -> None:
        if task.stuck:
            return
        if not await self._sleep(task.end_time - time.time()):
            return
        view = task.view(max(time.time(), task.end_time))
        body = self._task_body(task, view)
        payload = {
            "task_id": task.id,
            "id": task.id,
            "status": _WEBHOOK_STATUS.get(view.status, view.status.upper().replace(" ", "_")),
            "result": body["result"],
            "progress": 1,
            "details": body["details"],
        }
        raw = json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        if isinstance(secret, str) and secret:
            # Both documented ways to authenticate a delivery [doc]: the secret echoed, and
            # an HMAC-SHA256 of the raw body.
            headers["X-Webhook-Secret"] = secret
            digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-BFL-Signature"] = f"sha256={digest}"
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
        assert task.webhook_url is not None
        for attempt, pause in enumerate((0.0, *WEBHOOK_RETRIES), start=1):
            if attempt > 1 and not await self._sleep(pause * self.config.speed):
                return
            delivery = WebhookDelivery(
                task_id=task.id,
                url=task.webhook_url,
                attempt=attempt,
                body=raw,
                headers=dict(headers),
                time=time.time(),
            )
            try:
                answer = await self._http.post(task.webhook_url, content=raw, headers=headers)
                delivery.status_code = answer.status_code
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.webhooks.append(delivery)
            if delivery.ok:
                return


def _apply_outcome(task: EmulatedTask, fault: Fault) -> None:
    name, text = fault.name, fault.text
    if name == "stuck":
        task.stuck = True
    elif name == "unknown-status":
        task.in_flight_status = text or IN_FLIGHT_UNKNOWN
    elif name == "request-moderated":
        task.outcome, task.error = "Request Moderated", text
    elif name == "content-moderated":
        task.outcome, task.error = "Content Moderated", text
    elif name in ("error", "error-in-result"):
        task.outcome, task.error = "Error", text or "Internal error during generation"
        task.error_in_result = name == "error-in-result"
    elif name == "failed":
        task.outcome, task.error = "Failed", text or "Generation failed"
    elif name == "poll-422-task":
        task.outcome, task.error, task.poll_422 = "Error", text or _CORRUPTED_INPUT, True


def _read_inputs(
    body: Mapping[str, Any], slots: Iterable[str]
) -> tuple[list[tuple[int, int]], bytes | None, bool]:
    """Sizes of the input images, the first one's bytes, and whether one is unreadable.

    An image given by URL is not fetched: it counts as one default-size image.
    """
    sizes: list[tuple[int, int]] = []
    first: bytes | None = None
    corrupted = False
    for slot in slots:
        value = body.get(slot)
        if not isinstance(value, str) or not value:
            continue
        if value.startswith(("http://", "https://")):
            sizes.append(_policy.DEFAULT_SIZE)
            continue
        try:
            data = base64.b64decode(value, validate=True)
            with Image.open(io.BytesIO(data)) as picture:
                sizes.append(picture.size)
        except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
            corrupted = True
            continue
        if first is None:
            first = data
    return sizes, first, corrupted


def _byte_range(request: Request, size: int) -> tuple[int, int] | None:
    """The single ``Range: bytes=a-b`` asked for, as [start, end), or None."""
    header = request.headers.get("range", "")
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    try:
        if first:
            start = int(first)
            end = int(last) + 1 if last else size
        else:
            start, end = max(0, size - int(last)), size
    except ValueError:
        return None
    if start >= size or start >= end:
        return None
    return start, min(end, size)


def _ranged(request: Request, data: bytes, media_type: str) -> Response:
    span = _byte_range(request, len(data))
    headers = {"accept-ranges": "bytes"}
    if span is None:
        return Response(data, media_type=media_type, headers=headers)
    start, end = span
    headers["content-range"] = f"bytes {start}-{end - 1}/{len(data)}"
    return Response(data[start:end], status_code=206, media_type=media_type, headers=headers)


def _streamed(request: Request, body: _images.PaddedBody, media_type: str) -> Response:
    span = _byte_range(request, body.size)
    start, end = span or (0, body.size)
    headers = {"accept-ranges": "bytes", "content-length": str(end - start)}
    status = 200
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{body.size}"
        status = 206
    chunks: Iterator[bytes] = body.iter_range(start, end)
    return StreamingResponse(chunks, status_code=status, media_type=media_type, headers=headers)
