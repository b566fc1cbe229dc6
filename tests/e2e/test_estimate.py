"""An estimate prices a request as the emulator bills it (both from BFL's price list)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

import flux2
from flux2.emulator import Emulator

KEY = "test-key"


@pytest.fixture(scope="module")
def client() -> Iterator[flux2.Client]:
    with (
        Emulator(api_key=KEY, speed=0) as emu,
        flux2.Client(api_key=KEY, base_url=emu.base_url) as client,
    ):
        yield client


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "request_",
    [
        {"model": "klein-4b"},
        {"model": "flex", "width": 1024, "height": 768},
        {"model": "max", "width": 2048, "height": 1024},
        {"model": "pro", "images": [png(512, 512), png(1024, 1024)]},
        {"model": "klein-9b", "width": 512, "height": 512, "images": [png(1536, 1024)]},
        {"model": "flex", "width": 2048},
        {"model": "klein-4b", "height": 1536},
    ],
)
def test_the_estimate_is_what_the_submission_is_charged(
    client: flux2.Client, request_: dict[str, Any]
) -> None:
    estimate = client.estimate("a lighthouse", **request_)
    task = client.submit("a lighthouse", **request_)
    assert estimate.credits == task.cost
    assert estimate.output_mp == task.output_mp
    assert estimate.input_mp == task.input_mp
    assert estimate.url.startswith(client.base_url)


def test_a_side_alone_the_service_would_refuse_is_refused_before_sending(
    client: flux2.Client,
) -> None:
    with pytest.raises(flux2.InputError, match="at most 2048"):
        client.estimate("a lighthouse", model="flex", width=4096)
    with pytest.raises(flux2.InputError, match="at most 2048"):
        client.submit("a lighthouse", model="flex", width=4096)
