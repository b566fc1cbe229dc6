"""Building a submission: keyword arguments validated against the pinned spec (through
:mod:`flux2.registry`) and the documented product limits the spec lacks. No I/O."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from flux2 import _schema
from flux2._generated import check_request_fields
from flux2._logging import remember_secret
from flux2.errors import InputError
from flux2.inputs import EncodedImage, ImageInput, encode_image, encode_images

if TYPE_CHECKING:
    # Loaded on first use, not on ``import flux2``: the registry parses the pinned spec.
    from flux2 import registry


class Flux2Warning(UserWarning):
    """A request flux2 sends anyway, but that documentation says may not behave as asked."""


# --------------------------------------------------------------------------------------------
# Building a submission
# --------------------------------------------------------------------------------------------

# BFL documents output sizes as multiples of 16 of at most 4 MP [doc]; the spec says only
# width/height >= 64. BFL's own SDK refuses more than 2048 * 2048 pixels [doc].
SIZE_MULTIPLE: Final = 16
MAX_OUTPUT_PIXELS: Final = 2048 * 2048
_SIZE_PARAMS: Final = ("width", "height")
_INT_LIMIT: Final = 2**63


class SubmitRequest:
    """A validated submission: the model, the caller-set parameters and the encoded images.

    Only what the caller set is sent; the server applies its defaults to the rest.
    """

    __slots__ = ("images", "model", "params", "prompt")

    def __init__(
        self,
        model: registry.Model,
        prompt: str,
        params: Mapping[str, Any],
        images: Sequence[EncodedImage] = (),
    ) -> None:
        self.model = model
        self.prompt = prompt
        self.params: Mapping[str, Any] = MappingProxyType(dict(params))
        self.images = tuple(images)

    def __repr__(self) -> str:
        return f"SubmitRequest(model={self.model.name!r}, fields={self.summary()!r})"

    @property
    def has_webhook(self) -> bool:
        return "webhook_url" in self.params

    def body_parts(self) -> list[bytes | bytearray]:
        """The JSON body as pieces that concatenate to it: the fields, then each image's base64
        value as the buffer it already is. Sent piece by piece, a large input is held once,
        not also as a ``str``, a JSON document, or a joined body."""
        fields = {"prompt": self.prompt, **self.params}
        head = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
        if not self.images:
            return [head]
        parts: list[bytes | bytearray] = [head[:-1]]
        for slot, image in zip(self.model.image_slots, self.images, strict=False):
            parts += [b',"' + slot.encode() + b'":"', image.value, b'"']
        parts.append(b"}")
        return parts

    def summary(self) -> dict[str, Any]:
        """The body as a log-safe dict: images and the webhook secret are described, not shown."""
        shown: dict[str, Any] = {"prompt": self.prompt}
        for name, value in self.params.items():
            shown[name] = "***" if name == "webhook_secret" else value
        for slot, image in zip(self.model.image_slots, self.images, strict=False):
            shown[slot] = image.source if image.is_url else f"<{image.format} {image.source}>"
        return shown


def build_request(
    prompt: str,
    *,
    model: str | registry.Model | None = None,
    images: Sequence[ImageInput] | None = None,
    **params: Any,
) -> SubmitRequest:
    """Validate a submission and encode its images, before anything is sent.

    ``model`` defaults to ``flux2.registry.DEFAULT_MODEL`` (``flex``). ``params`` are request
    fields of the model's schema in the pinned spec; ``None`` means "not
    set" (nothing is sent, the server's default applies). Raises :class:`~flux2.InputError`
    naming the parameter, the value and what the spec allows.
    """
    spec_model = resolve_model(model)
    if not isinstance(prompt, str):
        raise InputError(f"prompt must be a string, got {type(prompt).__name__}", param="prompt")
    _check_text("prompt", prompt)
    _check_value(spec_model, "prompt", prompt)

    chosen: dict[str, Any] = {}
    slot_images: dict[str, ImageInput] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in spec_model.image_slots:
            slot_images[name] = value
            continue
        if name not in spec_model.params or name == "prompt":
            raise _unknown_param(spec_model, name)
        if isinstance(value, str):
            _check_text(name, value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT:
            # JSON parsers disagree past 64 bits, and a 5,000-digit int cannot even be printed.
            raise InputError(
                f"{name}={_shown_int(value)} is out of range: integers sent to the API must lie "
                f"between {-_INT_LIMIT} and {_INT_LIMIT - 1} (64 bits)",
                param=name,
            )
        chosen[name] = _check_value(spec_model, name, value)

    if slot_images and images is not None:
        raise InputError(
            "give input images either as images=[...] or as input_image... fields, not both",
            param="images",
        )
    if slot_images:
        encoded = _encode_slots(spec_model, slot_images)
    else:
        encoded = encode_images(images, max_images=spec_model.max_images, model=spec_model.name)

    if isinstance(chosen.get("webhook_secret"), str):
        remember_secret(chosen["webhook_secret"])
    if "webhook_secret" in chosen and "webhook_url" not in chosen:
        raise InputError(
            "webhook_secret is only used with webhook_url; set both or neither",
            param="webhook_secret",
        )
    _check_output_size(spec_model, chosen)
    slots = dict.fromkeys(spec_model.image_slots[: len(encoded)], "")
    check_request_fields(spec_model, {"prompt": prompt, **chosen, **slots})
    return SubmitRequest(spec_model, prompt, chosen, tuple(encoded))


def resolve_model(model: str | registry.Model | None) -> registry.Model:
    """The registry's model for a short or endpoint name; :class:`~flux2.UnknownModelError`
    (an ``InputError`` and ``ValueError``) listing the valid names otherwise."""
    from flux2 import registry

    if model is None:
        model = registry.DEFAULT_MODEL
    if isinstance(model, registry.Model):
        return model
    if not isinstance(model, str):
        raise InputError(f"model must be a model name, got {type(model).__name__}", param="model")
    return registry.get_model(model)


def _encode_slots(model: registry.Model, slots: Mapping[str, ImageInput]) -> list[EncodedImage]:
    # Slots must be filled from the first one on, as images=[...] would fill them.
    ordered = [slot for slot in model.image_slots if slot in slots]
    expected = list(model.image_slots[: len(ordered)])
    if ordered != expected:
        raise InputError(
            f"input image fields must be filled in order ({', '.join(expected)}); "
            f"got {', '.join(ordered)}",
            param=ordered[0],
        )
    return [encode_image(slots[slot], index=i) for i, slot in enumerate(ordered)]


def _unknown_param(model: registry.Model, name: str) -> InputError:
    import difflib

    from flux2 import registry

    options = sorted(model.options)
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    elsewhere = sorted(m.name for m in registry.all_models().values() if name in m.params)
    if elsewhere and name != "prompt":
        hint += f" ({name!r} is a parameter of: {', '.join(elsewhere)}.)"
    return InputError(
        f"model {model.name!r} has no parameter {name!r}.{hint} "
        f"Its parameters: {', '.join(options)}; input images go in images=[...] "
        f"(up to {model.max_images}).",
        param=name,
    )


def _check_value(model: registry.Model, name: str, value: Any) -> Any:
    """``value`` if the spec allows it for ``model.params[name]``; InputError otherwise."""
    param = model.params[name]
    if isinstance(value, str) and param.enum is not None and value not in param.enum:
        # "JPEG" for "jpeg": the intent is clear and the sent value is one the spec lists.
        matches = [v for v in param.enum if v.lower() == value.lower()]
        if len(matches) == 1:
            value = matches[0]
    if _fits(param, value):
        return value
    raise InputError(
        f"{name}={value!r} is not allowed for model {model.name!r}: {name} must be "
        f"{param.describe_allowed()}",
        param=name,
    )


def _fits(param: registry.Param, value: Any) -> bool:
    if not any(_schema.has_type(value, t) for t in param.types):
        return False
    if param.enum is not None and value not in param.enum:
        return False
    if next(_schema.broken_bounds(param.bounds, value), None) is not None:
        return False
    return not (param.format == "uri" and isinstance(value, str) and not _is_uri(value))


def _is_uri(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _check_text(name: str, value: str) -> None:
    """A str field must encode as UTF-8: a lone surrogate (from a badly decoded file name or
    a JSON ``\\udxxx`` escape) cannot be sent in a JSON body."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{name} holds a lone surrogate (U+{ord(value[exc.start]):04X} at index {exc.start}), "
            "which UTF-8 cannot carry; only valid Unicode text can be sent",
            param=name,
        ) from None


