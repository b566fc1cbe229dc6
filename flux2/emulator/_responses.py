"""Answers the emulator sends: JSON in FastAPI's shapes, Azure-style errors from the result host,
byte ranges, and the hostile answers of the faults (dropped, hanging, trickling, endless,
gzip bombs, broken encodings, deeply nested and huge JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from . import _images
from ._validation import ErrorDetail

__all__ = [
    "Abandon",
    "HangUp",
    "Paced",
    "azure_error",
    "badly_encoded",
    "badly_encoded_json",
    "deep_json",
    "detail",
    "endless_image",
    "gzip_bomb",
    "http_date",
    "huge_json",
    "invalid",
    "json_answer",
    "ranged",
    "streamed",
    "trickled_image",
    "trickled_json",
]

# A client that keeps a dropped connection open is let go after this long.
_HANG_UP_WAIT: Final = 5.0
# Bytes per chunk of the streamed fault bodies: large enough to be fast over loopback.
_CHUNK: Final = 64 * 1024
# Nesting of a deep JSON answer: far beyond any recursion limit of a JSON reader.
DEEP_JSON_LEVELS: Final = 100_000


class _JSON(JSONResponse):
    # ASCII escapes keep lone surrogates (which JSON text may carry) encodable.
    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


def json_answer(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return _JSON(body, status_code=status, headers=dict(headers or {}))


def detail(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return json_answer({"detail": message}, status, headers)


def invalid(details: list[ErrorDetail]) -> Response:
    """422 with FastAPI's details; an ``input`` that JSON cannot carry (NaN, nesting deeper
    than the encoder goes) is sent as null, as pydantic serialises what it cannot write."""
    try:
        return json_answer({"detail": details}, 422)
    except (ValueError, RecursionError):
        return json_answer({"detail": [{**d, "input": None} for d in details]}, 422)


def http_date(unix: float) -> str:
    return email.utils.formatdate(unix, usegmt=True)


def azure_error(code: str, message: str, status: int, extra: str | None = None) -> Response:
    """An error from the result host, in the shape Azure blob storage answers with."""
    now = email.utils.formatdate(usegmt=True)
    more = f"<AuthenticationErrorDetail>{extra}</AuthenticationErrorDetail>" if extra else ""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:{uuid.uuid4()}\nTime:{now}"
        f"</Message>{more}</Error>"
    )
    return Response(
        xml, status_code=status, media_type="application/xml", headers={"x-ms-error-code": code}
    )


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class HangUp(Response):
    """Closes the connection instead of answering, optionally after part of a body."""

    def __init__(
        self,
        close: Callable[[Scope], bool],
        partial: tuple[bytes, int, str] | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._close = close
        self._partial = partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._partial is not None:
            data, length, media_type = self._partial
            headers = [
                (b"content-type", media_type.encode()),
                (b"content-length", str(length).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if not self._close(scope):
            raise RuntimeError("the emulator could not find the connection to drop")
        # Wait until the server has seen the connection go, so it does not answer for us.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_HANG_UP_WAIT):
                await _wait_for_disconnect(receive)


class Abandon(Response):
    """Never answers: waits until the client gives up or the emulator stops, then closes the
    connection (a host that accepts a request and goes silent)."""

    def __init__(self, close: Callable[[Scope], bool], stopping: asyncio.Event | None) -> None:
        super().__init__(status_code=200)
        self._close = close
        self._stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(_wait_for_disconnect(receive))]
        if self._stopping is not None:
            waits.append(asyncio.ensure_future(self._stopping.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._close(scope)


class Paced(Response):
    """A streamed answer that stops when the client goes or the emulator stops; with ``rate``
    it sends that many bytes per second (a trickle)."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        status: int = 200,
        headers: Mapping[str, str],
        rate: int | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        super().__init__(status_code=status)
        self._chunks = chunks
        self._raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self._rate = rate
        self._stopping = stopping

    def _pieces(self) -> Iterator[bytes]:
        step = max(1, self._rate // 10) if self._rate else 0
        for chunk in self._chunks:
            if not step:
                yield chunk
                continue
            for start in range(0, len(chunk), step):
                yield chunk[start : start + step]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self._raw_headers,
                }
            )
            for piece in self._pieces():
                if gone.done() or (self._stopping is not None and self._stopping.is_set()):
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                if self._rate:
                    await asyncio.sleep(len(piece) / self._rate)
                else:
                    # Let the loop see a disconnect between chunks of an endless body.
                    await asyncio.sleep(0)
            last: Message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(last)
        finally:
            gone.cancel()


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def trickled_json(body: Any, status: int, rate: int, stopping: asyncio.Event | None) -> Paced:
    data = _json_bytes(body)
    headers = {"content-type": "application/json", "content-length": str(len(data))}
    return Paced([data], status=status, headers=headers, rate=rate, stopping=stopping)


