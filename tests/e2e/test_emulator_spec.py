"""The emulator serves any spec it is given, and every submit endpoint of it, over plain HTTP.

Expectations come from the spec itself (paths, required fields, defaults), so they hold for
the pinned spec and for a synthetic later one: a new model whose request requires an input
image, with defaults of its own.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from typing import Any

import httpx
import pytest
from emulator_helpers import KEY, api, poll_until_done
from PIL import Image

from flux2._spec import pinned_spec

SPEC = pinned_spec()


def _png(width: int = 320, height: int = 160) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def _submit_paths(document: dict[str, Any]) -> list[str]:
    """POST operations whose answer is an async task (it names a polling URL)."""
    return sorted(
        path
        for path, item in document["paths"].items()
        if "post" in item and "AsyncResponse" in json.dumps(item["post"]["responses"]["200"])
    )


def _required_body(document: dict[str, Any], path: str, prompt: str) -> dict[str, Any]:
    """A body with the endpoint's required fields, images for image fields."""
    schema = _schema(document, path)
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        if "image" in name:
            body[name] = _png()
        elif name == "prompt":
            body[name] = prompt
        else:
            body[name] = f"some-{name}"
    if "prompt" in schema["properties"]:
        body.setdefault("prompt", prompt)
    return body


def _run(http: httpx.Client, path: str, body: dict[str, Any]) -> tuple[Any, httpx.Response]:
    submitted = http.post(path, json=body)
    assert submitted.status_code == 200, (path, submitted.text)
    done = poll_until_done(http, submitted.json()["polling_url"])[-1]
    assert done["status"] == "Ready", (path, done)
    image = http.get(done["result"]["sample"])
    assert image.status_code == 200
    return done, image


# -- the pinned spec: FLUX.1, Kontext, fill, expand, finetuned ... ---------------------------


def test_the_pinned_spec_has_submit_endpoints_beyond_flux2() -> None:
    assert [p for p in _submit_paths(SPEC) if not p.startswith("/v1/flux-2-")]


@pytest.mark.parametrize("path", _submit_paths(SPEC))
def test_every_submit_endpoint_of_the_pinned_spec_is_served(
    bfl_emulator_factory: Any, path: str
) -> None:
    emu = bfl_emulator_factory(speed=0)
    schema = _schema(SPEC, path)
    with api(emu) as http:
        _, image = _run(http, path, _required_body(SPEC, path, "a fox"))
        for name in schema.get("required", []):
            # Each required field is required: without it, 422 naming it.
            body = _required_body(SPEC, path, "a fox")
            del body[name]
            refused = http.post(path, json=body)
            assert refused.status_code == 422, (path, name, refused.text)
            assert ["body", name] in [d["loc"] for d in refused.json()["detail"]]
    default_format = schema["properties"].get("output_format", {}).get("default", "jpeg")
    assert image.headers["content-type"] == f"image/{default_format}"
    assert [t.model for t in emu.submissions()] == [
        path.removeprefix("/v1/").removeprefix("flux-2-")
    ]


