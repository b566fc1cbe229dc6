"""What flux2 decides, with no I/O: the rules both clients follow.

- :func:`build_request`: a submission from keyword arguments, validated against the pinned spec
  (through :mod:`flux2.registry`) and the documented product limits the spec lacks.
- :class:`HostPolicy`: which hosts may receive the API key, and which URLs flux2 connects to.
- :class:`RetryPolicy`: which failures are retried, and after how long. Money-safe: a request
  that may have created a task is never sent twice.
- :class:`PollSchedule`: when to poll a task next.
- :func:`task_state` / :func:`task_error`: what a task status means.
- :func:`make_status_error`: which exception an error status becomes.

``Client`` and ``AsyncClient`` only perform the I/O and the sleeping these rules call for.
Facts carry the confidence tag of BFL-FACTS.md: [doc] BFL documentation or BFL-owned code,
[seen] recorded live behaviour, [claim] stated once, unconfirmed.
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import ipaddress
import json
import math
import random
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ._logging import logger, redact_url
from ._wire import STATUS_MEANINGS, TaskState
from .errors import (
    APIError,
    AuthenticationError,
    ContentModeratedError,
    InputError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestModeratedError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
    UnprocessableEntityError,
    UntrustedHostError,
)
from .inputs import EncodedImage, ImageInput, encode_image, encode_images

if TYPE_CHECKING:
    # Loaded on first use, not on ``import flux2``: the registry parses the pinned spec.
    from . import registry

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_OUTPUT_PIXELS",
    "Flux2Warning",
    "HostPolicy",
    "InputError",
    "PollSchedule",
    "RetryPolicy",
    "SubmitRequest",
    "build_request",
    "make_status_error",
    "parse_retry_after",
    "task_error",
    "task_state",
]

DEFAULT_BASE_URL: Final = "https://api.bfl.ai"


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

    def body(self) -> bytes:
        """The JSON body, in one piece (see :meth:`body_parts`)."""
        parts = self.body_parts()
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

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

    if "webhook_secret" in chosen and "webhook_url" not in chosen:
        raise InputError(
            "webhook_secret is only used with webhook_url; set both or neither",
            param="webhook_secret",
        )
    _check_output_size(spec_model, chosen)
    return SubmitRequest(spec_model, prompt, chosen, tuple(encoded))


def resolve_model(model: str | registry.Model | None) -> registry.Model:
    """The registry's model for a short or endpoint name; :class:`~flux2.UnknownModelError`
    (an ``InputError`` and ``ValueError``) listing the valid names otherwise."""
    from . import registry

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

    from . import registry

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
    if not any(_has_type(value, t) for t in param.types):
        return False
    if param.enum is not None and value not in param.enum:
        return False
    if isinstance(value, (int, float)):
        if param.minimum is not None and value < param.minimum:
            return False
        if param.maximum is not None and value > param.maximum:
            return False
        if param.exclusive_minimum is not None and value <= param.exclusive_minimum:
            return False
        if param.exclusive_maximum is not None and value >= param.exclusive_maximum:
            return False
    if isinstance(value, str):
        if param.min_length is not None and len(value) < param.min_length:
            return False
        if param.max_length is not None and len(value) > param.max_length:
            return False
        if param.format == "uri" and not _is_uri(value):
            return False
    return True


def _has_type(value: Any, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    return True


def _is_uri(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


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
    if isinstance(width, int) and isinstance(height, int) and width * height > MAX_OUTPUT_PIXELS:
        # An error: cost grows per megapixel [doc], BFL's own SDK refuses it [doc], and a size the
        # service cannot produce is better refused here than billed or half-served.
        raise InputError(
            f"width*height = {width}*{height} = {width * height / 1e6:.2f} MP is more than the "
            f"4 MP ({MAX_OUTPUT_PIXELS} pixels, e.g. 2048x2048) BFL documents as the output "
            f"limit of {model.name!r}",
            param="width",
        )


# --------------------------------------------------------------------------------------------
# Host trust
# --------------------------------------------------------------------------------------------

# Tasks live on regional clusters under bfl.ai (api.eu2.bfl.ai, api.us2.bfl.ai, ...) and the
# polling_url points there [doc][seen]; the key may go to those over https.
BFL_DOMAIN: Final = "bfl.ai"


# Cached: every request's URL is checked two or three times on its way out (the flow, then
# where the key is attached), and the same few hosts come back for every task.
@functools.lru_cache(maxsize=256)
def _host_of(url: str) -> tuple[str, str, str]:
    """``(scheme, host, userinfo)`` of ``url``, lower-cased; ValueError when unparseable."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    parts.port  # noqa: B018  (raises ValueError for a malformed port)
    return parts.scheme.lower(), host, userinfo


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _normalise_trusted(entry: str) -> str:
    entry = entry.strip().lower().rstrip(".")
    if "://" in entry:
        entry = urlsplit(entry).hostname or ""
    elif entry.startswith("["):
        entry = entry[1 : entry.index("]")] if "]" in entry else entry
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]  # a port given with the name: any port is trusted
    return entry


