"""Result pictures: a seeded landscape with the prompt written on it.

The picture depends only on (prompt, seed, width, height) and the first input image: the same
task renders the same bytes, a different prompt gives a different sky, sun and ridges. An edit
(input image given) shows the input under a tinted landscape, so the result visibly comes from
it. Large results (``[[size=50MB]]``) are the same picture padded with an ignorable chunk of
the file format, streamed without being built in memory.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import itertools
import random
import struct
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont

__all__ = ["CONTENT_TYPES", "PaddedBody", "content_type", "encoding", "padded", "render"]

CONTENT_TYPES: Final = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

RGB = tuple[int, int, int]

# Words that steer the palette, so "a lighthouse at dawn" looks like dawn. The time of day
# (listed first) wins over a place: "a fox in the night forest" gets a night sky.
_MOODS: Final[dict[str, tuple[float, float, float]]] = {
    # word: (sky hue, lightness of the sky top, lightness at the horizon)
    "dawn": (0.95, 0.55, 0.80),
    "sunrise": (0.07, 0.55, 0.82),
    "sunset": (0.04, 0.40, 0.70),
    "dusk": (0.78, 0.30, 0.60),
    "night": (0.64, 0.08, 0.28),
    "midnight": (0.66, 0.05, 0.22),
    "moon": (0.62, 0.12, 0.35),
    "storm": (0.58, 0.25, 0.45),
    "ocean": (0.55, 0.50, 0.78),
    "sea": (0.54, 0.50, 0.78),
    "desert": (0.09, 0.60, 0.85),
    "snow": (0.58, 0.75, 0.92),
    "winter": (0.57, 0.70, 0.90),
    "autumn": (0.08, 0.50, 0.78),
    "neon": (0.85, 0.20, 0.50),
    "cyberpunk": (0.83, 0.18, 0.45),
}
# Words that colour the land instead of the sky.
_LAND: Final = {"forest": 0.33, "jungle": 0.3, "meadow": 0.25, "desert": 0.09, "volcano": 0.02}
# Words that put water in the foreground, mirroring the sky.
_WATER: Final = frozenset(
    {"lake", "sea", "ocean", "water", "river", "waves", "beach", "harbor", "harbour", "lighthouse"}
)


def _hsl(hue: float, lightness: float, saturation: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(hue % 1.0, min(max(lightness, 0.0), 1.0), saturation)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def _vertical_gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    mask = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _ridge(rng: random.Random, width: int, base: float, roughness: float) -> list[float]:
    """A mountain ridge by midpoint displacement: heights at 65 evenly spaced points."""
    points = [base + rng.uniform(-roughness, roughness) for _ in range(2)]
    spread = roughness
    while len(points) < 65:
        spread *= 0.55
        refined = []
        for left, right in itertools.pairwise(points):
            refined += [left, (left + right) / 2 + rng.uniform(-spread, spread)]
        points = [*refined, points[-1]]
    return points


def _landscape(rng: random.Random, words: set[str], size: tuple[int, int]) -> Image.Image:
    width, height = size
    moods = [mood for word, mood in _MOODS.items() if word in words]
    hue, top_l, horizon_l = moods[0] if moods else (rng.random(), 0.45, 0.78)
    hue = (hue + rng.uniform(-0.04, 0.04)) % 1.0
    saturation = rng.uniform(0.45, 0.8)
    sky_top = _hsl(hue, top_l, saturation)
    horizon = _hsl(hue + rng.uniform(0.05, 0.14), horizon_l, saturation)
    horizon_y = round(height * rng.uniform(0.52, 0.68))
    picture = _vertical_gradient((width, height), sky_top, horizon)
    draw = ImageDraw.Draw(picture, "RGBA")
    unit = min(width, height)

    if top_l < 0.3:  # a dark sky gets stars
        for _ in range(int(width * height / 2500)):
            x, y = rng.randrange(width), rng.randrange(max(1, horizon_y))
            r = max(1, round(unit * rng.uniform(0.0008, 0.0025)))
            alpha = rng.randrange(120, 255)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 240, alpha))

    # Sun or moon, with a soft glow.
    sun_r = round(unit * rng.uniform(0.06, 0.11))
    sx = round(width * rng.uniform(0.2, 0.8))
    sy = round(horizon_y * rng.uniform(0.25, 0.75))
    sun = _hsl(hue + 0.12, 0.88, 0.9) if top_l >= 0.3 else (236, 236, 222)
    glow_r = sun_r * 4
    glow = Image.radial_gradient("L").resize((glow_r * 2, glow_r * 2))
    glow = glow.point(lambda v: max(0, 150 - v))
    picture.paste(Image.new("RGB", glow.size, sun), (sx - glow_r, sy - glow_r), glow)
    draw.ellipse((sx - sun_r, sy - sun_r, sx + sun_r, sy + sun_r), fill=sun)

    # Ridges, far to near: each nearer one darker and more saturated.
    layers = rng.randint(3, 5)
    far = _mix(horizon, sky_top, 0.35)
    lands = [_LAND[w] for w in sorted(words) if w in _LAND]
    near = _hsl(lands[0] if lands else hue + rng.uniform(0.3, 0.6), 0.14, 0.4)
    for layer in range(layers):
        t = (layer + 1) / layers
        base = horizon_y + (height - horizon_y) * (t - 0.25) * 0.8
        points = _ridge(rng, width, base, height * 0.12 * (1.1 - t * 0.5))
        step = width / (len(points) - 1)
        outline = [(i * step, y) for i, y in enumerate(points)]
        draw.polygon([*outline, (width, height), (0, height)], fill=_mix(far, near, t))

    if words & _WATER:
        _water(picture, rng, horizon_y, _mix(sky_top, near, 0.5))

    # A few birds or lanterns: small marks that make each prompt's sky its own.
    for _ in range(rng.randint(2, 6)):
        bx = rng.uniform(0.1, 0.9) * width
        by = rng.uniform(0.12, 0.45) * horizon_y
        span = unit * rng.uniform(0.012, 0.025)
        line = max(1, round(unit / 400))
        draw.line(
            [(bx - span, by - span * 0.4), (bx, by), (bx + span, by - span * 0.4)],
            fill=(*near, 200),
            width=line,
        )
    return picture


def _water(picture: Image.Image, rng: random.Random, horizon_y: int, tint: RGB) -> None:
    """The lower part becomes water mirroring what is above it, with a few ripples."""
    width, height = picture.size
    shore = round(horizon_y + (height - horizon_y) * rng.uniform(0.3, 0.5))
    depth = height - shore
    mirrored = picture.crop((0, max(0, shore - depth), width, shore))
    mirrored = mirrored.transpose(Image.Transpose.FLIP_TOP_BOTTOM).resize((width, depth))
    picture.paste(Image.blend(mirrored, Image.new("RGB", mirrored.size, tint), 0.45), (0, shore))
    draw = ImageDraw.Draw(picture, "RGBA")
    for _ in range(max(4, depth // 12)):
        y = rng.uniform(shore + 2, height)
        x = rng.uniform(0, width)
        span = rng.uniform(0.03, 0.15) * width
        draw.line([(x - span, y), (x + span, y)], fill=(255, 255, 255, 60), width=1)


def _caption(picture: Image.Image, text: str, seed: int) -> None:
    width, height = picture.size
    unit = min(width, height)
    draw = ImageDraw.Draw(picture, "RGBA")
    size = max(10, round(unit / 24))
    font = _font(size)
    chars = max(12, int(width / (size * 0.55)))
    lines = textwrap.wrap(text or "(empty prompt)", width=chars)[:3]
    small = _font(max(8, round(size * 0.6)))
    # Pillow's built-in font has no multiplication sign: a plain "x" it can draw.
    footer = f"seed {seed} \u00b7 {width}x{height} \u00b7 flux2 emulator"
    pad = round(size * 0.6)
    band = pad * 2 + len(lines) * round(size * 1.25) + round(size * 0.8)
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 140))
    y = height - band + pad
    for line in lines:
        draw.text((pad, y), line, font=font, fill=(255, 255, 255, 255))
        y += round(size * 1.25)
    draw.text((pad, y), footer, font=small, fill=(230, 230, 230, 200))


def encoding(output_format: str) -> str:
    """The format a result is encoded in: the one asked for when Pillow can write it (a
    regenerated spec may add one), else JPEG, the service's default [doc]."""
    name = output_format.lower()
    if name in CONTENT_TYPES:
        return name
    Image.init()
    return name if name.upper() in Image.SAVE else "jpeg"


