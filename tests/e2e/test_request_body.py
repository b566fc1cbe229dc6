"""Large submissions go out in slices, never joined into one buffer, and arrive whole."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import flux2
from flux2._transfer import BODY_SLICE, RequestBody
from flux2.decisions import build_request
from flux2.emulator import Emulator

KEY = "test-key"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, speed=0) as server:
        yield server


@pytest.fixture
def noise_images(tmp_path: Path) -> list[Path]:
    """Two PNGs of noise, each several body slices long once in base64."""
    rng = random.Random(5)
    paths = []
    for i in range(2):
        path = tmp_path / f"noise-{i}.png"
        Image.frombytes("RGB", (600, 600), rng.randbytes(600 * 600 * 3)).save(path)
        assert path.stat().st_size > 2 * BODY_SLICE
        paths.append(path)
    return paths


def test_the_slices_make_up_the_body_and_can_be_sent_again(noise_images: list[Path]) -> None:
    request = build_request("x", model="flex", images=noise_images, seed=3)
    stream = RequestBody(request.body_parts())
    first = list(stream)
    assert max(len(chunk) for chunk in first) <= BODY_SLICE
    assert b"".join(first) == b"".join(request.body_parts())
    assert stream.size == len(b"".join(request.body_parts()))
    # A submission retried because it provably never left is sent whole again.
    assert b"".join(stream) == b"".join(request.body_parts())


def submitted(emu: Emulator) -> tuple[Any, dict[str, str]]:
    (post,) = [r for r in emu.requests if r.method == "POST"]
    return post.json, post.headers


def expected_fields(paths: list[Path]) -> dict[str, str]:
    return {
        "input_image": base64.b64encode(paths[0].read_bytes()).decode(),
        "input_image_2": base64.b64encode(paths[1].read_bytes()).decode(),
    }


def test_a_blocking_submission_with_large_images_arrives_whole(
    emu: Emulator, noise_images: list[Path]
) -> None:
    with flux2.Client(api_key=KEY, base_url=emu.base_url) as client:
        task = client.submit("two noisy inputs", model="flex", images=noise_images, seed=3)
    body, headers = submitted(emu)
    assert body == {"prompt": "two noisy inputs", "seed": 3, **expected_fields(noise_images)}
    expected = build_request("two noisy inputs", model="flex", images=noise_images, seed=3)
    assert headers["content-length"] == str(len(b"".join(expected.body_parts())))
    assert "transfer-encoding" not in headers
    assert emu.tasks[task.id].input_mp > 0


def test_an_async_submission_with_large_images_arrives_whole(
    emu: Emulator, noise_images: list[Path]
) -> None:
    async def main() -> flux2.Task:
        async with flux2.AsyncClient(api_key=KEY, base_url=emu.base_url) as client:
            return await client.submit("two noisy inputs", model="pro", images=noise_images)

    task = asyncio.run(main())
    body, headers = submitted(emu)
    assert body == {"prompt": "two noisy inputs", **expected_fields(noise_images)}
    assert int(headers["content-length"]) == len(json.dumps(body, separators=(",", ":")))
    assert emu.tasks[task.id].model == "pro"