@dataclasses.dataclass(frozen=True)
class HostPolicy:
    """Which hosts receive the API key.

    The key goes only to: the base URL's host name (any port); https hosts equal to or under
    ``bfl.ai``; and the host names in ``trusted`` (an entry starting with a dot trusts every
    host under it). Plain http is allowed only for loopback hosts (127.0.0.0/8, ::1,
    localhost). Result downloads never carry the key, whatever the host.
    """

    base_host: str
    trusted: frozenset[str] = frozenset()

    @classmethod
    def for_base_url(cls, base_url: str, trusted: Iterable[str] = ()) -> HostPolicy:
        """The policy for a client of ``base_url``; refuses plain http to a non-loopback host."""
        try:
            scheme, host, userinfo = _host_of(base_url)
        except ValueError:
            raise InputError(f"base_url {base_url!r} is not a URL", param="base_url") from None
        if scheme not in {"http", "https"} or not host:
            raise InputError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, "
                f"got {redact_url(base_url)!r}",
                param="base_url",
            )
        if userinfo:
            raise InputError("base_url must not contain user:password@", param="base_url")
        if scheme == "http" and not is_loopback(host):
            raise InputError(
                f"base_url {redact_url(base_url)!r} uses plain http, which would send the API "
                "key unencrypted; plain http is allowed only for loopback hosts "
                "(127.0.0.0/8, ::1, localhost)",
                param="base_url",
            )
        names = frozenset(n for n in (_normalise_trusted(e) for e in trusted) if n)
        return cls(base_host=host, trusted=names)

    def is_trusted(self, url: str) -> bool:
        """Whether the API key may be sent to ``url``."""
        try:
            scheme, host, userinfo = _host_of(url)
        except ValueError:
            return False
        if userinfo or not host or scheme not in {"http", "https"}:
            return False
        if scheme == "http" and not is_loopback(host):
            return False
        if host == self.base_host:
            return True
        if scheme == "https" and (host == BFL_DOMAIN or host.endswith("." + BFL_DOMAIN)):
            return True
        return any(
            host == entry or (entry.startswith(".") and host.endswith(entry))
            for entry in self.trusted
        )

    def check_api_url(self, url: str, *, what: str = "polling_url") -> None:
        """Raise :class:`~flux2.UntrustedHostError` unless the key may go to ``url``."""
        if self.is_trusted(url):
            return
        shown = redact_url(url)
        raise UntrustedHostError(
            f"refusing to send the API key to {shown} ({what}): only the base URL's host "
            f"({self.base_host}), https hosts under {BFL_DOMAIN}, and hosts listed in "
            "trusted_hosts= / BFL_TRUSTED_HOSTS receive it; plain http only on loopback. "
            "If this host is yours, add it to trusted_hosts.",
            url=shown,
        )

    @staticmethod
    def check_download_url(url: str) -> None:
        """Downloads carry no key, but plain http is still refused off loopback."""
        try:
            scheme, host, _ = _host_of(url)
        except ValueError:
            raise UntrustedHostError(f"not a URL: {redact_url(url)}", url=redact_url(url)) from None
        if scheme == "https" and host:
            return
        if scheme == "http" and is_loopback(host):
            return
        raise UntrustedHostError(
            f"refusing to download {redact_url(url)}: only https URLs (or http on loopback) "
            "are fetched",
            url=redact_url(url),
        )

    @staticmethod
    def same_host(a: str, b: str) -> bool:
        """Whether two URLs name the same host (a redirect keeps the key only then)."""
        try:
            return _host_of(a)[1] == _host_of(b)[1] and _host_of(a)[0] == _host_of(b)[0]
        except ValueError:
            return False


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------

