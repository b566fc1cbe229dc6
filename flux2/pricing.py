"""What a generation costs, before it is sent.

Prices are not in the API spec. They come from BFL's published per-megapixel price list [doc]:
a price for the first output megapixel, one for each further output megapixel, and input
images charged per megapixel at the further rate [doc]. 1 credit = $0.01 [doc].

:func:`estimate` validates a request exactly as ``generate`` would (nothing is sent) and says
what would be sent and what it would cost; ``client.estimate(...)`` and
``flux2 generate ... --dry-run`` use it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from . import decisions
from ._imageinfo import image_info

if TYPE_CHECKING:
    from .inputs import EncodedImage, ImageInput

__all__ = ["PRICES", "Estimate", "Price", "estimate", "price_caveat", "price_of"]


@dataclasses.dataclass(frozen=True)
class Price:
    """Credits (1 credit = $0.01 [doc]) for the first output megapixel and for each further
    output or input megapixel."""

    first_mp: float
    further_mp: float

    def credits(self, output_mp: float, input_mp: float = 0.0) -> float:
        """The charge for an output of ``output_mp`` and inputs of ``input_mp`` megapixels."""
        further = max(0.0, output_mp - 1.0) + input_mp
        return round(self.first_mp + self.further_mp * further, 4)


# BFL's price list [doc]: klein-4b 1.4c first MP + 0.1c each further; klein-9b 1.5c + 0.2c;
# pro 3c + 1.5c; max 7c + 3c; flex 5c + 5c; input images at the further-MP rate.
PRICES: Final[Mapping[str, Price]] = MappingProxyType(
    {
        "klein-4b": Price(1.4, 0.1),
        "klein-9b": Price(1.5, 0.2),
        "pro": Price(3.0, 1.5),
        "max": Price(7.0, 3.0),
        "flex": Price(5.0, 5.0),
    }
)

# "1 megapixel = 1024x1024 pixels", as resellers state it [claim]; with it a 1024x1024 klein
# image costs exactly its first-MP price, as the live submit answer shows [seen].
PIXELS_PER_MP: Final = 1024 * 1024

# Width and height unset and no input image to follow: priced as 1024x1024, the size the
# service renders most often [seen]; the estimate says it assumed this.
ASSUMED_SIZE: Final = (1024, 1024)

# Enough of an input image's base64 to reach its size in the header (a JPEG may carry large
# metadata segments first); the rest is not decoded.
_HEADER_B64_CHARS: Final = 4 * 64 * 1024


def price_of(model: str) -> Price | None:
    """The price of a model by its short name; a ``-preview`` endpoint is priced as its base
    model (not documented separately). ``None`` for a model the price list lacks."""
    return PRICES.get(_priced_as(model))


def price_caveat(model: str) -> str | None:
    """What :func:`price_of` assumes for ``model``, or ``None`` when its price is BFL's own."""
    if _priced_as(model) not in PRICES:
        return f"BFL's price list has no price for {model!r}"
    if _priced_as(model) != model:
        return f"priced as {_priced_as(model)} (BFL lists no price of its own for {model})"
    return None


def _priced_as(model: str) -> str:
    return model.removesuffix("-preview")


