"""Input images: what ``images=[...]`` accepts and how each becomes a wire value.

The API takes an input image as raw base64 (no ``data:`` prefix) or as a public http(s) URL
[doc]. flux2 accepts, per image:

- a path (``str`` or :class:`os.PathLike`) to an image file,
- ``bytes`` / ``bytearray`` / ``memoryview`` holding an encoded image,
- an open binary file object,
- a PIL image (when Pillow is installed; sent as PNG, lossless),
- an ``http://`` or ``https://`` URL, sent as is for the service to fetch,
- a base64 string or a ``data:image/...;base64,`` URI (the prefix is stripped).

Every local image is checked by its magic bytes before anything is sent, so a text file or a
truncated download given by mistake is an :class:`~flux2.InputError`, not a billed request.
Encoded images stay ``bytes`` (ASCII base64) so a large input is held once, not as bytes plus
a ``str`` copy plus a JSON copy.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeAlias

from .errors import InputError

if TYPE_CHECKING:
    import PIL.Image

__all__ = [
    "EncodedImage",
    "ImageInput",
    "encode_image",
    "encode_images",
    "sniff_image_format",
]

ImageInput: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | PIL.Image.Image"
)
"""One input image: path, bytes, file object, PIL image, http(s) URL, base64 or data URI."""

# Formats recognised by their first bytes, as (format name, file extension, MIME type).
_MAGIC: Final[tuple[tuple[bytes, int, str, str, str], ...]] = (
    # (signature, offset, format, extension, mime)
    (b"\xff\xd8\xff", 0, "jpeg", ".jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png", ".png", "image/png"),
    (b"GIF87a", 0, "gif", ".gif", "image/gif"),
    (b"GIF89a", 0, "gif", ".gif", "image/gif"),
    (b"BM", 0, "bmp", ".bmp", "image/bmp"),
    (b"II*\x00", 0, "tiff", ".tif", "image/tiff"),
    (b"MM\x00*", 0, "tiff", ".tif", "image/tiff"),
)
_FTYP_BRANDS: Final = {
    b"avif": ("avif", ".avif", "image/avif"),
    b"avis": ("avif", ".avif", "image/avif"),
    b"heic": ("heic", ".heic", "image/heic"),
    b"heix": ("heic", ".heic", "image/heic"),
    b"mif1": ("heic", ".heic", "image/heic"),
}
SNIFF_BYTES: Final = 32
"""How many leading bytes :func:`sniff_image_format` needs."""

# Base64 is only guessed for strings long enough not to be a mistyped file name.
_B64_MIN_GUESS = 64
_B64_CHARS = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,", re.I)
_READ_CHUNK = 3 * 1024 * 1024  # a multiple of 3, so chunks encode to base64 without padding


def sniff_image_format(head: bytes) -> tuple[str, str, str] | None:
    """``(format, extension, mime)`` for an image's first bytes, or ``None`` if not an image."""
    for signature, offset, fmt, ext, mime in _MAGIC:
        if head[offset : offset + len(signature)] == signature:
            return fmt, ext, mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", ".webp", "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _FTYP_BRANDS:
        return _FTYP_BRANDS[head[8:12]]
    return None


class EncodedImage:
    """One input image ready for the wire.

    ``value`` is ASCII: base64 of the image, or the URL. ``source`` describes where it came from
    (for messages), ``format`` is the sniffed format (``None`` for URLs).
    """

    __slots__ = ("format", "source", "value")

    def __init__(self, value: bytes | bytearray, source: str, format: str | None = None) -> None:
        self.value = value
        self.source = source
        self.format = format

    def __repr__(self) -> str:
        return f"EncodedImage(<{len(self.value)} bytes>, {self.source!r}, format={self.format!r})"

    @property
    def is_url(self) -> bool:
        return self.format is None


