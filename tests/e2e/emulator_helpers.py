"""Plain-HTTP helpers for the emulator's own tests (they use httpx, not flux2's client)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from flux2.emulator.pytest_plugin import FIXTURE_API_KEY as KEY

__all__ = ["IN_FLIGHT", "KEY", "TERMINAL", "Receiver", "api", "poll_until_done", "submit"]

TERMINAL = {"Ready", "Error", "Failed", "Request Moderated", "Content Moderated", "Task not found"}
IN_FLIGHT = {"Pending", "Generating"}


def api(emu: Any, key: str | None = KEY, **options: Any) -> httpx.Client:
    """A client for the emulator's API origin, sending ``key`` as ``x-key``."""
    headers = {"x-key": key} if key is not None else {}
    options.setdefault("timeout", 10)
    return httpx.Client(base_url=emu.base_url, headers=headers, **options)


def submit(http: httpx.Client, prompt: str, model: str = "klein-4b", **params: Any) -> Any:
    answer = http.post(f"/v1/flux-2-{model}", json={"prompt": prompt, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def poll_until_done(http: httpx.Client, polling_url: str, limit: float = 20) -> list[Any]:
    """Every poll body until a terminal status (or an HTTP 422 task body)."""
    bodies = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        answer = http.get(polling_url)
        body = answer.json()
        bodies.append(body)
        if answer.status_code == 422 or body["status"] in TERMINAL:
            return bodies
        time.sleep(0.002)
    raise AssertionError(f"not done after {limit} s: {bodies[-3:]}")


class Receiver:
    """A webhook endpoint on loopback that answers ``statuses`` in turn (then 204)."""

    def __init__(self, *statuses: int) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Event()
        self._statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                code = receiver._statuses.pop(0) if receiver._statuses else 204
                receiver.deliveries.append((raw, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()
                if code < 300:
                    receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        # A short poll interval: shutdown() waits for the serving loop to look.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