def deep_json(fields: Mapping[str, Any], status: int = 200) -> Response:
    """``fields`` plus one member nested ``DEEP_JSON_LEVELS`` arrays deep: valid JSON that no
    recursive reader gets through."""
    head = _json_bytes(dict(fields))[:-1] + b',"nested":'
    data = head + b"[" * DEEP_JSON_LEVELS + b"]" * DEEP_JSON_LEVELS + b"}"
    return Response(data, status_code=status, media_type="application/json")


def badly_encoded(data: bytes, media_type: str, status: int = 200) -> Response:
    """``data`` as is, announced as gzip: no decoder can read it."""
    headers = {"content-encoding": "gzip"}
    return Response(data, status_code=status, media_type=media_type, headers=headers)


def badly_encoded_json(body: Any, status: int = 200) -> Response:
    return badly_encoded(_json_bytes(body), "application/json", status)


def huge_json(
    fields: Mapping[str, Any], size: int, stopping: asyncio.Event | None, status: int = 200
) -> Paced:
    """``fields`` plus a ``padding`` string, ``size`` bytes in all, streamed as it is sent."""
    head = _json_bytes(dict(fields))[:-1] + b',"padding":"'
    tail = b'"}'
    fill = max(0, size - len(head) - len(tail))

    def chunks() -> Iterator[bytes]:
        yield head
        left = fill
        block = b"x" * _CHUNK
        while left > 0:
            yield block[: min(left, _CHUNK)]
            left -= _CHUNK
        yield tail

    headers = {"content-type": "application/json", "content-length": str(len(head) + fill + 2)}
    return Paced(chunks(), status=status, headers=headers, stopping=stopping)


def endless_image(data: bytes, media_type: str, stopping: asyncio.Event | None) -> Paced:
    """The image, then zeros without end, with no length announced."""

    def chunks() -> Iterator[bytes]:
        yield data
        block = bytes(_CHUNK)
        while True:
            yield block

    return Paced(chunks(), headers={"content-type": media_type}, stopping=stopping)


def gzip_bomb(data: bytes, media_type: str, size: int, stopping: asyncio.Event | None) -> Paced:
    """The image padded with zeros to ``size`` bytes, gzip-compressed as it is sent: about a
    thousandth of ``size`` on the wire, ``size`` once decoded."""

    def chunks() -> Iterator[bytes]:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        yield packer.compress(data)
        left = size - len(data)
        block = bytes(1024 * 1024)
        while left > 0:
            out = packer.compress(block[: min(left, len(block))])
            left -= len(block)
            if out:
                yield out
        yield packer.flush()

    headers = {"content-type": media_type, "content-encoding": "gzip"}
    return Paced(chunks(), headers=headers, stopping=stopping)


def trickled_image(
    data: bytes, media_type: str, rate: int, stopping: asyncio.Event | None
) -> Paced:
    headers = {"content-type": media_type, "content-length": str(len(data))}
    return Paced([data], headers=headers, rate=rate, stopping=stopping)


def _byte_range(request: Request, size: int) -> tuple[int, int] | None:
    """The single ``Range: bytes=a-b`` asked for, as [start, end), or None."""
    header = request.headers.get("range", "")
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    try:
        if first:
            start = int(first)
            end = int(last) + 1 if last else size
        else:
            start, end = max(0, size - int(last)), size
    except ValueError:
        return None
    if start >= size or start >= end:
        return None
    return start, min(end, size)


def ranged(request: Request, data: bytes, media_type: str) -> Response:
    span = _byte_range(request, len(data))
    headers = {"accept-ranges": "bytes"}
    if span is None:
        return Response(data, media_type=media_type, headers=headers)
    start, end = span
    headers["content-range"] = f"bytes {start}-{end - 1}/{len(data)}"
    return Response(data[start:end], status_code=206, media_type=media_type, headers=headers)


def streamed(request: Request, body: _images.PaddedBody, media_type: str) -> Response:
    span = _byte_range(request, body.size)
    start, end = span or (0, body.size)
    headers = {"accept-ranges": "bytes", "content-length": str(end - start)}
    status = 200
    if span is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{body.size}"
        status = 206
    chunks: Iterator[bytes] = body.iter_range(start, end)
    return StreamingResponse(chunks, status_code=status, media_type=media_type, headers=headers)