def encode_images(
    images: Sequence[ImageInput] | None, *, max_images: int, model: str
) -> list[EncodedImage]:
    """Encode every image, after checking there are at most ``max_images`` of them."""
    if images is None:
        return []
    single: Any = images
    if isinstance(single, (str, bytes, bytearray, memoryview, os.PathLike)) or _is_pil_image(
        single
    ):
        images = [single]
    if isinstance(images, (Mapping, AbstractSet)) or not isinstance(images, Iterable):
        # A set or dict has no order to fill the slots in; anything else is not a list at all.
        raise InputError(
            f"images must be a list of images (paths, bytes, PIL images, URLs or base64), got "
            f"{type(images).__name__}",
            param="images",
        )
    # One more than allowed is enough to know there are too many, even from an endless iterator.
    items = list(itertools.islice(images, max_images + 1))
    if len(items) > max_images:
        raise InputError(
            f"model {model!r} takes at most {max_images} input images; got {len(items)}",
            param="images",
        )
    return [encode_image(item, index=i) for i, item in enumerate(items)]


def encode_image(image: ImageInput, *, index: int = 0) -> EncodedImage:
    """Turn one input image into its wire value, checking that it is an image."""
    where = f"images[{index}]"
    if isinstance(image, str):
        return _encode_str(image, where)
    if isinstance(image, os.PathLike):
        name = os.fspath(image)
        return _encode_path(Path(os.fsdecode(name)), where)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _encode_bytes(bytes(image), f"{where} (bytes)", where)
    if _is_pil_image(image):
        return _encode_pil(image, where)
    read = getattr(image, "read", None)
    if callable(read):
        try:
            data = read()
        except OSError as exc:
            raise InputError(
                f"{where}: cannot read the file object: {exc.strerror or exc}", param=where
            ) from None
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{where}: the file object must be opened in binary mode", param=where)
        return _encode_bytes(bytes(data), f"{where} (file object)", where)
    raise InputError(
        f"{where}: cannot use a {type(image).__name__} as an image; give a path, bytes, a PIL "
        "image, an http(s) URL, or a base64 string / data URI",
        param=where,
    )


def _encode_str(text: str, where: str) -> EncodedImage:
    stripped = text.strip()
    lowered = stripped[:8].lower()
    if lowered.startswith(("http://", "https://")):
        if not stripped.isascii():
            raise InputError(f"{where}: URLs must be ASCII (percent-encode them)", param=where)
        return EncodedImage(stripped.encode("ascii"), f"{where} (URL)")
    if lowered.startswith("data:"):
        match = _DATA_URI.match(stripped)
        if match is None:
            raise InputError(
                f"{where}: a data URI must be base64-encoded (data:image/...;base64,...)",
                param=where,
            )
        encoded = _decode_b64(stripped[match.end() :], f"{where} (data URI)", where)
        if encoded is None:
            raise InputError(f"{where}: the data URI holds invalid base64", param=where)
        return encoded
    _check_path_text(text, where)
    path = Path(text).expanduser()
    if len(stripped) >= _B64_MIN_GUESS and stripped.isascii() and not _exists(path):
        encoded = _decode_b64(stripped, f"{where} (base64)", where)
        if encoded is not None:
            return encoded
    return _encode_path(path, where)


def _check_path_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InputError(
            f"{where}: a file name cannot hold a NUL character; give a path, an http(s) URL "
            "or base64",
            param=where,
        )
    try:
        os.fsencode(text)
    except UnicodeError:
        raise InputError(
            f"{where}: {text.encode('utf-8', 'backslashreplace').decode()!r} cannot be a file "
            "name on this system (it holds a lone surrogate); give a path, an http(s) URL or "
            "base64",
            param=where,
        ) from None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a base64 string longer than a file name may be
        return False


def _decode_b64(text: str, source: str, where: str) -> EncodedImage | None:
    """The image in base64 ``text``, or ``None`` when ``text`` is not base64 at all."""
    compact = re.sub(rb"\s+", b"", text.encode("ascii", "replace"))
    # BFL wants standard base64 [doc]; URL-safe input is translated rather than refused.
    compact = compact.translate(_URLSAFE_TO_STANDARD)
    if not compact or len(compact) % 4 or not _B64_CHARS.fullmatch(compact):
        return None
    try:
        head = base64.b64decode(compact[:44], validate=True)
    except (binascii.Error, ValueError):
        return None
    return EncodedImage(compact, source, _check_image(head, source, where))


