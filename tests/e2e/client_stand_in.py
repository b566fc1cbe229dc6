"""A small BFL stand-in on loopback for the client's end-to-end tests, used while
``flux2.emulator.Emulator`` is not available; it offers the subset of the Emulator's interface
those tests use (``base_url``, ``polling_origin``, ``delivery_origin``, ``requests``,
``submissions()``, ``speed``) and the same prompt fault markers (``[[fault:NAME=ARG]]``).

Three origins on 127.0.0.1, one port each: the API (submit, credits), polling (every task's
``polling_url``, like a regional cluster) and delivery (signed, expiring result URLs that need
no key). Starlette + uvicorn, started in a thread with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DURATIONS = {"klein-4b": 2.6, "klein-9b": 2.4, "flex": 8.0, "pro": 13.0, "max": 38.0}
MARKER = re.compile(r"\[\[fault:([a-z0-9-]+)(?:=([^\]]*))?\]\]")


@dataclass
class Recorded:
    origin: str
    method: str
    path: str
    query: str
    has_key: bool
    key_matches: bool
    json: Any
    time: float


@dataclass
class StandInTask:
    id: str
    model: str
    prompt: str
    params: dict[str, Any]
    created: float
    duration: float
    faults: dict[str, str]
    polls: int = 0
    webhook_sent: bool = False
    end_time: float | None = None


@dataclass
class StandIn:
    api_key: str = "test-key"
    speed: float = 0.002
    max_in_flight: int = 24
    credits: float = 1000.0
    result_ttl: float = 600.0
    requests: list[Recorded] = field(default_factory=list)
    tasks: dict[str, StandInTask] = field(default_factory=dict)
    _submit_attempts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets = [_listen() for _ in range(3)]
        ports = [s.getsockname()[1] for s in self._sockets]
        self._origins = dict(zip(ports, ("api", "polling", "delivery"), strict=True))
        self.base_url, self.polling_origin, self.delivery_origin = (
            f"http://127.0.0.1:{p}" for p in ports
        )
        app = Starlette(
            routes=[
                Route("/v1/{endpoint:str}", self._v1, methods=["GET", "POST"]),
                Route("/results/{name:str}", self._deliver, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, daemon=True
        )

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> StandIn:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stand-in server did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    # -- inspection -------------------------------------------------------------------

    def submissions(self, prompt: str | None = None) -> list[StandInTask]:
        return [t for t in self.tasks.values() if prompt is None or t.prompt == prompt]

    # -- handlers ---------------------------------------------------------------------

    async def _record(self, request: Request) -> tuple[str, Any]:
        origin = self._origins.get(request.url.port or 0, "?")
        body: Any = None
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        key = request.headers.get("x-key")
        with self._lock:
            self.requests.append(
                Recorded(
                    origin,
                    request.method,
                    request.url.path,
                    request.url.query,
                    key is not None,
                    key == self.api_key,
                    body,
                    time.time(),
                )
            )
        return origin, body

    async def _v1(self, request: Request) -> Response:
        origin, body = await self._record(request)
        if origin == "delivery":
            return Response(status_code=404)
        if request.headers.get("x-key") != self.api_key:
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        endpoint = request.path_params["endpoint"]
        if request.method == "GET" and endpoint == "credits" and origin == "api":
            return JSONResponse({"credits": self.credits})
        if request.method == "GET" and endpoint == "get_result":
            return self._poll(request.query_params.get("id", ""))
        if request.method == "POST" and endpoint.startswith("flux-2-") and origin == "api":
            answer = self._submit(endpoint.removeprefix("flux-2-"), body)
            if "[[fault:drop-submit]]" in str(body):
                # The task exists, but its answer comes too late for a client with a short
                # read timeout: the client sees what a dropped answer looks like.
                await asyncio.sleep(2)
            return answer
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    def _submit(self, model: str, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            detail = [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
            return JSONResponse({"detail": detail}, status_code=422)
        prompt = body["prompt"]
        faults = {m.group(1): m.group(2) or "" for m in MARKER.finditer(prompt)}
        attempt = self._submit_attempts.get(prompt, 0) + 1
        self._submit_attempts[prompt] = attempt
        if "429-storm" in faults and attempt <= int(faults["429-storm"] or 3):
            return JSONResponse({"detail": "Too many requests"}, 429, {"retry-after": "0"})
        if "submit-500" in faults:
            return JSONResponse({"detail": "Internal error"}, status_code=500)
        if "insufficient-credits" in faults:
            return JSONResponse({"detail": "Insufficient credits"}, status_code=402)
        now = time.time()
        with self._lock:
            in_flight = sum(
                1 for t in self.tasks.values() if t.end_time is None or now < t.end_time
            )
            if in_flight >= self.max_in_flight:
                return JSONResponse(
                    {"detail": "Too many tasks in flight"}, 429, {"retry-after": "1"}
                )
            base = model.removesuffix("-preview")
            duration = DURATIONS.get(base, 10.0) * self.speed
            task = StandInTask(
                uuid.uuid4().hex,
                model,
                prompt,
                body,
                now,
                duration,
                faults,
                end_time=now + duration,
            )
            self.tasks[task.id] = task
            self.credits -= 1.0
        answer: dict[str, Any] = {"id": task.id, "cost": 1.0, "input_mp": 0.0, "output_mp": 1.0}
        if "webhook_url" in body:
            threading.Timer(duration, self._send_webhook, args=(task,)).start()
            return JSONResponse({**answer, "status": "Pending", "webhook_url": body["webhook_url"]})
        return JSONResponse(
            {**answer, "polling_url": f"{self.polling_origin}/v1/get_result?id={task.id}"}
        )

    def _state(self, task: StandInTask) -> dict[str, Any]:
        now = time.time()
        faults = task.faults
        if "stuck" in faults or now < task.created + task.duration:
            status = "Dreaming" if "unknown-status" in faults else "Pending"
            progress = min(0.99, (now - task.created) / task.duration) if task.duration else 0.5
            return {"id": task.id, "status": status, "progress": round(progress, 3)}
        for name, status in (
            ("request-moderated", "Request Moderated"),
            ("content-moderated", "Content Moderated"),
            ("error", "Error"),
            ("failed", "Failed"),
        ):
            if name in faults:
                return {"id": task.id, "status": status, "details": {"error": faults[name] or name}}
        end = task.created + task.duration
        expires = end + self.result_ttl if "expired-url" not in faults else now - 1
        se = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = hmac.new(b"sas", f"{task.id}{se}".encode(), hashlib.sha256).hexdigest()[:24]
        return {
            "id": task.id,
            "status": "Ready",
            "progress": None,
            "result": {
                "sample": f"{self.delivery_origin}/results/{task.id}.{_fmt(task)[1]}"
                f"?se={se}&sp=r&sig={sig}",
                "prompt": task.prompt,
                "seed": task.params.get("seed", 1234),
                "start_time": task.created,
                "end_time": end,
                "duration": task.duration,
            },
        }

    def _poll(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None:
            return JSONResponse({"id": task_id, "status": "Task not found"})
        task.polls += 1
        if "poll-503" in task.faults and task.polls <= int(task.faults["poll-503"] or 1):
            return JSONResponse({"detail": "busy"}, 503, {"retry-after": "0"})
        state = self._state(task)
        if "poll-422-task" in task.faults and state["status"] != "Pending":
            body = {"status": "Error", "details": {"error": "Invalid or corrupted image input"}}
            return JSONResponse(body, status_code=422)
        return JSONResponse(state)

    async def _deliver(self, request: Request) -> Response:
        await self._record(request)
        task = self.tasks.get(request.path_params["name"].rsplit(".", 1)[0])
        if task is None:
            return Response(status_code=404)
        se = request.query_params.get("se", "")
        expired = datetime.strptime(se, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        if time.time() > expired:
            return Response("AuthenticationFailed: signed expiry time has passed", 403)
        pil_format, _, mime = _fmt(task)
        data = _render(task.prompt, pil_format)
        if "truncated-download" in task.faults:
            return Response(
                data[: len(data) // 2],
                media_type=mime,
                headers={"content-length": str(len(data))},
            )
        return Response(data, media_type=mime)

    def _send_webhook(self, task: StandInTask) -> None:
        state = self._state(task)
        status = {"Ready": "SUCCESS"}.get(state["status"], "FAILED")
        payload = {
            "task_id": task.id,
            "id": task.id,
            "status": status,
            "progress": 1,
            "result": state.get("result"),
        }
        raw = json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        secret = task.params.get("webhook_secret")
        if secret:
            headers["X-Webhook-Secret"] = secret
            digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-BFL-Signature"] = f"sha256={digest}"
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(task.params["webhook_url"], content=raw, headers=headers, timeout=5)
        task.webhook_sent = True


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


_FORMATS = {
    "jpeg": ("JPEG", "jpg", "image/jpeg"),
    "png": ("PNG", "png", "image/png"),
    "webp": ("WEBP", "webp", "image/webp"),
}


def _fmt(task: StandInTask) -> tuple[str, str, str]:
    """PIL format, extension and MIME type of the task's output (JPEG unless asked [doc])."""
    return _FORMATS.get(str(task.params.get("output_format") or "jpeg"), _FORMATS["jpeg"])


def _render(prompt: str, pil_format: str) -> bytes:
    digest = hashlib.sha256(prompt.encode()).digest()
    image = Image.new("RGB", (64, 48), tuple(digest[:3]))
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format)
    return buffer.getvalue()


def start_emulator(**options: Any) -> Any:
    """The real ``flux2.emulator.Emulator`` when it is installed, else this stand-in."""
    try:
        from flux2.emulator import Emulator
    except ImportError:
        return StandIn(**options)
    return Emulator(**options)
