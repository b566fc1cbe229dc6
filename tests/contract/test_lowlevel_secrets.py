"""``client.lowlevel``: the request httpx attaches to its errors and responses carries no key,
whatever the transport below raised."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest

import flux2

KEY = "lowlevel-secret-0123456789"
DEAD = "http://127.0.0.1:1"


def strings(root: object) -> Iterator[str]:
    """Every string reachable from an exception: its cause and context, arguments, request
    and response (their headers and URL), attributes and containers."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, type | int | float):
            continue
        seen.add(id(item))
        if isinstance(item, str | bytes | bytearray):
            yield item.decode("latin-1") if isinstance(item, bytes | bytearray) else item
            continue
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
        elif isinstance(item, httpx.Headers):
            stack += [*item.raw, repr(item)]
        else:
            if isinstance(item, BaseException):
                stack += [item.__cause__, item.__context__, *item.args, str(item), repr(item)]
            for name in ("request", "response", "_request", "headers", "url"):
                try:
                    stack.append(getattr(item, name))
                except Exception:
                    continue
            stack += list(getattr(item, "__dict__", {}).values())


def assert_no_key(error: BaseException) -> None:
    assert not [text for text in strings(error) if KEY in text]


def _submit(api: Any) -> Any:
    from flux2_generated.api.models import flux_dev_v1_flux_dev_post as flux_dev
    from flux2_generated.models import FluxDevInputs

    return flux_dev.sync(client=api, body=FluxDevInputs(prompt="a fox"))


async def _asubmit(api: Any) -> Any:
    from flux2_generated.api.models import flux_dev_v1_flux_dev_post as flux_dev
    from flux2_generated.models import FluxDevInputs

    return await flux_dev.asyncio(client=api, body=FluxDevInputs(prompt="a fox"))


def test_a_dead_host_raises_an_error_without_the_key() -> None:
    client = flux2.Client(api_key=KEY, base_url=DEAD)
    with client, client.lowlevel as api, pytest.raises(httpx.ConnectError) as caught:
        _submit(api)
    assert_no_key(caught.value)

    async def from_async() -> BaseException:
        aclient = flux2.AsyncClient(api_key=KEY, base_url=DEAD)
        async with aclient, aclient.lowlevel as aapi:
            with pytest.raises(httpx.ConnectError) as acaught:
                await _asubmit(aapi)
        return acaught.value

    assert_no_key(asyncio.run(from_async()))


def _lost(request: httpx.Request) -> httpx.Response:
    assert request.headers["x-key"] == KEY  # the transport gets the key; nothing above it does
    raise httpx.ConnectError("lost", request=request)


def test_a_transport_raising_with_its_request_gives_an_error_without_the_key() -> None:
    with flux2.Client(api_key=KEY, base_url="https://api.bfl.ai") as client:
        api = attrs.evolve(client.lowlevel, httpx_args={"transport": httpx.MockTransport(_lost)})
        with api, pytest.raises(httpx.ConnectError) as caught:
            _submit(api)
    assert_no_key(caught.value)


def test_a_response_holds_a_request_without_the_key() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-key"])
        return httpx.Response(200, json={"credits": 5}, request=request)

    with flux2.Client(api_key=KEY, base_url="https://api.bfl.ai") as client:
        api = attrs.evolve(client.lowlevel, httpx_args={"transport": httpx.MockTransport(answer)})
        with api:
            response = api.get_httpx_client().get("/v1/credits")
    assert seen == [KEY]
    assert "x-key" not in response.request.headers
    assert KEY not in repr(api.get_httpx_client().headers)