def _encode_path(path: Path, where: str) -> EncodedImage:
    source = f"{where} ({path})"
    handle = _open_regular(path, where)
    try:
        with handle:
            head = handle.read(SNIFF_BYTES)
            fmt = _check_image(head, source, where)
            size = os.fstat(handle.fileno()).st_size
            handle.seek(0)
            out = _read_base64(handle, size)
    except OSError as exc:
        raise InputError(
            f"{where}: cannot read {path}: {exc.strerror or exc}", param=where
        ) from None
    return EncodedImage(out, source, fmt)


def _read_base64(handle: IO[bytes], size: int) -> bytearray:
    # Encode chunk by chunk into a buffer of the final size: a 12 MP input is held once, as
    # base64, never as raw bytes and base64 side by side. Only ``size`` bytes are read, so a
    # file that grows while being read cannot overrun the buffer.
    out = bytearray(4 * ((size + 2) // 3))
    view = memoryview(out)
    written = 0
    remaining = size
    while remaining > 0 and (chunk := handle.read(min(_READ_CHUNK, remaining))):
        remaining -= len(chunk)
        encoded = base64.b64encode(chunk)
        view[written : written + len(encoded)] = encoded
        written += len(encoded)
    view.release()
    if written != len(out):  # the file shrank while being read
        del out[written:]
    return out


# What is not a regular file, by the name a message gives it.
_FILE_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _open_regular(path: Path, where: str) -> IO[bytes]:
    """``path`` opened for reading, refused unless it is a regular file. Reading a FIFO or a
    device would block forever or never end, and merely opening some devices acts on them, so
    the kind is checked before opening, and again on what was opened (it may have been
    swapped in between); the open itself never blocks."""
    try:
        _check_regular(os.stat(path).st_mode, path, where)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{where}: no such file: {path}", param=where) from None
    except OSError as exc:
        raise InputError(
            f"{where}: cannot read {path}: {exc.strerror or exc}", param=where
        ) from None
    except ValueError:  # a NUL or a lone surrogate in a path object
        _check_path_text(str(path), where)
        raise
    try:
        _check_regular(os.fstat(fd).st_mode, path, where)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_regular(mode: int, path: Path, where: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    raise InputError(f"{where}: {path} is {kind}, not an image file", param=where)


def _encode_bytes(data: bytes, source: str, where: str) -> EncodedImage:
    fmt = _check_image(data[:SNIFF_BYTES], source, where)
    return EncodedImage(base64.b64encode(data), source, fmt)


def _check_image(head: bytes, source: str, where: str) -> str:
    found = sniff_image_format(head)
    if found is None:
        if not head:
            raise InputError(f"{source}: empty, not an image", param=where)
        # Named, never quoted: the file may be a symlink to something private.
        raise InputError(
            f"{source}: not an image ({describe_content(head)}); "
            "expected JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF or HEIC",
            param=where,
        )
    return found[0]


# Common files given by mistake, recognised by their first bytes.
_OTHER_MAGIC: Final = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"#!", "a script"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"-----BEGIN ", "a PEM key or certificate"),
    (b"ssh-", "an SSH key"),
    (b"<svg", "an SVG drawing (vector images are not accepted; export a PNG)"),
)


def describe_content(head: bytes) -> str:
    """What kind of file starts with ``head``, in words, without quoting any of it."""
    for signature, kind in _OTHER_MAGIC:
        if head.startswith(signature):
            return kind
    stripped = head.lstrip()
    lowered = stripped[:16].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if lowered.startswith(b"<?xml"):
        return "an XML document"
    if stripped[:1] in (b"{", b"["):
        return "JSON or other text"
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off at the end of ``head`` is still text.
        decoded = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
    if decoded and all(c.isprintable() or c in "\t\r\n" for c in decoded):
        return "text"
    return "unrecognised binary data"


def _is_pil_image(obj: object) -> bool:
    # Only when Pillow is already imported: a caller holding a PIL image has imported it, and
    # everyone else does not pay for importing it.
    module = sys.modules.get("PIL.Image")
    image_type = getattr(module, "Image", None)
    return isinstance(image_type, type) and isinstance(obj, image_type)


def _encode_pil(image: Any, where: str) -> EncodedImage:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{where}: cannot encode the PIL image as PNG: {exc}", param=where
        ) from exc
    return EncodedImage(base64.b64encode(buffer.getbuffer()), f"{where} (PIL image)", "png")
