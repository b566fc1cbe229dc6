"""The idle-connection check of flux2/_netstream.py answers as httpcore's own
(``httpcore._utils.is_socket_readable``) over real sockets in every state a kept connection can
be in, and leaves the answer to the stream it wraps where that stream has no socket to show."""

from __future__ import annotations

import select
import socket
import typing
from collections.abc import Iterator

import httpcore
import pytest
from httpcore._utils import is_socket_readable

from flux2._netstream import _Stream


class Inner(httpcore.AsyncNetworkStream):
    """A stream as httpcore's anyio one answers: ``socket`` is the raw socket, ``is_readable``
    httpcore's check of it. ``shown`` is what it gives for ``socket`` (None: a stream that
    has none to show, whose own ``is_readable`` answer is ``own_answer``)."""

    def __init__(self, sock: socket.socket, shown: object, own_answer: object = None) -> None:
        self.sock = sock
        self.shown = shown
        self.own_answer = own_answer
        self.asked: list[str] = []

    def get_extra_info(self, info: str) -> typing.Any:
        self.asked.append(info)
        if info == "socket":
            return self.shown
        if info == "is_readable":
            return is_socket_readable(self.sock) if self.shown is not None else self.own_answer
        return None


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def _fin_arrived(sock: socket.socket) -> None:
    # Blocks until the peer's data or FIN is there, rather than sleeping for it.
    assert select.select([sock], [], [], 5)[0]


def test_each_state_of_a_kept_socket_gets_httpcores_answer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    stream = _Stream(Inner(client, client))

    def both() -> tuple[bool, bool]:
        return stream.get_extra_info("is_readable"), is_socket_readable(client)

    assert both() == (False, False)  # idle, nothing sent
    server.sendall(b"x")
    _fin_arrived(client)
    assert both() == (True, True)  # bytes the client never asked for
    assert client.recv(1) == b"x"
    assert both() == (False, False)  # read again: idle once more
    server.shutdown(socket.SHUT_WR)
    _fin_arrived(client)
    assert both() == (True, True)  # the server closed its side
    client.close()
    assert client.fileno() == -1
    assert both() == (True, True)  # closed here: fileno() is -1


def test_a_socket_reset_by_the_server_counts_as_readable(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    stream = _Stream(Inner(client, client))
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    server.close()  # linger 0: an RST rather than a FIN
    _fin_arrived(client)
    assert stream.get_extra_info("is_readable") is True
    assert is_socket_readable(client) is True


def test_the_socket_is_looked_up_once_per_stream(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, _ = pair
    inner = Inner(client, client)
    stream = _Stream(inner)
    for _ in range(5):
        assert stream.get_extra_info("is_readable") is False
    assert inner.asked == ["socket"]


@pytest.mark.parametrize("own_answer", [False, True, None])
def test_a_stream_without_a_socket_answers_for_itself(
    pair: tuple[socket.socket, socket.socket], own_answer: object
) -> None:
    # A stream of another backend (a mock, an in-memory or tunnelled one) that has no socket
    # to show still knows whether it is readable; taking "no socket" for "readable" would
    # drop every kept connection of such a backend before its next request.
    client, _ = pair
    inner = Inner(client, None, own_answer)
    stream = _Stream(inner)
    for _ in range(2):
        assert stream.get_extra_info("is_readable") is own_answer


def test_other_questions_go_to_the_wrapped_stream(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, _ = pair
    inner = Inner(client, client)
    stream = _Stream(inner)
    assert stream.get_extra_info("socket") is client
    assert stream.get_extra_info("ssl_object") is None
    assert inner.asked == ["socket", "ssl_object"]
