"""Result images: real files in the asked format, deterministic, different per prompt."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from emulator_helpers import api, poll_until_done, submit
from PIL import Image, ImageChops, ImageStat

from flux2.emulator import Emulator


def fetch(emu: Emulator, prompt: str, **params: Any) -> httpx.Response:
    with api(emu) as http:
        task = submit(http, prompt, **params)
        sample = poll_until_done(http, task["polling_url"])[-1]["result"]["sample"]
    answer = httpx.get(sample)
    assert answer.status_code == 200
    return answer


def picture(answer: httpx.Response) -> Image.Image:
    return Image.open(io.BytesIO(answer.content))


@pytest.mark.parametrize(
    ("output_format", "pil_format", "content_type"),
    [
        (None, "JPEG", "image/jpeg"),
        ("jpeg", "JPEG", "image/jpeg"),
        ("png", "PNG", "image/png"),
        ("webp", "WEBP", "image/webp"),
    ],
)
def test_images_come_in_the_asked_format(
    bfl_emulator: Emulator, output_format: str | None, pil_format: str, content_type: str
) -> None:
    params = {"output_format": output_format} if output_format else {}
    answer = fetch(bfl_emulator, "a lighthouse at dawn", width=512, height=384, **params)
    assert answer.headers["content-type"] == content_type
    image = picture(answer)
    assert image.format == pil_format
    assert image.size == (512, 384)


def test_the_same_task_renders_the_same_bytes_on_any_emulator(
    bfl_emulator_factory: Any,
) -> None:
    first, second = bfl_emulator_factory(), bfl_emulator_factory()
    params = {"seed": 42, "width": 320, "height": 256, "output_format": "png"}
    one = fetch(first, "a lighthouse at dawn", **params).content
    assert fetch(first, "a lighthouse at dawn", **params).content == one
    assert fetch(second, "a lighthouse at dawn", **params).content == one


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def test_different_prompts_and_seeds_look_different(bfl_emulator: Emulator) -> None:
    params = {"width": 256, "height": 256, "output_format": "png"}
    dawn = picture(fetch(bfl_emulator, "a lighthouse at dawn", seed=1, **params))
    night = picture(fetch(bfl_emulator, "a fox in the night forest", seed=1, **params))
    reseeded = picture(fetch(bfl_emulator, "a lighthouse at dawn", seed=2, **params))
    assert _difference(dawn, night) > 20
    assert _difference(dawn, reseeded) > 5
    # Not a blank square: the picture has structure.
    assert max(hi - lo for lo, hi in ImageStat.Stat(dawn.convert("L")).extrema) > 100


def test_an_edit_shows_its_input_image(bfl_emulator: Emulator) -> None:
    source = io.BytesIO()
    Image.new("RGB", (256, 256), (0, 200, 0)).save(source, "PNG")
    encoded = base64.b64encode(source.getvalue()).decode()
    params = {"seed": 1, "output_format": "png"}
    edited = picture(fetch(bfl_emulator, "make it autumn", input_image=encoded, **params))
    plain = picture(fetch(bfl_emulator, "make it autumn", width=256, height=256, **params))
    assert edited.size == (256, 256)  # the input's size
    green = ImageStat.Stat(edited.convert("RGB")).mean[1]
    assert green > ImageStat.Stat(plain.convert("RGB")).mean[1]
    assert _difference(edited, plain) > 10


def test_sizes_are_multiples_of_16_within_4_megapixels(bfl_emulator: Emulator) -> None:
    assert picture(fetch(bfl_emulator, "a fox", width=1000, height=250)).size == (992, 240)
    with api(bfl_emulator) as http:
        big = submit(http, "a big fox", width=2048, height=2048)
        wide = submit(http, "a wide fox", width=4096, height=1024)
    assert big["output_mp"] == wide["output_mp"] == 4.0


@pytest.mark.parametrize(
    "sides",
    [
        {"width": 2048, "height": 2064},
        {"width": 4096, "height": 4096},
        {"height": 10**25},
        {"width": 1_000_000},
        {"width": 64, "height": 10**9},
    ],
)
def test_more_than_4_megapixels_is_refused_and_never_priced(
    bfl_emulator: Emulator, sides: dict[str, int]
) -> None:
    bfl_emulator.credits = 1e9
    with api(bfl_emulator) as http:
        refused = http.post("/v1/flux-2-klein-4b", json={"prompt": "a huge fox", **sides})
    assert refused.status_code == 422, refused.text
    [detail] = refused.json()["detail"]
    assert detail["loc"] == ["body"]
    assert "4194304 pixels" in detail["msg"]
    assert bfl_emulator.submissions() == []
    assert bfl_emulator.credits == 1e9


@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
def test_a_large_result_is_padded_to_the_asked_size_and_still_decodes(
    bfl_emulator: Emulator, output_format: str
) -> None:
    answer = fetch(
        bfl_emulator,
        "a heavy fox [[size=3MB]]",
        width=256,
        height=256,
        output_format=output_format,
    )
    assert len(answer.content) == 3_000_000
    assert answer.headers["content-length"] == "3000000"
    image = picture(answer)
    image.load()
    assert image.size == (256, 256)


def test_a_large_result_for_every_task(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(result_size=1_500_000)
    answer = fetch(emu, "a fox", width=128, height=128)
    assert len(answer.content) == 1_500_000
    picture(answer).load()


def test_byte_ranges_are_served(bfl_emulator: Emulator) -> None:
    whole = fetch(bfl_emulator, "a ranged fox", output_format="png")
    sample = str(whole.request.url)
    part = httpx.get(sample, headers={"range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
    big = fetch(bfl_emulator, "a ranged fox [[size=2MB]]")
    tail = httpx.get(str(big.request.url), headers={"range": "bytes=-100"})
    assert tail.content == big.content[-100:]
