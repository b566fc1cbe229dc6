"""The AsyncClient's pool with its own idle-connection check (flux2/_netstream.py) over TLS
and through proxies named by the environment: connections upgraded to TLS (directly or in a
CONNECT tunnel) are kept and reused, dropped when the server closed them while idle, and a
request cancelled mid-handshake leaves nothing open. A CA and a server certificate are made
with the ``openssl`` command into the test's temporary folder; the pool trusts the CA through
``SSL_CERT_FILE``, as a user of :class:`flux2.AsyncClient` would."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_async_pool import LocalServer, Server, wait_readable

from flux2._drive import new_async_http_client
from flux2._netstream import faster_idle_checks

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

PROXY_VARIABLES = ["ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key), the server's for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=flux2 test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@pytest.fixture
def server_tls(certificates: tuple[Path, Path, Path]) -> ssl.SSLContext:
    _, cert, key = certificates
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch, certificates: tuple[Path, Path, Path]
) -> pytest.MonkeyPatch:
    """No proxy unless a test names one, and the test CA trusted."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates[0]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return monkeypatch


@contextlib.asynccontextmanager
async def pool() -> AsyncIterator[httpx.AsyncClient]:
    # The pool flux2.AsyncClient makes for itself, made after the environment is set.
    async with new_async_http_client(httpx.Timeout(5.0), 4) as http:
        yield http


def streams(transport: Any) -> list[Any]:
    """The network streams of a transport's pool, through any proxy connection's layers."""
    found = []
    for connection in transport._pool.connections:
        layer = connection
        while layer is not None and not hasattr(layer, "_network_stream"):
            layer = layer._connection
        if layer is not None:
            found.append(layer._network_stream)
    return found


def checked(stream: Any) -> bool:
    return type(stream).__module__ == "flux2._netstream"


async def test_a_kept_tls_connection_is_reused(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext
) -> None:
    async with Server(ssl=server_tls) as server, pool() as http:
        for _ in range(3):
            assert (await http.get(server.url)).text == "ok"
        [stream] = streams(http._transport)
        assert checked(stream)
        assert stream.get_extra_info("ssl_object") is not None
    assert server.answered == 3
    assert server.connections == 1


@pytest.mark.parametrize("reset", [False, True], ids=["close_notify", "rst"])
async def test_a_tls_connection_the_server_closed_while_idle_is_not_sent_a_request(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext, reset: bool
) -> None:
    async with (
        Server(close_after_answer=True, reset=reset, ssl=server_tls) as server,
        pool() as http,
    ):
        assert (await http.get(server.url)).text == "ok"
        [stream] = streams(http._transport)
        server.close_now.set()
        await server.closed.wait()
        await wait_readable(stream)
        assert (await http.get(server.url)).text == "ok"
    assert server.connections == 2


class Stalling(LocalServer):
    """Takes TCP connections and reads what comes, but never answers: a TLS handshake to it
    waits for ever. ``hello`` is set once the client's first handshake bytes arrive,
    ``gone`` once the client has closed its end."""

    scheme = "https"

    def __init__(self) -> None:
        super().__init__()
        self.hello = asyncio.Event()
        self.gone = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            if await reader.read(1):
                self.hello.set()
                await reader.read()
        self.gone.set()
        writer.close()


async def cancel_during_handshake(http: httpx.AsyncClient, stalling: Stalling) -> None:
    request = asyncio.ensure_future(http.get(stalling.url))
    await stalling.hello.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    # The client (or the proxy, when the client closed its end of the tunnel) closed the
    # half-made connection; else this waits for the garbage collector, and the test's time
    # runs out.
    await stalling.gone.wait()


async def test_a_request_cancelled_during_the_tls_handshake_leaves_nothing_open(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext
) -> None:
    async with Server(ssl=server_tls) as server, pool() as http:
        async with Stalling() as stalling:
            await cancel_during_handshake(http, stalling)
        assert streams(http._transport) == []
        assert (await http.get(server.url)).text == "ok"


class Proxy(LocalServer):
    """An HTTP proxy: ``CONNECT host:port`` opens a tunnel, any other request is forwarded
    with the rest of its connection to the host its absolute URL names. ``targets`` lists
    the (method, host:port) of each connection it took."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, str]] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
        if method != "CONNECT":
            target = httpx.URL(target).netloc.decode()
        self.targets.append((method, target))
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers.append(up_writer)
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            up_writer.write(head)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()  # one side ended: so does the other

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        await asyncio.gather(*self._pipes, return_exceptions=True)


def _proxy_transport(http: httpx.AsyncClient, url: str) -> Any:
    transport = http._transport_for_url(httpx.URL(url))
    assert transport is not http._transport  # the environment's proxy, not a direct line
    return transport


async def test_plain_requests_go_through_the_environments_proxy_on_a_checked_pool(
    environment: pytest.MonkeyPatch,
) -> None:
    async with Proxy() as proxy, Server() as server:
        environment.setenv("HTTP_PROXY", proxy.url)
        async with pool() as http:
            assert faster_idle_checks(http) == 2  # its own pool and the proxy's, already
            for _ in range(2):
                assert (await http.get(server.url)).text == "ok"
            [stream] = streams(_proxy_transport(http, server.url))
            assert checked(stream)
            assert streams(http._transport) == []
    assert proxy.targets == [("GET", server.url.split("/")[2])]
    assert (server.connections, server.answered) == (1, 2)


async def test_tls_tunnels_through_the_environments_proxy_are_checked_kept_and_dropped(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext
) -> None:
    async with Proxy() as proxy, Server(close_after_answer=True, ssl=server_tls) as server:
        environment.setenv("HTTPS_PROXY", proxy.url)
        async with pool() as http:
            assert (await http.get(server.url)).text == "ok"
            [stream] = streams(_proxy_transport(http, server.url))
            assert checked(stream)
            assert stream.get_extra_info("ssl_object") is not None
            # The server ends the tunnelled connection while it is idle: the proxy closes the
            # client's side, and the pool opens a new tunnel rather than write into it.
            server.close_now.set()
            await server.closed.wait()
            await wait_readable(stream)
            assert (await http.get(server.url)).text == "ok"
            assert streams(http._transport) == []
    netloc = server.url.split("/")[2]
    assert proxy.targets == [("CONNECT", netloc), ("CONNECT", netloc)]
    assert server.connections == 2


async def test_a_kept_tls_tunnel_is_reused(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext
) -> None:
    async with Proxy() as proxy, Server(ssl=server_tls) as server:
        environment.setenv("HTTPS_PROXY", proxy.url)
        async with pool() as http:
            for _ in range(3):
                assert (await http.get(server.url)).text == "ok"
    assert len(proxy.targets) == 1
    assert (server.connections, server.answered) == (1, 3)


async def test_a_request_cancelled_during_the_handshake_in_a_tunnel_leaves_nothing_open(
    environment: pytest.MonkeyPatch, server_tls: ssl.SSLContext
) -> None:
    async with Proxy() as proxy, Server(ssl=server_tls) as server, Stalling() as stalling:
        environment.setenv("HTTPS_PROXY", proxy.url)
        async with pool() as http:
            await cancel_during_handshake(http, stalling)
            # (httpcore keeps the unfinished tunnel in the proxy's pool, marked active: its
            # own bug, not the socket's, and the same for the blocking client.)
            assert (await http.get(server.url)).text == "ok"
    assert [method for method, _ in proxy.targets] == ["CONNECT", "CONNECT"]
