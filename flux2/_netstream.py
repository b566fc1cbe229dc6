"""A cheaper idle-connection check for httpx's async connection pool.

Before every request and after every response, httpcore's pool asks each idle connection
whether its socket is readable (a readable idle socket means the server closed it). The sync
pool answers from the socket it holds; the async one looks the socket up through anyio's typed
attributes on every call, which builds a dictionary of every attribute of the stream each
time. With a connection per task in flight that was most of the extra CPU an
:class:`flux2.AsyncClient` spent per task over a :class:`flux2.Client`.

The backend here wraps httpcore's own (anyio or trio, chosen as before) and answers
``is_readable`` from the socket looked up once per connection (a stream with no socket to show
answers for itself). Everything else is passed through unchanged, except that a stream whose
TLS handshake is cancelled is closed: httpcore would leave its socket open.
"""

from __future__ import annotations

import contextlib
import socket
import typing

import httpcore
import httpx

# httpcore's own answer for a socket (its sync pool's), so both pools decide alike.
from httpcore._utils import is_socket_readable

__all__ = ["faster_idle_checks"]

_SOCKET_OPTIONS = typing.Iterable[typing.Any] | None


_UNSEEN: typing.Any = object()


class _Stream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner", "_sock")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = _UNSEEN

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException as exc:
            # httpcore's backends close the stream when the handshake fails, but not when it
            # is cancelled (a timeout around the request, a task cancelled): httpcore then
            # drops the stream unclosed, and its socket stays open until garbage collection.
            if not isinstance(exc, Exception):
                with contextlib.suppress(Exception):  # the cancellation is what goes on
                    await self._inner.aclose()
            raise
        return _Stream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        if self._sock is _UNSEEN:
            self._sock = self._inner.get_extra_info("socket")
        if self._sock is None:
            # A stream with no socket to show (another backend's) knows for itself; "no
            # socket" is not "readable" for it, or none of its connections would be kept.
            return self._inner.get_extra_info("is_readable")
        return is_socket_readable(self._sock)


class _Backend(httpcore.AsyncNetworkBackend):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SOCKET_OPTIONS = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(
                host,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SOCKET_OPTIONS = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_unix_socket(
                path, timeout=timeout, socket_options=socket_options
            )
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def faster_idle_checks(client: httpx.AsyncClient) -> int:
    """Give the connection pools of ``client``'s transports (its own and any proxy's) the
    backend above. Returns how many it changed: none when this httpx or httpcore keeps its
    pools or backends elsewhere, and they are then left as they were."""
    transports = [getattr(client, "_transport", None)]
    transports += list((getattr(client, "_mounts", None) or {}).values())
    changed = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if not isinstance(pool, httpcore.AsyncConnectionPool) or not isinstance(
            inner, httpcore.AsyncNetworkBackend
        ):
            continue
        if not isinstance(inner, _Backend):
            pool._network_backend = _Backend(inner)
        changed += 1
    return changed