# Money safety, BFL's own SDK rule [doc]: 429 is retried on any method (the request was refused,
# nothing was created); 5xx and network errors only on GET; a POST only when it provably never
# reached the server. A public report counts 426 billed duplicates in a week from replays [doc].
RETRY_ANY_METHOD: Final = frozenset({429})
RETRY_GET_ONLY: Final = frozenset({408, 500, 502, 503, 504})
# A gateway that timed out waiting for the service has lost the answer to a submission that
# may have been processed: it is reported like a lost response, not as a plain 5xx.
POST_ANSWER_LOST: Final = frozenset({504})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and after how long a failed request is tried again.

    The n-th retry waits ``initial_delay * 2**n`` (at most ``max_delay``) with +-25% jitter, or
    what the server's ``Retry-After`` asks. A ``Retry-After`` longer than ``max_retry_after``
    is not waited out: the error is raised, carrying ``retry_after``, for the caller to decide.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The delay before retry number ``attempt`` (0-based) when the server named none."""
        base = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return base * (0.75 + 0.5 * rng.random())

    def delay_for_status(
        self,
        method: str,
        status: int,
        attempt: int,
        retry_after: float | None,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before retrying a response with ``status``, or ``None``: no retry."""
        if attempt >= self.max_retries:
            return None
        if status not in RETRY_ANY_METHOD and not (method == "GET" and status in RETRY_GET_ONLY):
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # A little jitter on top of the server's figure keeps many waiting clients from
            # returning in the same instant.
            return retry_after + rng.random() * min(1.0, 0.1 * retry_after + 0.05)
        return self.backoff(attempt, rng)

    def delay_for_error(
        self, method: str, exc: BaseException, attempt: int, rng: random.Random
    ) -> float | None:
        """Seconds to wait before retrying after a transport error, or ``None``: no retry."""
        if attempt >= self.max_retries:
            return None
        if method == "GET" and is_retryable_network_error(exc):
            return self.backoff(attempt, rng)
        if was_not_sent(exc):
            return self.backoff(attempt, rng)
        return None


def was_not_sent(exc: BaseException) -> bool:
    """Whether a transport error proves the request never reached the server.

    Only failing to connect and waiting for a free pooled connection prove it; any error after
    the first byte went out (write, read, protocol errors, read timeouts) may follow a request
    the server received and acted on.
    """
    import httpx

    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_retryable_network_error(exc: BaseException) -> bool:
    """Transport failures worth retrying for an idempotent request."""
    import httpx

    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return False
    return isinstance(exc, httpx.TransportError)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked to wait: ``Retry-After`` as seconds or an HTTP date [doc],
    or ``retry-after-ms``; ``None`` when absent or unreadable. ``now`` is Unix time."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


# --------------------------------------------------------------------------------------------
# Polling
# --------------------------------------------------------------------------------------------

# Submit-to-Ready wall time seen live per model, fastest and slowest, in seconds (BFL-FACTS.md,
# 2026-09 [seen]: klein-4b 2.6, klein-9b 2.4, flex 6.7-9, pro 12-14, max 36-41). Previews are
# taken to behave like their base model.
EXPECTED_SECONDS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "klein-4b": (2.6, 2.6),
        "klein-9b": (2.4, 2.4),
        "flex": (6.7, 9.0),
        "pro": (12.0, 14.0),
        "max": (36.0, 41.0),
    }
)


