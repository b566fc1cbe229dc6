"""A submitted body becomes a task: its size, price, seed, prompt, input image, and the
outcome its faults decide. No I/O besides decoding the input images."""

from __future__ import annotations

import base64
import binascii
import io
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from PIL import Image, UnidentifiedImageError

from flux2._wire import RESULT_PATH

from . import _policy
from ._endpoints import Endpoint
from ._faults import Fault, FaultSet, Markers
from ._tasks import IN_FLIGHT_UNKNOWN, EmulatedTask
from ._timing import TaskTiming

__all__ = ["CORRUPTED_INPUT", "new_task", "oversized", "prompt_of", "tricked"]

# The live answer to a corrupted input image: the poll says 422 with the task as body [seen].
CORRUPTED_INPUT: Final = "Invalid or corrupted image input"
# Upsampled prompts gain a short description; the live rewrite is longer and varies [doc].
_UPSAMPLED_SUFFIX: Final = ", rendered in rich detail with natural light"


def prompt_of(endpoint: Endpoint, body: Mapping[str, Any]) -> str:
    """The prompt of a body; endpoints where it is optional (fill, expand) default to ''."""
    value = body.get("prompt")
    return str(value) if value is not None else str(endpoint.default("prompt", ""))


def _aspect(endpoint: Endpoint, body: Mapping[str, Any]) -> tuple[int, int] | None:
    """``aspect_ratio`` ("16:9") of endpoints that take one instead of a width and height."""
    if "aspect_ratio" not in endpoint.properties:
        return None
    text = body.get("aspect_ratio") or endpoint.default("aspect_ratio")
    left, _, right = str(text or "").partition(":")
    if not (left.isdigit() and right.isdigit() and int(left) and int(right)):
        return None
    return int(left), int(right)


def _sides(endpoint: Endpoint, body: Mapping[str, Any]) -> tuple[Any, Any]:
    width = body.get("width", endpoint.default("width"))
    height = body.get("height", endpoint.default("height"))
    return (
        width if isinstance(width, int) and not isinstance(width, bool) else None,
        height if isinstance(height, int) and not isinstance(height, bool) else None,
    )


def oversized(endpoint: Endpoint, body: Mapping[str, Any]) -> int | None:
    """The pixels asked for when they exceed the documented 4 MP limit [doc], else None.

    A missing side follows the square default, so a single huge side is refused too."""
    width, height = _sides(endpoint, body)
    pixels = _policy.requested_pixels(width, height)
    return pixels if pixels > _policy.MAX_PIXELS else None


def _read_inputs(
    body: Mapping[str, Any], fields: Iterable[str]
) -> tuple[list[tuple[int, int]], bytes | None, bool]:
    """Sizes of the input images, the first one's bytes, and whether one is unreadable.

    An image given by URL is not fetched: it counts as one default-size image.
    """
    sizes: list[tuple[int, int]] = []
    first: bytes | None = None
    corrupted = False
    for field in fields:
        value = body.get(field)
        if not isinstance(value, str) or not value:
            continue
        if value.startswith(("http://", "https://")):
            sizes.append(_policy.DEFAULT_SIZE)
            continue
        try:
            data = base64.b64decode(value, validate=True)
            with Image.open(io.BytesIO(data)) as picture:
                sizes.append(picture.size)
        except (
            binascii.Error,
            ValueError,
            UnidentifiedImageError,
            OSError,
            Image.DecompressionBombError,
        ):
            corrupted = True
            continue
        if first is None:
            first = data
    return sizes, first, corrupted


def _used_prompt(endpoint: Endpoint, body: Mapping[str, Any]) -> str:
    prompt = prompt_of(endpoint, body)
    if "prompt_upsampling" in endpoint.properties:
        upsample = body.get("prompt_upsampling", endpoint.default("prompt_upsampling", False))
    elif "disable_pup" in endpoint.properties:
        upsample = not body.get("disable_pup", endpoint.default("disable_pup", False))
    else:
        upsample = _policy.upsamples_by_default(endpoint.name)
    return prompt + _UPSAMPLED_SUFFIX if upsample else prompt


