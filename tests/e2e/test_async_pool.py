"""The AsyncClient's connection pool answers httpcore's idle-connection check itself
(flux2/_netstream.py): kept connections are reused, and one the server closed while idle is
dropped rather than sent a request. Over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl as ssl_module
import struct
from collections.abc import AsyncIterator
from typing import Any, Self

import httpcore
import httpx
import psutil
import pytest

from flux2 import AsyncClient, PollSchedule, _drive
from flux2._drive import new_async_http_client
from flux2._netstream import faster_idle_checks

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class LocalServer:
    """A server on 127.0.0.1 (over TLS with ``ssl``) that hands each connection to
    ``serve``; leaving it closes every connection it took."""

    scheme = "http"

    def __init__(self, ssl: ssl_module.SSLContext | None = None) -> None:
        self.ssl = ssl
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await self.serve(reader, writer)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._take, "127.0.0.1", 0, ssl=self.ssl)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.ssl else self.scheme}://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl_module.SSLError):
                await writer.wait_closed()
        await self._server.wait_closed()


class Server(LocalServer):
    """Answers each request on a connection with ``ok``. With ``close_after_answer``, it
    closes a connection after its first answer once ``close_now`` is set, as a server whose
    keep-alive ran out while the client held the connection idle (with ``reset``, by an RST
    rather than a FIN). With ``answer=False`` it reads a request and never answers; with
    ``cut=True`` it sends half an answer and closes."""

    def __init__(
        self,
        close_after_answer: bool = False,
        *,
        answer: bool = True,
        cut: bool = False,
        reset: bool = False,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        super().__init__(ssl)
        self.close_after_answer = close_after_answer
        self.answer = answer
        self.cut = cut
        self.reset = reset
        self.connections = 0
        self.answered = 0
        self.received = asyncio.Event()
        self.close_now = asyncio.Event()
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.received.set()
                if not self.answer:
                    await reader.read()  # until the client gives up
                    break
                if self.cut:
                    writer.write(RESPONSE.replace(b"Length: 2", b"Length: 9"))
                    break
                writer.write(RESPONSE)
                await writer.drain()
                self.answered += 1
                if self.close_after_answer:
                    await self.close_now.wait()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self.reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        self.closed.set()


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


async def wait_readable(stream: object) -> None:
    # Until what the server sent as it closed (FIN, RST, TLS close_notify) has reached the
    # client's socket, as it has by the time a kept connection is next used in practice. In a
    # thread: a proxy between them runs on this event loop.
    sock = stream.get_extra_info("socket")  # type: ignore[attr-defined]
    ready, _, _ = await asyncio.to_thread(select.select, [sock], [], [], 5)
    assert ready


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_a_connection_the_server_closed_while_idle_is_not_sent_a_request(
    http: httpx.AsyncClient, reset: bool
) -> None:
    async with Server(close_after_answer=True, reset=reset) as server:
        assert (await http.get(server.url)).text == "ok"
        [stream] = _sockets(http)  # kept, idle
        server.close_now.set()
        await server.closed.wait()
        await wait_readable(stream)
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


async def test_a_connection_cut_during_an_answer_is_dropped_and_the_next_request_works(
    http: httpx.AsyncClient,
) -> None:
    async with Server(cut=True) as cutting:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(cutting.url)
    assert _sockets(http) == []
    async with Server() as server:
        assert (await http.get(server.url)).text == "ok"
        assert (await http.get(server.url)).text == "ok"
    assert server.connections == 1


async def test_a_request_cancelled_while_waiting_for_its_answer_leaves_no_connection(
    http: httpx.AsyncClient,
) -> None:
    async with Server(answer=False) as silent:
        async with asyncio.timeout(None) as deadline:
            request = asyncio.ensure_future(http.get(silent.url))
            await silent.received.wait()  # the request is out; its answer never comes
            deadline.reschedule(asyncio.get_running_loop().time())
            with pytest.raises(asyncio.CancelledError):
                await request
        # The client closed the connection: the server reads its end.
        await silent.closed.wait()
    assert _sockets(http) == []
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert pool.connections == []
    async with Server() as server:
        assert (await http.get(server.url)).text == "ok"


async def test_a_pool_closed_while_a_request_waits_ends_it_and_closes_the_socket() -> None:
    async with Server(answer=False) as silent:
        http = new_async_http_client(httpx.Timeout(5.0), 4)
        request = asyncio.ensure_future(http.get(silent.url))
        await silent.received.wait()
        await http.aclose()
        with pytest.raises(httpx.ReadError):
            await request
        await silent.closed.wait()


class HiddenSocketStream(httpcore.AsyncNetworkStream):
    """A stream of a backend other than httpcore's: it shows no socket, and answers whether it
    is readable from what it knows itself."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return None if info == "socket" else self.inner.get_extra_info(info)


class HiddenSocketBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return HiddenSocketStream(await self.inner.connect_tcp(*args, **kwargs))


async def test_a_backend_whose_streams_show_no_socket_keeps_its_connections() -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        http._transport._pool._network_backend = HiddenSocketBackend()  # type: ignore[attr-defined]
        assert faster_idle_checks(http) == 1
        async with Server() as server:
            for _ in range(3):
                assert (await http.get(server.url)).text == "ok"
    assert server.connections == 1


async def test_copies_share_the_checked_pool_and_a_given_pool_is_left_alone() -> None:
    async with AsyncClient(api_key="k", base_url="http://127.0.0.1:9") as client:
        copy = client.with_options(max_retries=1, max_concurrency=3)
        assert copy._http is client._http  # type: ignore[attr-defined]
        backend = client._http._transport._pool._network_backend  # type: ignore[attr-defined]
        assert type(backend).__module__ == "flux2._netstream"
    async with httpx.AsyncClient() as mine:
        before = mine._transport._pool._network_backend  # type: ignore[attr-defined]
        async with AsyncClient(api_key="k", base_url="http://127.0.0.1:9", http_client=mine):
            pass
        assert mine._transport._pool._network_backend is before  # type: ignore[attr-defined]
        assert type(before).__module__.startswith("httpcore.")
        assert not mine.is_closed


async def test_an_image_read_after_its_client_closed_comes_through_a_checked_pool(
    bfl_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[httpx.AsyncClient] = []

    def recording(timeout: httpx.Timeout, max_concurrency: int) -> httpx.AsyncClient:
        made.append(new_async_http_client(timeout, max_concurrency))
        return made[-1]

    async with AsyncClient(
        api_key=bfl_emulator.api_key,
        base_url=bfl_emulator.base_url,
        poll_schedule=PollSchedule(scale=0.002),
    ) as client:
        image = await client.generate("a fox read later", model="klein-4b", output_format="png")
    monkeypatch.setattr(_drive, "new_async_http_client", recording)
    assert (await image.aread())[:4] == b"\x89PNG"
    [short_lived] = made
    assert short_lived.is_closed
    backend = short_lived._transport._pool._network_backend  # type: ignore[attr-defined]
    assert type(backend).__module__ == "flux2._netstream"


async def test_a_request_cancelled_while_connecting_leaves_no_socket(
    http: httpx.AsyncClient,
) -> None:
    # A listener that accepts nothing, its backlog filled: a new connection to it waits in
    # SYN_SENT (where the kernel queues it regardless, it waits for an answer instead).
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=0))
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))

        def to_listener() -> int:
            return sum(
                1
                for c in psutil.Process().net_connections("tcp")
                if c.raddr and c.raddr.port == port and c.status != psutil.CONN_CLOSE
            )

        before = to_listener()
        request = asyncio.ensure_future(http.get(f"http://127.0.0.1:{port}/"))
        while to_listener() == before:  # until the client's socket exists
            await asyncio.sleep(0)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert to_listener() == before
        assert _sockets(http) == []
    async with Server() as server:
        assert (await http.get(server.url)).text == "ok"
