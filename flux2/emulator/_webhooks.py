"""Webhook deliveries of finished tasks, signed both documented ways, retried like live."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx

from ._tasks import EmulatedTask, TaskView, WebhookDelivery

__all__ = ["WEBHOOK_RETRIES", "WEBHOOK_TIMEOUT", "WebhookSender"]

# Webhook retries after a failed delivery: 1 s, 5 s, 30 s [doc] (scaled by the speed factor).
WEBHOOK_RETRIES: Final = (1.0, 5.0, 30.0)
# How long the emulator waits for a webhook receiver to answer.
WEBHOOK_TIMEOUT: Final = 10.0
_WEBHOOK_STATUS: Final = {
    "Ready": "SUCCESS",
    "Error": "FAILED",
    "Failed": "FAILED",
    "Request Moderated": "REQUEST_MODERATED",
    "Content Moderated": "CONTENT_MODERATED",
}


class WebhookSender:
    """Posts each finished task to its ``webhook_url`` and records every attempt."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[bool]],
        task_body: Callable[[EmulatedTask, TaskView], dict[str, Any]],
        record: Callable[[WebhookDelivery], None],
        speed: Callable[[], float],
    ) -> None:
        self._sleep = sleep
        self._task_body = task_body
        self._record = record
        self._speed = speed
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, task: EmulatedTask, secret: Any) -> None:
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
            if attempt > 1 and not await self._sleep(pause * self._speed()):
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
            self._record(delivery)
            if delivery.ok:
                return
