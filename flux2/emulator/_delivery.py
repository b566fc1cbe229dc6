"""Result files: signed, expiring URLs like Azure's (``se=``, ``sig=``), the checks a download
must pass, and the pictures, rendered once and kept for a while."""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from . import _images
from . import _responses as answer
from ._creation import tricked
from ._tasks import EmulatedTask

__all__ = ["Results"]

# Rendered results kept per emulator; a picture costs 20-60 ms to make at 1 MP.
_IMAGE_CACHE: Final = 64
# The storage API version a delivery URL names, like Azure's signed URLs (`sv=`).
_SAS_VERSION: Final = "2024-11-04"
_EXPIRY_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_SIGNATURE_MISMATCH: Final = (
    "Server failed to authenticate the request. Make sure the value of "
    "Authorization header is formed correctly including the signature."
)


class Results:
    """The delivery host's side of the results: URLs, their checks, and the files."""

    def __init__(self, origin: str, result_ttl: Callable[[], float]) -> None:
        self._origin = origin
        self._result_ttl = result_ttl
        self._signing_key = secrets.token_bytes(32)
        self._images: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
        self._images_lock = threading.Lock()

    def _signature(self, task_id: str, expiry: str) -> str:
        digest = hmac.new(self._signing_key, f"{task_id}\n{expiry}".encode(), hashlib.sha256)
        return base64.b64encode(digest.digest()).decode()

    def sample_url(self, task: EmulatedTask) -> str:
        """The signed, expiring URL of a finished task's image (Azure-style ``se``/``sig``)."""
        if task.expired_url:
            expires = math.floor(task.end_time) - 1
        else:
            # Whole seconds, as signed URLs carry them; never earlier than promised.
            expires = math.ceil(task.end_time + self._result_ttl())
        expiry = datetime.fromtimestamp(expires, UTC).strftime(_EXPIRY_FORMAT)
        name = _images.encoding(task.output_format)
        query = urlencode(
            {
                "se": expiry,
                "sp": "r",
                "sv": _SAS_VERSION,
                "sr": "b",
                "rsct": _images.content_type(task.output_format),
                "sig": self._signature(task.id, expiry),
            }
        )
        # The id is one path segment even when it holds slashes or dots ("..").
        segment = quote(task.id, safe="").replace(".", "%2E")
        url = f"{self._origin}/results/{segment}/sample.{name}?{query}"
        return url if task.result_trick is None else tricked(url, task.result_trick)

    @staticmethod
    def find(tasks: Mapping[str, EmulatedTask], request: Request) -> EmulatedTask | None:
        """The task whose file ``request`` asks for."""
        # The decoded path is /results/<id>/sample.<ext>, where the id may hold slashes.
        rest = request.url.path.removeprefix("/results/")
        task_id, _, file_name = rest.rpartition("/")
        if not file_name.startswith("sample."):
            return None
        task = tasks.get(task_id)
        return task if task is not None else tasks.get(unquote(task_id))

    def refusal(self, task: EmulatedTask, request: Request) -> Response | None:
        """Azure's 403 when the signature does not match or the URL has expired, else None."""
        expiry = request.query_params.get("se", "")
        given = request.query_params.get("sig", "")
        if not hmac.compare_digest(given.encode(), self._signature(task.id, expiry).encode()):
            return answer.azure_error(
                "AuthenticationFailed", _SIGNATURE_MISMATCH, 403, "Signature did not match."
            )
        expires = datetime.strptime(expiry, _EXPIRY_FORMAT).replace(tzinfo=UTC).timestamp()
        now = time.time()
        if now >= expires:
            return answer.azure_error(
                "AuthenticationFailed",
                _SIGNATURE_MISMATCH,
                403,
                "Signature not valid in the specified time frame: Start [] - Expiry "
                f"[{answer.http_date(expires)}] - Current [{answer.http_date(now)}]",
            )
        return None

    async def picture(self, task: EmulatedTask) -> bytes:
        """The task's result file, rendered on first use."""
        key = (
            task.text,
            task.seed,
            task.width,
            task.height,
            _images.encoding(task.output_format),
            hashlib.sha256(task.input_image).hexdigest() if task.input_image else None,
        )
        with self._images_lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
        data = await run_in_threadpool(
            _images.render,
            # A prompt may hold lone surrogates that JSON allows and no font can draw.
            task.text.encode("utf-8", "replace").decode("utf-8"),
            task.seed,
            task.width,
            task.height,
            output_format=task.output_format,
            input_image=task.input_image,
        )
        with self._images_lock:
            self._images[key] = data
            while len(self._images) > _IMAGE_CACHE:
                self._images.popitem(last=False)
        return data
