"""How long each model takes, what it costs, and what size it renders.

Facts carry their tag from BFL-FACTS.md: [doc] BFL documentation or BFL-owned code, [seen]
recorded live behaviour, [claim] stated once. A model that a regenerated spec adds gets the
fallback values, so the emulator serves it without a code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_SIZE",
    "MAX_PIXELS",
    "PIXELS_PER_MP",
    "Pricing",
    "base_name",
    "cost",
    "duration",
    "megapixels",
    "output_size",
    "pricing",
    "requested_pixels",
    "upsamples_by_default",
]


def base_name(model: str) -> str:
    """``"klein-9b-preview"`` -> ``"klein-9b"``: previews behave like their base model."""
    return model.removesuffix("-preview")


# Submit-to-Ready wall time at about 1 MP, measured live in 2026-09 [seen].
_DURATIONS: Final = {"klein-4b": 2.6, "klein-9b": 2.4, "flex": 8.0, "pro": 13.0, "max": 38.0}
_FALLBACK_DURATION: Final = 10.0


def duration(model: str) -> float:
    """Seconds from submit to Ready at ``speed=1``."""
    return _DURATIONS.get(base_name(model), _FALLBACK_DURATION)


@dataclass(frozen=True)
class Pricing:
    """Credits (1 credit = $0.01 [doc]) for the first output megapixel and for each further one."""

    first_mp: float
    further_mp: float


# BFL's per-megapixel price list [doc]: klein-4b 1.4c first MP + 0.1c each further, klein-9b
# 1.5c + 0.2c, pro 3c + 1.5c, max 7c + 3c, flex 5c + 5c. Input images are charged per MP at
# the further-MP rate [doc].
_PRICES: Final = {
    "klein-4b": Pricing(1.4, 0.1),
    "klein-9b": Pricing(1.5, 0.2),
    "pro": Pricing(3.0, 1.5),
    "max": Pricing(7.0, 3.0),
    "flex": Pricing(5.0, 5.0),
}
_FALLBACK_PRICING: Final = _PRICES["pro"]


def pricing(model: str) -> Pricing:
    return _PRICES.get(base_name(model), _FALLBACK_PRICING)


# Resellers of these models state "1 megapixel = 1024x1024 pixels" [claim]; with it a
# 1024x1024 klein image costs exactly its first-MP price, as the live submit echo shows [seen].
PIXELS_PER_MP: Final = 1024 * 1024

# Width and height are at most 4 MP together (w*h <= 4,194,304) [doc].
MAX_PIXELS: Final = 4 * PIXELS_PER_MP

# The size when width and height are unset and no input image gives one.
DEFAULT_SIZE: Final = (1024, 1024)


def megapixels(width: int, height: int) -> float:
    """Megapixels as the submit answer reports them: two decimal places (spec)."""
    return round(width * height / PIXELS_PER_MP, 2)


# Sides are multiples of 16 [doc]; the spec's minimum side is 64.
_SIDE_STEP: Final = 16
_MIN_SIDE: Final = 64


def requested_pixels(width: int | None, height: int | None) -> int:
    """Pixels a width and height ask for; a missing side is taken equal to the other."""
    w, h = width or height or 0, height or width or 0
    return w * h


def _aspect_size(aspect: tuple[int, int]) -> tuple[int, int]:
    """A size of about one megapixel with the aspect ``aspect`` (width, height)."""
    scale = (PIXELS_PER_MP / (aspect[0] * aspect[1])) ** 0.5
    return max(1, round(aspect[0] * scale)), max(1, round(aspect[1] * scale))


def output_size(
    width: int | None,
    height: int | None,
    source: tuple[int, int] | None = None,
    aspect: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The size rendered for the requested width/height: unset sides follow the input image's
    aspect (or ``aspect``, or ``DEFAULT_SIZE``), sides are rounded down to multiples of 16, and
    the whole is scaled down to at most ``MAX_PIXELS``."""
    base_w, base_h = source or (_aspect_size(aspect) if aspect else DEFAULT_SIZE)
    if width and height:
        w, h = float(width), float(height)
    elif width:
        w, h = float(width), width * base_h / base_w
    elif height:
        w, h = height * base_w / base_h, float(height)
    else:
        w, h = float(base_w), float(base_h)
    scale = min(1.0, (MAX_PIXELS / (w * h)) ** 0.5)

    def side(value: float) -> int:
        return max(_MIN_SIDE, int(value * scale) // _SIDE_STEP * _SIDE_STEP)

    return side(w), side(h)


def cost(model: str, output_mp: float, input_mp: float) -> float:
    """Credits for one generation: first MP, further output MP, and input MP at the further rate."""
    price = pricing(model)
    further = max(0.0, output_mp - 1.0) + input_mp
    return round(price.first_mp + price.further_mp * further, 4)


# pro and max upsample the prompt unless told not to [doc]; flex has `prompt_upsampling`, and
# later specs give pro/max `disable_pup`. Both fields are read from the request when the spec
# has them.
_UPSAMPLE_BY_DEFAULT: Final = frozenset({"pro", "max"})


def upsamples_by_default(model: str) -> bool:
    return base_name(model) in _UPSAMPLE_BY_DEFAULT