def tricked(url: str, trick: str) -> str:
    """``url`` made hostile the way a ``polling-url``/``result-url`` fault asks."""
    parts = urlsplit(url)
    if trick in ("tab", "nul"):
        return urlunsplit(parts._replace(path=parts.path + ("\t" if trick == "tab" else "\0")))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    if trick == "lookalike":
        # The real host with a foreign domain after it: it reads like the trusted one.
        return urlunsplit(parts._replace(netloc=f"{host}.evil.invalid{port}"))
    return urlunsplit(parts._replace(netloc=f"flux2:pwned@{host}{port}"))


def _apply_outcome(task: EmulatedTask, fault: Fault) -> None:
    name, text = fault.name, fault.text
    if name == "stuck":
        task.stuck = True
    elif name == "unknown-status":
        task.in_flight_status = text or IN_FLIGHT_UNKNOWN
    elif name == "request-moderated":
        task.outcome, task.error = "Request Moderated", text
    elif name == "content-moderated":
        task.outcome, task.error = "Content Moderated", text
    elif name in ("error", "error-in-result"):
        task.outcome, task.error = "Error", text or "Internal error during generation"
        task.error_in_result = name == "error-in-result"
    elif name == "failed":
        task.outcome, task.error = "Failed", text or "Generation failed"
    elif name == "poll-422-task":
        task.outcome, task.error, task.poll_422 = "Error", text or CORRUPTED_INPUT, True
    elif name == "expired-url":
        task.expired_url = True
    elif name == "polling-url":
        task.polling_trick = text
    elif name == "result-url":
        task.result_trick = text


def new_task(
    endpoint: Endpoint,
    body: dict[str, Any],
    *,
    speed: float,
    timing: TaskTiming,
    polling_origin: str,
    markers: Markers,
    outcome_faults: tuple[Fault, ...],
    unknown_fields: tuple[str, ...],
    result_size: int | None,
) -> EmulatedTask:
    """The task a valid body asks for (not yet stored, billed or started)."""
    faults = (
        *outcome_faults,
        *(f for f in markers.faults if f.stage == "outcome" or f.name == "expired-url"),
    )
    forced_ids = [f.text for f in faults if f.name == "task-id" and f.text]
    task_id = forced_ids[-1] if forced_ids else str(uuid.uuid4())
    inputs, first_input, corrupted = _read_inputs(body, endpoint.image_fields)
    width, height = _policy.output_size(
        *_sides(endpoint, body), inputs[0] if inputs else None, _aspect(endpoint, body)
    )
    input_mp = round(sum((_policy.megapixels(w, h) for w, h in inputs), 0.0), 2)
    output_mp = _policy.megapixels(width, height)
    seed = body.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        seed = random.randrange(1 << 32)
    output_format = str(body.get("output_format") or endpoint.default("output_format", "jpeg"))
    task = EmulatedTask(
        id=task_id,
        model=endpoint.name,
        prompt=prompt_of(endpoint, body),
        params=body,
        created=time.time(),
        duration=timing.seconds * speed,
        shape=timing.shape,
        width=width,
        height=height,
        seed=seed,
        output_format=output_format,
        cost=_policy.cost(endpoint.name, output_mp, input_mp),
        input_mp=input_mp,
        output_mp=output_mp,
        used_prompt=_used_prompt(endpoint, body),
        unknown_fields=unknown_fields,
        text=markers.text,
        input_image=first_input,
        result_size=markers.size or result_size,
        faults=FaultSet(f for f in markers.faults if f.stage in ("poll", "download", "any")),
    )
    if isinstance(body.get("webhook_url"), str):
        task.webhook_url = body["webhook_url"]
    else:
        task.polling_url = f"{polling_origin}{RESULT_PATH}?{urlencode({'id': task_id})}"
    for fault in faults:
        _apply_outcome(task, fault)
    if task.polling_url is not None and task.polling_trick is not None:
        task.polling_url = tricked(task.polling_url, task.polling_trick)
    if corrupted:
        task.outcome, task.error, task.poll_422 = "Error", CORRUPTED_INPUT, True
    return task
