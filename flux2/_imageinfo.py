"""An image's format and size, read from its first bytes without Pillow.

The format comes from the magic-byte table in :mod:`flux2.inputs` (the file extensions of a
format are :func:`flux2.downloads.format_of_suffix`'s). Sizes are read for the formats the
service returns (JPEG, PNG, WebP); other formats get ``None``. A truncated or malformed header
gives ``None``, never an exception: this is for showing an image, not validating it.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Final

from .inputs import sniff_image_format

__all__ = ["ImageInfo", "image_info"]


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    format: str
    """``"jpeg"``, ``"png"``, ``"webp"``, ... (as :func:`flux2.inputs.sniff_image_format`)."""
    mime_type: str
    width: int | None
    height: int | None


def image_info(data: bytes) -> ImageInfo | None:
    """Format, MIME type and size of an encoded image; ``None`` if it is not an image."""
    found = sniff_image_format(data[:32])
    if found is None:
        return None
    fmt, _ext, mime = found
    reader = _SIZE_READERS.get(fmt)
    size = reader(data) if reader is not None else None
    width, height = size if size is not None else (None, None)
    return ImageInfo(format=fmt, mime_type=mime, width=width, height=height)


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The IHDR chunk comes first (PNG spec): 8-byte signature, length, "IHDR", width, height.
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# Start-of-frame markers carry the size: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xDA)})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: entropy-coded data follows, no frame header seen
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    # RIFF header (12 bytes), then the first chunk's FourCC and size; its data starts at 20.
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


_SIZE_READERS: Final[dict[str, Callable[[bytes], tuple[int, int] | None]]] = {
    "png": _png_size,
    "jpeg": _jpeg_size,
    "webp": _webp_size,
}
