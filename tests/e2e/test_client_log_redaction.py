"""Over real sockets, with every logger at DEBUG (httpx, httpcore, the emulator's own): no
record holds the key, a webhook secret or a result URL's signature."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import flux2

KEY = "sk-e2e-log-key-0123456789"
HOOK_SECRET = "e2e-hook-secret-value"
SPEED = 0.002


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_debug_logs_of_every_library_hold_no_secret(
    bfl_emulator_factory: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    emu = bfl_emulator_factory(api_key=KEY, speed=SPEED)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    options: dict[str, Any] = {
        "api_key": KEY,
        "base_url": emu.base_url,
        "poll_schedule": flux2.PollSchedule(scale=SPEED),
    }
    hook = {"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": HOOK_SECRET}
    try:
        with caplog.at_level(logging.DEBUG):
            if kind == "sync":
                with flux2.Client(**options) as client:
                    image = client.generate("a logged fox", model="klein-4b")
                    image.save(tmp_path)
                    client.download(image.result, tmp_path / "again.jpg")
                    client.submit("a hooked fox", model="klein-4b", **hook)
            else:
                import asyncio

                async def scenario() -> flux2.GeneratedImage:
                    async with flux2.AsyncClient(**options) as client:
                        image = await client.generate("a logged fox", model="klein-4b")
                        await image.asave(tmp_path)
                        await client.download(image.result, tmp_path / "again.jpg")
                        await client.submit("a hooked fox", model="klein-4b", **hook)
                        return image

                image = asyncio.run(scenario())
    finally:
        root.removeHandler(handler)
    signature = parse_qs(urlsplit(image.url).query)["sig"][0]
    assert signature
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    written = stream.getvalue() + caplog.text
    for record in caplog.records:
        written += record.getMessage() + repr(record.args) + (record.exc_text or "")
    for secret in (KEY, HOOK_SECRET, signature):
        assert secret not in written
    assert not re.search(r"sig=(?!\*\*\*)", written)
