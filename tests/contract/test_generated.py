"""The generated package imports, is typed, and its FLUX.2 request models round-trip."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flux2
from flux2.registry import all_models

ROOT = Path(__file__).resolve().parents[2]


def _model_class(schema_name: str) -> Any:
    """The generated class of a schema: its name, with the generator's capitals (a schema
    ``Flux2Klein1bInputs`` becomes ``Flux2Klein1BInputs``)."""
    import flux2_generated.models as models

    by_name = {name.lower(): getattr(models, name) for name in models.__all__}
    return by_name[schema_name.lower()]


@pytest.mark.repin
def test_generated_package_imports_and_is_typed() -> None:
    package = importlib.import_module("flux2_generated")
    assert hasattr(package, "AuthenticatedClient")
    assert (Path(package.__file__).parent / "py.typed").exists()


def _full_body(model_name: str) -> dict[str, Any]:
    """A body that sets every parameter of the model to a value the spec allows."""
    model = all_models()[model_name]
    body: dict[str, Any] = {}
    for name, p in model.params.items():
        if p.enum:
            body[name] = p.enum[-1]
        elif "boolean" in p.types:
            body[name] = False
        elif "integer" in p.types:
            body[name] = int(p.maximum if p.maximum is not None else (p.minimum or 0) + 64)
        elif "number" in p.types:
            body[name] = float(p.maximum if p.maximum is not None else 1.0)
        elif p.format == "uri":
            body[name] = "https://example.com/hook"
        else:
            body[name] = f"value of {name}"
    return body


@pytest.mark.repin
@pytest.mark.parametrize("model_name", sorted(all_models()))
def test_request_models_round_trip(model_name: str) -> None:
    model = all_models()[model_name]
    cls = _model_class(model.request_schema)
    body = _full_body(model_name)
    parsed = cls.from_dict(body)
    assert parsed.to_dict() == body
    required = {name: body[name] for name in model.required}
    assert "prompt" in required
    minimal = cls.from_dict(required).to_dict()
    assert minimal == required, "unset fields must not be sent"
    for name in model.required:
        with pytest.raises(KeyError):
            cls.from_dict({k: v for k, v in required.items() if k != name})


def test_result_response_round_trips() -> None:
    from flux2_generated.models import ResultResponse

    body = {
        "id": "t1",
        "status": "Ready",
        "progress": 1.0,
        "result": {"sample": "https://delivery.example/x.jpg", "seed": 4},
        "details": {"k": "v"},
        "preview": None,
    }
    assert ResultResponse.from_dict(body).to_dict() == body


def test_pin_record_names_its_source() -> None:
    record = json.loads((ROOT / "openapi" / "source.json").read_text())
    assert set(record) >= {"source", "sha256", "pinned_sha256", "fetched", "kind"}
    assert len(record["sha256"]) == 64


# -- the generated client as flux2's low-level layer (client.lowlevel) ----------------------

LOWLEVEL_KEY = "lowlevel-key"


@pytest.fixture
def emu() -> Iterator[Any]:
    from flux2.emulator import Emulator

    with Emulator(api_key=LOWLEVEL_KEY, speed=0.002) as server:
        yield server


def _client(emu: Any, **options: Any) -> flux2.Client:
    schedule = flux2.PollSchedule(scale=0.002)
    return flux2.Client(
        api_key=LOWLEVEL_KEY, base_url=emu.base_url, poll_schedule=schedule, **options
    )


def test_the_readme_flux1_call_through_the_lowlevel_client(emu: Any, tmp_path: Path) -> None:
    # As in README.md: a FLUX.1 model the facade does not cover, then flux2's own waiting.
    from flux2_generated.api.models import flux_dev_v1_flux_dev_post as flux_dev
    from flux2_generated.models import AsyncResponse, FluxDevInputs

    with _client(emu) as client, client.lowlevel as api:
        body = FluxDevInputs(prompt="a lighthouse at dawn", width=1024, height=768)
        answer = flux_dev.sync(client=api, body=body)
        assert isinstance(answer, AsyncResponse), answer
        image = client.wait(flux2.Task.from_polling_url(answer.polling_url))
        saved = image.save(tmp_path)
    assert saved.stat().st_size > 0
    (post,) = [r for r in emu.requests if r.method == "POST"]
    assert post.path == "/v1/flux-dev"
    assert post.key_matches


def test_the_lowlevel_client_sends_the_key_and_settings_of_its_client(emu: Any) -> None:
    from flux2_generated.api.models import (
        generate_flux_2_klein_4b_v1_flux_2_klein_4b_post as klein_4b,
    )
    from flux2_generated.models import AsyncResponse, Flux2KleinInputs

    with _client(emu, timeout=7.5) as client, client.lowlevel as api:
        assert LOWLEVEL_KEY not in repr(api)
        assert api.get_httpx_client().timeout == httpx.Timeout(7.5)
        # The generated models send every default they know (width=0 included), so the size
        # is set here; flux2's facade sends only what the caller set.
        body = Flux2KleinInputs(prompt="a fox", seed=4, width=512, height=512)
        answer = klein_4b.sync(client=api, body=body)
        assert isinstance(answer, AsyncResponse), answer
        # What the generated client submitted, flux2's facade waits for and downloads.
        image = client.wait(flux2.Task.from_polling_url(answer.polling_url))
    assert image.seed == 4
    post = emu.requests[0]
    assert post.key_matches
    assert post.headers["user-agent"].startswith("flux2-python/")
    assert post.json == body.to_dict()


def test_the_lowlevel_client_refuses_to_send_the_key_to_another_host(emu: Any) -> None:
    # The base URL names 127.0.0.1; "localhost" is another host, as a polling URL could be.
    elsewhere = emu.base_url.replace("127.0.0.1", "localhost") + "/v1/credits"
    with _client(emu) as client, client.lowlevel as api:
        with pytest.raises(flux2.UntrustedHostError, match="localhost"):
            api.get_httpx_client().get(elsewhere)
        copy = api.with_headers({"x-extra": "1"})
        with pytest.raises(flux2.UntrustedHostError):
            copy.get_httpx_client().get(elsewhere)
        assert api.get_httpx_client().get("/v1/credits").status_code == 200

    async def from_async() -> None:
        aclient = flux2.AsyncClient(api_key=LOWLEVEL_KEY, base_url=emu.base_url)
        async with aclient, aclient.lowlevel as aapi:
            with pytest.raises(flux2.UntrustedHostError):
                await aapi.get_async_httpx_client().get(elsewhere)

    asyncio.run(from_async())
    assert [r.path for r in emu.requests] == ["/v1/credits"]
    with _client(emu, trusted_hosts=["localhost"]) as client, client.lowlevel as api:
        assert api.get_httpx_client().get(elsewhere).status_code == 200
