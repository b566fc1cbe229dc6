"""Prices and estimates: what a request would send and cost, with nothing sent."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

import flux2
from flux2 import pricing, registry


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"estimate() sent {request.method} {request.url}")


@pytest.fixture
def client() -> flux2.Client:
    http = httpx.Client(transport=httpx.MockTransport(never_called))
    return flux2.Client(api_key="k", base_url="https://api.example.test", http_client=http)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_price_list_is_bfls_per_megapixel_one() -> None:
    # klein-4b: 1.4 credits for the first MP, 0.1 for each further output or input MP [doc].
    assert pricing.PRICES["klein-4b"].credits(1.0) == 1.4
    assert pricing.PRICES["klein-4b"].credits(0.25) == 1.4
    assert pricing.PRICES["klein-4b"].credits(4.0, input_mp=2.0) == 1.9
    assert pricing.PRICES["max"].credits(2.0) == 10.0
    assert pricing.price_of("klein-9b-preview") == pricing.PRICES["klein-9b"]
    assert pricing.price_of("no-such-model") is None


def test_every_model_of_the_spec_has_a_price() -> None:
    for name in registry.all_models():
        assert pricing.price_of(name) is not None, name


def test_an_estimate_says_what_would_be_sent_and_what_it_costs(client: flux2.Client) -> None:
    estimate = client.estimate("a fox", model="flex", width=2048, height=1024, seed=3)
    assert (estimate.method, estimate.url) == ("POST", "https://api.example.test/v1/flux-2-flex")
    assert estimate.body == {"prompt": "a fox", "width": 2048, "height": 1024, "seed": 3}
    assert (estimate.width, estimate.height, estimate.output_mp) == (2048, 1024, 2.0)
    assert estimate.credits == 10.0
    assert estimate.usd == 0.1
    assert estimate.notes == ()
    assert "10 credits ($0.1000)" in str(estimate)
    assert estimate.to_dict()["credits"] == 10.0


def test_input_images_are_priced_by_their_size(client: flux2.Client, tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(png(2048, 1024))
    estimate = client.estimate("edit", model="pro", images=[path, png(1024, 1024)])
    # The output follows the first input image; both inputs are charged at the further rate.
    assert (estimate.width, estimate.height) == (2048, 1024)
    assert estimate.input_mp == 3.0
    assert estimate.credits == pricing.PRICES["pro"].credits(2.0, 3.0)
    assert estimate.body["input_image"].startswith("<png images[0]")


def test_what_an_estimate_cannot_know_is_said(client: flux2.Client) -> None:
    estimate = client.estimate("x", model="klein-9b-preview", images=["https://example.com/a.png"])
    assert estimate.input_mp == 0.0
    notes = " ".join(estimate.notes)
    assert "cannot be read" in notes
    assert "1024x1024" in notes
    assert "priced as klein-9b" in notes


def test_an_estimate_refuses_what_generate_refuses(client: flux2.Client) -> None:
    with pytest.raises(flux2.InputError, match="guidance"):
        client.estimate("x", model="max", guidance=3)
    with pytest.raises(flux2.InputError, match="4 MP"):
        client.estimate("x", width=4096, height=4096)


async def test_the_async_client_estimates_the_same() -> None:
    async with flux2.AsyncClient(api_key="k", base_url="https://api.example.test") as client:
        estimate = client.estimate("a fox", model="klein-4b")
    assert estimate.credits == 1.4


def test_secrets_stay_out_of_an_estimate(client: flux2.Client) -> None:
    estimate = client.estimate(
        "x", webhook_url="https://hooks.example.test/in", webhook_secret="s3cret"
    )
    assert "s3cret" not in str(estimate.to_dict())
