"""Submitting with a webhook, receiving the delivery over HTTP, verifying and using it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import flux2
from flux2 import webhooks
from flux2.emulator import Emulator

KEY = "test-key"
SPEED = 0.002
SECRET = "whsec-e2e"


class Receiver:
    """A webhook endpoint on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.deliveries.append((raw, dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_a_webhook_submission_is_delivered_verified_and_downloaded(
    receiver: Receiver, tmp_path: Path
) -> None:
    with (
        Emulator(api_key=KEY, speed=SPEED) as emu,
        flux2.Client(api_key=KEY, base_url=emu.base_url) as client,
    ):
        task = client.submit(
            "a fox by webhook", model="klein-4b", webhook_url=receiver.url, webhook_secret=SECRET
        )
        assert task.polling_url is None
        assert task.webhook_url == receiver.url
        assert receiver.arrived.wait(10), "no webhook delivery within 10 s"
        raw, headers = receiver.deliveries[0]
        event = webhooks.verify_and_parse(raw, headers, SECRET)
        assert event.scheme in {"signature", "secret"}
        assert event.task_id == task.id
        result = event.result.raise_for_status()
        assert result.ready
        saved = client.download(result, tmp_path)
    assert saved == tmp_path / f"{task.id}.jpg"
    with pytest.raises(flux2.WebhookVerificationError):
        webhooks.verify(raw, headers, "another secret")
