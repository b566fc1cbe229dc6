"""The AsyncClient's connection pool answers httpcore's idle-connection check itself
(flux2/_netstream.py): kept connections are reused, and one the server closed while idle is
dropped rather than sent a request. Over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import AsyncIterator

import httpx
import pytest

from flux2 import AsyncClient
from flux2._drive import new_async_http_client
from flux2._netstream import faster_idle_checks

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Server:
    """Answers each request on a connection with ``ok``. With ``close_after_answer``, it
    closes a connection after its first answer once ``close_now`` is set, as a server whose
    keep-alive ran out while the client held the connection idle."""

    def __init__(self, close_after_answer: bool) -> None:
        self.close_after_answer = close_after_answer
        self.connections = 0
        self.answered = 0
        self.close_now = asyncio.Event()
        self.closed = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(RESPONSE)
                await writer.drain()
                self.answered += 1
                if self.close_after_answer:
                    await self.close_now.wait()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        self.closed.set()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with new_async_http_client(httpx.Timeout(5.0), 4) as http:
        yield http


def _sockets(http: httpx.AsyncClient) -> list[object]:
    pool = http._transport._pool  # type: ignore[attr-defined]
    return [c._connection._network_stream for c in pool.connections if c._connection]


async def test_a_kept_connection_is_reused(http: httpx.AsyncClient) -> None:
    async with Server(close_after_answer=False) as server:
        for _ in range(3):
            assert (await http.get(server.url)).text == "ok"
    assert server.answered == 3
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_sent_a_request(
    http: httpx.AsyncClient,
) -> None:
    async with Server(close_after_answer=True) as server:
        assert (await http.get(server.url)).text == "ok"
        [stream] = _sockets(http)  # kept, idle
        server.close_now.set()
        await server.closed.wait()
        # Wait until the server's FIN has reached the client's socket, as it has by the time
        # a kept connection is next used in practice.
        sock = stream.get_extra_info("socket")  # type: ignore[attr-defined]
        assert select.select([sock], [], [], 5)[0]
        assert (await http.get(server.url)).text == "ok"
    assert server.connections == 2


async def test_every_pool_of_the_async_client_gets_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its own pool and, when the environment names a proxy, the proxy's: the environment's
    # proxies are still honoured.
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    async with new_async_http_client(httpx.Timeout(5.0), 4) as plain:
        assert faster_idle_checks(plain) == 1
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    async with new_async_http_client(httpx.Timeout(5.0), 4) as proxied:
        assert faster_idle_checks(proxied) == 2


async def test_the_async_client_sends_through_a_checked_pool() -> None:
    # If a new httpx or httpcore moves the pool or its backend, this fails rather than the
    # AsyncClient quietly spending the extra CPU again.
    async with AsyncClient(api_key="k", base_url="http://127.0.0.1:9") as client:
        http = client._http  # type: ignore[attr-defined]
        backend = http._transport._pool._network_backend
        assert type(backend).__module__ == "flux2._netstream"
        assert faster_idle_checks(http) == 1  # and giving it again changes nothing
        assert http._transport._pool._network_backend is backend
