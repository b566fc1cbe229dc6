"""The client against a real HTTP server on loopback: generate, edit, resume, where the key
goes."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import flux2
from flux2.emulator import Emulator

KEY = "test-key"
SPEED = 0.002


@pytest.fixture
def emu() -> Iterator[Any]:
    with Emulator(api_key=KEY, speed=SPEED) as server:
        yield server


def client_for(emu: Any, **options: Any) -> flux2.Client:
    options.setdefault("poll_schedule", flux2.PollSchedule(scale=SPEED))
    options.setdefault("base_url", emu.base_url)
    return flux2.Client(api_key=KEY, **options)


def test_generate_and_save_a_real_image(emu: Any, tmp_path: Path) -> None:
    seen: list[flux2.TaskResult] = []
    with client_for(emu) as client:
        image = client.generate(
            "a lighthouse at dawn",
            model="klein-4b",
            seed=7,
            output_format="png",
            on_progress=seen.append,
        )
        saved = image.save(tmp_path)
    assert saved == tmp_path / f"{image.task_id}.png"
    with Image.open(saved) as picture:
        assert picture.format == "PNG"
        assert picture.size[0] > 0
    assert image.seed == 7
    assert image.cost is not None
    assert seen[-1].status == "Ready"
    origins = {(r.origin, r.method) for r in emu.requests}
    assert origins == {("api", "POST"), ("polling", "GET"), ("delivery", "GET")}


def test_the_key_goes_to_the_api_and_polling_origins_only(emu: Any, tmp_path: Path) -> None:
    with client_for(emu) as client:
        client.generate("a red fox", model="klein-9b").save(tmp_path / "fox.jpg")
    for request in emu.requests:
        if request.origin == "delivery":
            assert not request.has_key
        else:
            assert request.key_matches


def test_edit_with_an_input_image_file(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.new("RGB", (32, 32), (10, 200, 30)).save(source)
    with client_for(emu) as client:
        image = client.generate("the same, at night", model="flex", images=[source])
        content = image.content
    (submit,) = [r for r in emu.requests if r.method == "POST"]
    assert base64.b64decode(submit.json["input_image"]) == source.read_bytes()
    assert Image.open(io.BytesIO(content)).format == "JPEG"  # the service's default format


def test_async_generations_run_together(emu: Any, tmp_path: Path) -> None:
    async def main() -> list[flux2.GeneratedImage]:
        async with flux2.AsyncClient(
            api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
        ) as client:
            images = await asyncio.gather(
                *(client.generate(f"fox number {i}", model="klein-4b") for i in range(6))
            )
            await asyncio.gather(*(image.asave(tmp_path) for image in images))
            return images

    images = asyncio.run(main())
    assert len({i.task_id for i in images}) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i.task_id}.jpg" for i in images)


def test_a_task_persisted_and_resumed_by_another_client(emu: Any, tmp_path: Path) -> None:
    with client_for(emu) as client:
        stored = client.submit("a persisted fox", model="pro").to_dict()
    with client_for(emu) as other:
        image = other.wait(flux2.Task.from_dict(stored))
        image.save(tmp_path / "fox.jpg")
        again = other.wait(stored["polling_url"])
    assert image.task_id == again.task_id == stored["id"]
    assert len(emu.submissions()) == 1


def test_credits(emu: Any) -> None:
    with client_for(emu) as client:
        before = client.credits()
        client.submit("one fox", model="klein-4b")
        assert client.credits() < before


def test_a_polling_url_on_an_untrusted_host_is_never_contacted(emu: Any) -> None:
    # The base URL names the host "localhost"; the polling URLs say 127.0.0.1: another host.
    port = emu.base_url.rsplit(":", 1)[1]
    with client_for(emu, base_url=f"http://localhost:{port}") as client:
        task = client.submit("a fox", model="klein-4b")
        with pytest.raises(flux2.UntrustedHostError, match=r"127\.0\.0\.1"):
            client.wait(task)
    assert [r for r in emu.requests if r.origin == "polling"] == []
    with client_for(
        emu, base_url=f"http://localhost:{port}", trusted_hosts=["127.0.0.1"]
    ) as client:
        assert client.wait(task).task_id == task.id


def test_a_wrong_key_is_an_authentication_error(emu: Any) -> None:
    with (
        flux2.Client(api_key="wrong", base_url=emu.base_url) as client,
        pytest.raises(flux2.AuthenticationError) as caught,
    ):
        client.submit("a fox")
    assert caught.value.status_code in {401, 403}
    assert "wrong" not in str(caught.value)
    assert emu.submissions() == []


def test_bad_input_sends_nothing(emu: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with client_for(emu) as client:
        for kwargs in ({"model": "max", "guidance": 2.0}, {"images": [tmp_path / "notes.txt"]}):
            with pytest.raises(flux2.InputError):
                client.generate("a fox", **kwargs)
    assert emu.requests == []


def test_an_image_outlives_its_client(emu: Any, tmp_path: Path) -> None:
    with client_for(emu) as client:
        image = client.generate("a fox kept for later", model="klein-4b", output_format="png")
    assert client.is_closed
    assert image.save(tmp_path / "later.png").read_bytes()[:4] == b"\x89PNG"

    async def made_async() -> flux2.GeneratedImage:
        async with flux2.AsyncClient(
            api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
        ) as aclient:
            return await aclient.generate(
                "an async fox kept for later", model="klein-4b", output_format="webp"
            )

    async_image = asyncio.run(made_async())
    content = async_image.content  # a blocking read of an async client's image
    assert content[:4] == b"RIFF"
    assert content[8:12] == b"WEBP"
    assert all(not r.has_key for r in emu.requests if r.origin == "delivery")
