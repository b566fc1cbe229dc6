"""How long each model takes, what it costs, and what size it renders.

Prices are :mod:`flux2.pricing`'s, the client's own list. Facts carry their tag from
BFL-FACTS.md: [doc] BFL documentation or BFL-owned code, [seen] recorded live behaviour,
[claim] stated once. A model that a regenerated spec adds gets the
fallback values, so the emulator serves it without a code change.
"""

from __future__ import annotations

from typing import Final

from flux2.decisions import EXPECTED_SECONDS
from flux2.pricing import PIXELS_PER_MP, PRICES, megapixels, price_of

__all__ = [
    "DEFAULT_SIZE",
    "MAX_PIXELS",
    "PIXELS_PER_MP",
    "base_name",
    "cost",
    "duration",
    "megapixels",
    "output_size",
    "requested_pixels",
    "upsamples_by_default",
]


def base_name(model: str) -> str:
    """``"klein-9b-preview"`` -> ``"klein-9b"``: previews behave like their base model."""
    return model.removesuffix("-preview")


_FALLBACK_DURATION: Final = 10.0


def duration(model: str) -> float:
    """Seconds from submit to Ready at ``speed=1``: the middle of the live range the client
    expects (:data:`flux2.decisions.EXPECTED_SECONDS`, measured in 2026-09 [seen]). The timing
    profiles (:mod:`._timing`) draw around it."""
    seen = EXPECTED_SECONDS.get(base_name(model))
    return (seen[0] + seen[1]) / 2 if seen is not None else _FALLBACK_DURATION


# Width and height are at most 4 MP together (w*h <= 4,194,304) [doc].
MAX_PIXELS: Final = 4 * PIXELS_PER_MP

# The size when width and height are unset and no input image gives one.
DEFAULT_SIZE: Final = (1024, 1024)


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
    """Credits for one generation, from BFL's price list (:mod:`flux2.pricing`); a model the
    list lacks is charged like pro."""
    price = price_of(model) or PRICES["pro"]
    return price.credits(output_mp, input_mp)


# pro and max upsample the prompt unless told not to [doc]; flex has `prompt_upsampling`, and
# later specs give pro/max `disable_pup`. Both fields are read from the request when the spec
# has them.
_UPSAMPLE_BY_DEFAULT: Final = frozenset({"pro", "max"})


def upsamples_by_default(model: str) -> bool:
    return base_name(model) in _UPSAMPLE_BY_DEFAULT