def _check_output_size(model: registry.Model, chosen: Mapping[str, Any]) -> None:
    for name in _SIZE_PARAMS:
        value = chosen.get(name)
        if isinstance(value, int) and value % SIZE_MULTIPLE:
            # A warning, not an error: the spec (the source of truth for parameters) allows it,
            # and the documented rule [doc] costs nothing if broken: at worst the service answers
            # 422 or snaps the size, which is what this warns about.
            lower = value - value % SIZE_MULTIPLE
            warnings.warn(
                f"{name}={value} is not a multiple of {SIZE_MULTIPLE}, which BFL documents as "
                f"required; the image may come back {lower} or {lower + SIZE_MULTIPLE} wide/high",
                Flux2Warning,
                stacklevel=4,
            )
    width, height = chosen.get("width"), chosen.get("height")
    if not isinstance(width, int) and not isinstance(height, int):
        return
    # An error: cost grows per megapixel [doc], BFL's own SDK refuses it [doc], and a size the
    # service cannot produce is better refused here than billed or half-served. A side given
    # alone is held to a square: where the service takes the other side from is not documented
    # (the spec's default of 0 means "the model chooses"), and a square is how the emulator
    # renders it and how estimate() prices it.
    given = "width" if isinstance(width, int) else "height"
    side = width if isinstance(width, int) else height
    assert isinstance(side, int)
    if isinstance(width, int) and isinstance(height, int):
        pixels = width * height
        if pixels <= MAX_OUTPUT_PIXELS:
            return
        raise InputError(
            f"width*height = {_shown_int(width)}*{_shown_int(height)} = "
            f"{_megapixels(pixels)} is more than the 4 MP ({MAX_OUTPUT_PIXELS} pixels, e.g. "
            f"2048x2048) BFL documents as the output limit of {model.name!r}",
            param="width",
        )
    most = math.isqrt(MAX_OUTPUT_PIXELS)
    if side > most:
        raise InputError(
            f"{given}={_shown_int(side)} given alone is held to a square, and more than "
            f"{most}x{most} is more than the 4 MP ({MAX_OUTPUT_PIXELS} pixels) BFL documents as "
            f"the output limit of {model.name!r}: {given} must be at most {most}, or give both "
            "sides, e.g. width=4096, height=1024",
            param=given,
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.2f} MP" if pixels < 10**15 else f"{_shown_int(pixels)} pixels"