def megapixels(width: int, height: int) -> float:
    """Megapixels as the submit answer reports them: two decimal places (spec)."""
    return round(width * height / PIXELS_PER_MP, 2)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A validated request that was not sent: where it would go, what it would carry, its
    output size and what it would cost (``credits`` is ``None`` for a model without a
    published price). ``notes`` say what the estimate had to assume."""

    model: str
    method: str
    url: str
    body: Mapping[str, Any]
    """The request body as a log-safe dict: input images are described, secrets hidden."""
    width: int
    height: int
    output_mp: float
    input_mp: float
    credits: float | None
    notes: tuple[str, ...] = ()

    @property
    def usd(self) -> float | None:
        """The cost in US dollars (1 credit = $0.01 [doc])."""
        return None if self.credits is None else round(self.credits / 100, 6)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**values, "body": dict(self.body), "notes": list(self.notes), "usd": self.usd}

    @property
    def cost_text(self) -> str:
        """One line: the sizes and the cost."""
        cost = (
            "no published price"
            if self.credits is None
            else f"{self.credits:g} credits (${self.credits / 100:.4f})"
        )
        return (
            f"output {self.width}x{self.height} ({self.output_mp:g} MP), "
            f"input images {self.input_mp:g} MP: {cost}"
        )

    def __str__(self) -> str:
        lines = [f"{self.method} {self.url}", self.cost_text]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def estimate(
    prompt: str,
    *,
    model: str = "flex",
    images: Sequence[ImageInput] | None = None,
    base_url: str | None = None,
    **params: Any,
) -> Estimate:
    """Validate a request as ``generate`` would and price it, without sending anything.

    Takes ``generate``'s keywords; raises the same :class:`flux2.InputError` for bad ones.
    ``base_url`` defaults to ``BFL_BASE_URL``, else BFL's API.
    """
    request = decisions.build_request(prompt, model=model, images=images, **params)
    return estimate_request(request, base_url=base_url)


def estimate_request(request: decisions.SubmitRequest, *, base_url: str | None) -> Estimate:
    """The :class:`Estimate` of a request already validated."""
    url = (base_url or os.environ.get("BFL_BASE_URL") or decisions.DEFAULT_BASE_URL).strip()
    notes: list[str] = []
    input_sizes: list[tuple[int, int]] = []
    for number, image in enumerate(request.images, start=1):
        size = _input_size(image)
        if size is None:
            notes.append(
                f"input image {number} ({image.source}) has a size that cannot be read here; "
                "it is not counted, and it is billed per megapixel"
            )
        else:
            input_sizes.append(size)
    width, height = _output_size(request.params, input_sizes[0] if input_sizes else None, notes)
    output_mp = megapixels(width, height)
    input_mp = round(sum((megapixels(w, h) for w, h in input_sizes), 0.0), 2)
    price = price_of(request.model.name)
    caveat = price_caveat(request.model.name)
    if caveat is not None:
        notes.append(caveat)
    return Estimate(
        model=request.model.name,
        method="POST",
        url=url.rstrip("/") + request.model.path,
        body=MappingProxyType(request.summary()),
        width=width,
        height=height,
        output_mp=output_mp,
        input_mp=input_mp,
        credits=None if price is None else price.credits(output_mp, input_mp),
        notes=tuple(notes),
    )


def _output_size(
    params: Mapping[str, Any], source: tuple[int, int] | None, notes: list[str]
) -> tuple[int, int]:
    """The size the service renders: the one asked for; an unset side follows the first
    input image's aspect (width and height "0 = follow the input image" [doc])."""
    width, height = params.get("width"), params.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    if source is None:
        if width is None and height is None:
            notes.append(f"no size given: priced as {ASSUMED_SIZE[0]}x{ASSUMED_SIZE[1]}")
            return ASSUMED_SIZE
        side = int(width or height or ASSUMED_SIZE[0])
        notes.append(f"one side given: priced as a {side}x{side} square")
        return side, side
    base_w, base_h = source
    if isinstance(width, int):
        return width, max(1, round(width * base_h / base_w))
    if isinstance(height, int):
        return max(1, round(height * base_w / base_h)), height
    # Following the input image, within the 4 MP output limit [doc].
    scale = min(1.0, (decisions.MAX_OUTPUT_PIXELS / (base_w * base_h)) ** 0.5)
    notes.append("no size given: priced at the first input image's size")
    return max(1, int(base_w * scale)), max(1, int(base_h * scale))


def _input_size(image: EncodedImage) -> tuple[int, int] | None:
    if image.is_url:
        return None
    head = bytes(image.value[:_HEADER_B64_CHARS])
    try:
        data = base64.b64decode(head[: len(head) - len(head) % 4])
    except (binascii.Error, ValueError):
        return None
    info = image_info(data)
    if info is None or info.width is None or info.height is None:
        return None
    return info.width, info.height