def content_type(output_format: str) -> str:
    name = encoding(output_format)
    return CONTENT_TYPES.get(name, f"image/{name}")


def _encode(picture: Image.Image, output_format: str) -> bytes:
    out = io.BytesIO()
    name = encoding(output_format)
    if name == "png":
        picture.save(out, "PNG", compress_level=1)
    elif name == "webp":
        picture.save(out, "WEBP", quality=80, method=0)
    elif name == "jpeg":
        picture.save(out, "JPEG", quality=88)
    else:
        picture.save(out, name.upper())
    return out.getvalue()


def _fit(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop `source` to cover `size`."""
    scale = max(size[0] / source.width, size[1] / source.height)
    scaled = source.convert("RGB").resize(
        (max(size[0], round(source.width * scale)), max(size[1], round(source.height * scale))),
        Image.Resampling.BILINEAR,
    )
    left = (scaled.width - size[0]) // 2
    top = (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def render(
    prompt: str,
    seed: int,
    width: int,
    height: int,
    *,
    output_format: str = "jpeg",
    input_image: bytes | None = None,
) -> bytes:
    """The picture for one task, encoded as `output_format` (jpeg, png or webp)."""
    key = hashlib.sha256(f"{prompt}\0{seed}\0{width}\0{height}".encode()).digest()
    if input_image is not None:
        key = hashlib.sha256(key + hashlib.sha256(input_image).digest()).digest()
    rng = random.Random(key)
    words = {w.strip(".,;:!?\"'()").lower() for w in prompt.split()}
    picture = _landscape(rng, words, (width, height))
    if input_image is not None:
        with Image.open(io.BytesIO(input_image)) as source:
            base = _fit(source, (width, height))
        picture = Image.blend(base, picture, 0.35)
    _caption(picture, prompt, seed)
    return _encode(picture, output_format)


@dataclass(frozen=True)
class PaddedBody:
    """A file body made of (block, repeat) parts: the picture plus padding, never all in memory."""

    parts: tuple[tuple[bytes, int], ...]

    @property
    def size(self) -> int:
        return sum(len(block) * repeat for block, repeat in self.parts)

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` up to `end` (exclusive), in pieces of at most ~1 MB."""
        stop = self.size if end is None else min(end, self.size)
        offset = 0
        for block, repeat in self.parts:
            span = len(block) * repeat
            if offset + span <= start or not block:
                offset += span
                continue
            if offset >= stop:
                break
            # Group small blocks so a piece is about 1 MB.
            group = max(1, (1 << 20) // len(block))
            index = max(0, (start - offset) // len(block))
            while index < repeat and offset + index * len(block) < stop:
                count = min(group, repeat - index)
                piece_start = offset + index * len(block)
                piece = block * count
                lo = max(0, start - piece_start)
                hi = min(len(piece), stop - piece_start)
                if lo < hi:
                    yield piece[lo:hi]
                index += count
            offset += span


_PAD_BLOCK: Final = 1 << 16


def padded(data: bytes, output_format: str, size: int) -> PaddedBody:
    """`data` padded to about `size` bytes with a chunk every decoder skips.

    JPEG gets comment segments after SOI, PNG a private ancillary chunk before IEND, WebP an
    unknown RIFF chunk at the end. The result is exactly `size` bytes when `size` leaves room
    for the chunk headers, otherwise the smallest valid file above it.
    """
    extra = max(0, size - len(data))
    if output_format == "png":
        return _padded_png(data, max(0, extra - 12))
    if output_format == "webp":
        return _padded_webp(data, max(0, extra - 8))
    return _padded_jpeg(data, extra)


@cache
def _zero_crc(tag: bytes, length: int) -> int:
    crc = zlib.crc32(tag)
    block = bytes(_PAD_BLOCK)
    full, rest = divmod(length, _PAD_BLOCK)
    for _ in range(full):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(bytes(rest), crc)


def _zeros(length: int) -> list[tuple[bytes, int]]:
    full, rest = divmod(length, _PAD_BLOCK)
    parts = [(bytes(_PAD_BLOCK), full)] if full else []
    return [*parts, (bytes(rest), 1)] if rest else parts


def _padded_png(data: bytes, length: int) -> PaddedBody:
    tag = b"flXp"  # lowercase first letter: ancillary, safe to ignore
    head, iend = data[:-12], data[-12:]
    crc = struct.pack(">I", _zero_crc(tag, length))
    return PaddedBody(
        ((head, 1), (struct.pack(">I", length) + tag, 1), *_zeros(length), (crc + iend, 1))
    )


def _padded_webp(data: bytes, length: int) -> PaddedBody:
    length -= length % 2  # RIFF chunks have even sizes
    riff_size = len(data) - 8 + 8 + length
    head = b"RIFF" + struct.pack("<I", riff_size) + data[8:]
    return PaddedBody(((head, 1), (b"FLXP" + struct.pack("<I", length), 1), *_zeros(length)))


def _padded_jpeg(data: bytes, extra: int) -> PaddedBody:
    # A COM segment is FF FE, a two-byte length (counting itself), then up to 65533 bytes.
    segment = 65535 + 2
    full, rest = divmod(extra, segment)
    parts: list[tuple[bytes, int]] = [(data[:2], 1)]
    if full:
        parts.append((b"\xff\xfe\xff\xff" + bytes(65533), full))
    if rest:
        tail = max(rest, 4)
        parts.append((b"\xff\xfe" + struct.pack(">H", tail - 2) + bytes(tail - 4), 1))
    parts.append((data[2:], 1))
    return PaddedBody(tuple(parts))