def _shown_int(value: int) -> str:
    # Not str(): past 4,300 digits it raises, and a 4,000-digit message helps nobody.
    if abs(value) < 10**12:
        return str(value)
    return f"a {int(value.bit_length() * math.log10(2)) + 1}-digit number"


# One rule for the items of a batch and of generate_many.
_ITEM_KINDS = "a prompt or a dict of generate() keywords"


def normalise_item(
    entry: object,
    defaults: Mapping[str, Any] | None = None,
    *,
    where: str | None = None,
    kinds: str = _ITEM_KINDS,
) -> dict[str, Any]:
    """The ``generate()`` keywords of one item (``prompt`` included).

    ``entry`` is a prompt or a mapping of keywords; ``defaults`` fill the keys it does not set;
    ``None`` values are dropped from both. ``kinds`` names what the caller accepts, for the
    error message. Raises :class:`flux2.InputError` (prefixed with ``where``) otherwise.
    """
    prefix = f"{where}: " if where else ""
    base = {k: v for k, v in (defaults or {}).items() if v is not None}
    if isinstance(entry, str):
        params: dict[str, Any] = {**base, "prompt": entry}
    elif isinstance(entry, Mapping):
        params = {**base, **{k: v for k, v in entry.items() if v is not None}}
    else:
        raise InputError(
            f"{prefix}a batch item must be {kinds}, got {type(entry).__name__}", param="items"
        )
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f"{prefix}a batch item needs a non-empty 'prompt'", param="prompt")
    return params