def test_flux1_defaults_come_from_the_spec(bfl_emulator_factory: Any) -> None:
    path = next(
        p
        for p in _submit_paths(SPEC)
        if "width" in _schema(SPEC, p)["properties"]
        and _schema(SPEC, p)["properties"]["width"].get("default")
    )
    defaults = _schema(SPEC, path)["properties"]
    emu = bfl_emulator_factory(speed=0)
    with api(emu) as http:
        _, image = _run(http, path, {"prompt": "a fox"})
    width, height = defaults["width"]["default"], defaults["height"]["default"]
    assert Image.open(io.BytesIO(image.content)).size == (width // 16 * 16, height // 16 * 16)


def test_a_kontext_edit_follows_its_input_image(bfl_emulator_factory: Any) -> None:
    path = "/v1/flux-kontext-pro"
    if path not in SPEC["paths"]:
        pytest.skip("the pinned spec has no Kontext endpoint")
    emu = bfl_emulator_factory(speed=0)
    with api(emu) as http:
        _, image = _run(http, path, {"prompt": "make it blue", "input_image": _png(320, 160)})
    assert (
        Image.open(io.BytesIO(image.content)).size[0]
        > Image.open(io.BytesIO(image.content)).size[1]
    )
    [task] = emu.submissions()
    assert task.input_mp > 0


# -- a spec the project has never seen --------------------------------------------------------


def _future_spec() -> dict[str, Any]:
    """The pinned spec plus a FLUX.2 model whose request requires an input image and has its
    own defaults (PNG out, upsampling on)."""
    document = copy.deepcopy(SPEC)
    base = copy.deepcopy(_schema(document, "/v1/flux-2-klein-4b"))
    base["required"] = ["prompt", "input_image"]
    base["properties"]["input_image"] = {"type": "string", "title": "Input Image"}
    base["properties"]["output_format"]["default"] = "png"
    base["properties"]["prompt_upsampling"] = {"type": "boolean", "default": True}
    base["title"] = "Flux2EditInputs"
    document["components"]["schemas"]["Flux2EditInputs"] = base
    operation = copy.deepcopy(document["paths"]["/v1/flux-2-klein-4b"]["post"])
    operation["operationId"] = "generate_flux_2_edit_v1_flux_2_edit_post"
    operation["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Flux2EditInputs"
    }
    document["paths"]["/v1/flux-2-edit"] = {"post": operation}
    return document


def test_a_new_model_that_requires_an_input_image(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0, spec=_future_spec())
    with api(emu) as http:
        refused = http.post("/v1/flux-2-edit", json={"prompt": "a fox"})
        assert refused.status_code == 422
        assert [d["loc"] for d in refused.json()["detail"]] == [["body", "input_image"]]
        assert refused.json()["detail"][0]["type"] == "missing"
        done, image = _run(
            http, "/v1/flux-2-edit", {"prompt": "a fox", "input_image": _png(320, 160)}
        )
    assert image.headers["content-type"] == "image/png"  # the new model's own default
    assert done["result"]["prompt"].startswith("a fox, ")  # upsampled by default
    [task] = emu.submissions()
    assert task.model == "edit"
    assert (task.width, task.height) == (Image.open(io.BytesIO(image.content)).size)
    assert task.width > task.height  # follows the input image's aspect


def test_a_spec_without_a_model_no_longer_serves_it(bfl_emulator_factory: Any) -> None:
    document = copy.deepcopy(SPEC)
    del document["paths"]["/v1/flux-2-klein-4b"]
    emu = bfl_emulator_factory(speed=0, spec=document)
    with api(emu) as http:
        assert http.post("/v1/flux-2-klein-4b", json={"prompt": "a fox"}).status_code == 404
        assert http.post("/v1/flux-2-klein-9b", json={"prompt": "a fox"}).status_code == 200


# -- BFL's own SDK, unmodified ----------------------------------------------------------------


def test_bfls_sdk_runs_unmodified_against_the_emulator(bfl_emulator_factory: Any) -> None:
    blackforest = pytest.importorskip("blackforest")
    from blackforest.types.general.client_config import ClientConfig

    emu = bfl_emulator_factory(speed=0)
    sdk = blackforest.BFLClient(api_key=KEY, base_url=emu.base_url)
    done = sdk.generate(
        "flux-pro-1.1",
        {"prompt": "a lighthouse at dawn", "width": 512, "height": 512},
        ClientConfig(sync=True, polling_interval=0.1, timeout=30),
    )
    sample = done.result["sample"]
    image = httpx.get(sample, timeout=10)
    assert Image.open(io.BytesIO(image.content)).size == (512, 512)
    edited = sdk.generate(
        "flux-kontext-pro",
        {"prompt": "make it night", "input_image": _png()},
        ClientConfig(sync=True, polling_interval=0.1, timeout=30),
    )
    assert edited.result["sample"].startswith(emu.delivery_origin)
    assert [t.model for t in emu.submissions()] == ["flux-pro-1.1", "flux-kontext-pro"]
