"""Every model of the pinned spec works through flux2's client over the emulator.

What a call needs and what it gets back are read from the pin, not typed in: the models, their
required fields and image slots, the output format each defaults to. Re-pinned to another spec
(tests/contract/test_repin.py), the same tests cover that spec's models.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import flux2
from flux2.emulator import Emulator
from flux2.registry import Model, Param, all_models

pytestmark = pytest.mark.repin

KEY = "test-key"
SPEED = 0.002
MODELS = sorted(all_models())


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, speed=SPEED, credits=1e9) as server:
        yield server


@pytest.fixture
def client(emu: Emulator) -> Iterator[flux2.Client]:
    with flux2.Client(
        api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
    ) as made:
        yield made


def allowed_value(param: Param) -> Any:
    """A value the spec allows for `param`: its default when it has a usable one."""
    if param.enum:
        return param.default if param.default in param.enum else param.enum[0]
    if "boolean" in param.types:
        return bool(param.default)
    if "integer" in param.types or "number" in param.types:
        low = param.minimum if param.minimum is not None else 0
        value = param.default if isinstance(param.default, (int, float)) else low
        value = max(low, value)
        return int(value) if "integer" in param.types else float(value)
    return "x" * max(param.min_length or 1, 1)


def required_arguments(model: Model) -> dict[str, Any]:
    """The keyword arguments a call must set besides the prompt and the images."""
    return {
        name: allowed_value(model.params[name]) for name in model.required if name in model.options
    }


def required_images(model: Model) -> int:
    """How many input images the model's request requires (slots fill from the first)."""
    required = [i for i, slot in enumerate(model.image_slots) if model.params[slot].required]
    return max(required) + 1 if required else 0


def detected_format(content: bytes) -> str:
    with Image.open(io.BytesIO(content)) as picture:
        return str(picture.format).lower()


@pytest.mark.parametrize("name", MODELS)
def test_every_model_generates_with_what_its_spec_requires(
    emu: Emulator, client: flux2.Client, name: str, tmp_path: Path
) -> None:
    model = all_models()[name]
    images = []
    for i in range(required_images(model)):
        path = tmp_path / f"in-{i}.png"
        Image.new("RGB", (32, 32), (40 * i, 120, 200)).save(path)
        images.append(path)
    extra = required_arguments(model)
    before = len(emu.submissions())
    image = client.generate(f"a fox by {name}", model=name, images=images or None, seed=3, **extra)
    made = emu.submissions()[before:]
    assert [s.model for s in made] == [name]
    post = [r for r in emu.requests if r.method == "POST"][-1]
    # Only what was set is sent; the service's defaults apply to the rest.
    slots = model.image_slots[: len(images)]
    assert set(post.json) == {"prompt", "seed", *extra, *slots}
    assert image.seed == 3
    output_format = model.params.get("output_format")
    if output_format is not None and output_format.has_default:
        # Nothing was asked for: the format is the model's default in the pin.
        assert detected_format(image.content) == str(output_format.default).replace("jpg", "jpeg")
    saved = image.save(tmp_path)
    assert saved.suffix.lstrip(".") in {"jpg", "jpeg", "png", "webp"}