@dataclasses.dataclass(frozen=True)
class PollSchedule:
    """When to poll a task next, from its model and its age (seconds since submission).

    Three phases, all in seconds times ``scale``:

    1. *Surely not done* (before ``window_lead`` x the fastest run seen for the model): no
       polls, except, for models that take ``probe_min_expected`` seconds or more, probes at
       ``probe_first`` x 3**k (2, 6, 18 s) that catch an instantly refused or failed task early.
    2. *May be done* (until ``late_factor`` x the slowest run seen): a poll every
       ``fine_fraction`` x the fastest run, between ``min_interval`` and ``max_fine_interval``.
       When the service reports ``progress``, the next poll aims just after the predicted
       finish if that comes sooner.
    3. *Late* (queued or slow): the interval grows by a quarter of the lateness, up to
       ``max_interval``, sparing the rate limit.

    A model with no figures (a new one) is polled at 15% of its age, 0.5 s to ``max_interval``.
    A ``Retry-After`` from the server always wins over a shorter delay.

    Why these numbers: the benchmark (``scripts/bench``, scenario polling) holds flux2 to at
    most 40% of the requests of fixed 0.5 s polling with a median detection lag within 0.25 s
    of it. Simulated over run times drawn from the live ranges widened by 5% (10%), fixed
    0.5 s polling takes a median of 6, 5, 16, 27 and 78 requests for klein-4b, klein-9b, flex,
    pro and max and sees the result 0.12-0.37 s late; this schedule takes 2, 2, 4, 6 and 11-12
    (15-39% of the requests; 15-33% at 10%) and is late by a median of 0.05 s with progress
    reports, 0.12-0.34 s without (at most ``max_fine_interval`` once the window is open).
    ``tests/unit/test_polling.py`` holds it to that. Against the emulator (runs +-10%, 40 per
    model) it took 0.31x (klein-4b) to 0.15x (max) the polls of fixed 0.5 s polling with a
    median lag of 0.14-0.20 s against 0.27-0.45 s.

    ``window_lead`` 0.95 and ``finish_margin`` 0.05 s replaced 0.9 and 0.1 s, which took
    klein to 0.40x the polls of fixed 0.5 s polling (the limit) and a median lag of
    0.17-0.23 s in the same benchmark. The price: a run more than 5% faster than the fastest
    seen is found up to 5% of that run late (1.8 s for max, 0.13 s for klein-4b); and a
    prediction from ``progress`` that comes 0.05 s early costs one more poll.

    ``scale`` multiplies every figure: ``PollSchedule(scale=0.01)`` follows an emulator run at
    ``speed=0.01``; ``scale=0`` polls without pausing (for an emulator at ``speed=0``).
    """

    scale: float = 1.0
    expected: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: EXPECTED_SECONDS
    )
    window_lead: float = 0.95  # tuned with scripts/bench: see "window_lead 0.95" above
    fine_fraction: float = 0.15
    min_interval: float = 0.25
    max_fine_interval: float = 0.6
    probe_first: float = 2.0
    probe_min_expected: float = 10.0
    late_factor: float = 1.25
    max_interval: float = 5.0
    finish_margin: float = 0.05  # likewise

    def window(self, model: str | None) -> tuple[float, float] | None:
        """``(fastest, slowest)`` expected seconds for ``model`` (unscaled), if known."""
        if model is None:
            return None
        name = model[len("flux-2-") :] if model.startswith("flux-2-") else model
        return self.expected.get(name) or self.expected.get(name.removesuffix("-preview"))

    def assumed_age(self, model: str | None) -> float:
        """The age to assume for a task of unknown age (resumed from its id or polling URL):
        the start of the window in which it may be done, so it is polled closely at once."""
        window = self.window(model)
        return (self.window_lead * window[0] if window else 0.0) * self.scale

    def first_delay(self, model: str | None, age: float) -> float:
        """Seconds to wait before the first poll of a task of ``age`` seconds: none once it
        may be done (a task persisted earlier and waited for again, say)."""
        window = self.window(model)
        if self.scale <= 0:
            return 0.0
        if window is not None and max(0.0, age) / self.scale >= self.window_lead * window[0]:
            return 0.0
        return self.next_delay(model, age)

    def next_delay(self, model: str | None, age: float, progress: float | None = None) -> float:
        """Seconds to wait, from a task of ``age`` seconds, before polling it again."""
        if self.scale <= 0:  # an emulator at speed=0: every task is ready at once
            return 0.0
        return self._next_delay_unscaled(model, max(0.0, age) / self.scale, progress) * self.scale

    def _next_delay_unscaled(self, model: str | None, age: float, progress: float | None) -> float:
        window = self.window(model)
        if window is None:
            return min(max(0.15 * age, 0.5), self.max_interval)
        fastest, slowest = window
        opens = self.window_lead * fastest
        late = self.late_factor * slowest
        fine = min(max(self.fine_fraction * fastest, self.min_interval), self.max_fine_interval)
        if age + 1e-3 < opens:
            if fastest >= self.probe_min_expected:
                probe = self.probe_first
                while probe <= age:
                    probe *= 3
                if probe < opens - fine:
                    return probe - age
            return opens - age
        if progress is not None and 0 < progress < 1:
            remaining = age * (1 - progress) / progress + self.finish_margin
            if remaining <= 1.5 * fine:
                return max(remaining, self.min_interval / 2)
        if age < late:
            return fine
        return min(fine + 0.25 * (age - late), self.max_interval)


# --------------------------------------------------------------------------------------------
# Task status
# --------------------------------------------------------------------------------------------

_warned_statuses: set[str] = set()


def task_state(status: str) -> TaskState:
    """What ``status`` means. An unknown one counts as in flight, with one warning per status
    per process: new in-flight statuses have appeared live without a spec change [seen]."""
    state = STATUS_MEANINGS.get(status)
    if state is not None:
        return state
    if status not in _warned_statuses:
        _warned_statuses.add(status)
        logger.warning(
            "unknown task status %r: treating it as in flight and polling on until the deadline",
            status,
        )
    return TaskState.IN_FLIGHT


_TASK_ERRORS: Final[Mapping[TaskState, tuple[type[TaskError], str]]] = MappingProxyType(
    {
        TaskState.FAILED: (TaskFailedError, "failed"),
        TaskState.REQUEST_MODERATED: (
            RequestModeratedError,
            "was refused by input moderation (the prompt or an input image); retrying the same "
            "request will not help",
        ),
        TaskState.CONTENT_MODERATED: (
            ContentModeratedError,
            "produced an image that output moderation refused; another seed may pass",
        ),
        TaskState.NOT_FOUND: (
            TaskNotFoundError,
            "is not known to the service (wrong id, or polled on the wrong cluster: use the "
            "task's polling_url)",
        ),
    }
)


def task_error(
    task_id: str, status: str, error_text: str | None, details: Any, result: Any = None
) -> TaskError | None:
    """The exception for a task that ended without an image, or ``None`` if it did not."""
    state = task_state(status)
    entry = _TASK_ERRORS.get(state)
    if entry is None:
        return None
    cls, what = entry
    message = f"task {task_id} {what} (status {status!r})"
    if error_text:
        message += f": {error_text}"
    return cls(message, task_id=task_id, status=status, details=details, result=result)


# --------------------------------------------------------------------------------------------
# Error statuses
# --------------------------------------------------------------------------------------------

_STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = MappingProxyType(
    {
        401: AuthenticationError,
        402: InsufficientCreditsError,
        403: AuthenticationError,
        404: NotFoundError,
        422: UnprocessableEntityError,
        429: RateLimitError,
    }
)


def error_text(body: Any) -> str:
    """The server's own words from an error body (FastAPI ``detail``, ``message``...)."""
    if isinstance(body, Mapping):
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            return "; ".join(_describe_detail(item) for item in detail[:5])
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
        details = body.get("details")
        if isinstance(details, Mapping) and isinstance(details.get("error"), str):
            return str(details["error"])
    if isinstance(body, str):
        return body.strip()[:300]
    return ""


def _describe_detail(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
    msg = str(item.get("msg", ""))
    return f"{where}: {msg}" if where else msg


def make_status_error(
    *,
    status_code: int,
    body: Any,
    headers: Mapping[str, str],
    method: str,
    url: str,
    now: float,
) -> APIError:
    """The exception for an error response: one class per meaningful status."""
    cls = _STATUS_ERRORS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIError
    shown_url = redact_url(url)
    text = error_text(body)
    message = f"{status_code} from {method} {shown_url}" + (f": {text}" if text else "")
    if status_code in {401, 403}:
        message += " (check the API key: BFL_API_KEY or Client(api_key=...))"
    if method == "POST" and status_code >= 500:
        message += (
            " (the submission was not retried: it may or may not have created a task; check "
            "before submitting again)"
        )
    request_id = headers.get("x-request-id") or headers.get("request-id")
    common: dict[str, Any] = {
        "status_code": status_code,
        "body": body,
        "request_id": request_id,
        "method": method,
        "url": shown_url,
    }
    if cls is UnprocessableEntityError:
        detail = body.get("detail") if isinstance(body, Mapping) else None
        items = [d for d in detail if isinstance(d, Mapping)] if isinstance(detail, list) else []
        return UnprocessableEntityError(message, detail=items, **common)
    if cls is RateLimitError:
        retry_after = parse_retry_after(headers, now)
        if retry_after is not None:
            message += f" (retry after {retry_after:.1f} s)"
        return RateLimitError(message, retry_after=retry_after, **common)
    return cls(message, **common)
