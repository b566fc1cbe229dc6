"""A local emulator of the BFL FLUX.2 API, for tests, demos and working without a key.

Needs the ``emulator`` extra (``pip install 'flux2[emulator]'``: starlette, uvicorn,
jsonschema, pillow)::

    from flux2.emulator import Emulator

    with Emulator(api_key="test-key", speed=0.01) as emu:
        client = flux2.Client(api_key="test-key", base_url=emu.base_url)
        image = client.generate("a lighthouse at dawn", model="klein-4b")
        assert len(emu.submissions("a lighthouse at dawn")) == 1

``flux2 mock`` runs one until Ctrl-C (:func:`serve`); ``flux2 ... --mock`` runs one inside the
command; the pytest plugin (:mod:`flux2.emulator.pytest_plugin`) gives tests the fixtures
``bfl_emulator`` and ``bfl_emulator_factory``.

What it does, like the live service (BFL-FACTS.md):

- Three listeners on one host: the API (``base_url``: every FLUX.2 submit endpoint of the
  pinned spec, previews included, ``/v1/get_result``, ``/v1/credits``), polling (every task's
  ``polling_url``; the API's own ``get_result`` answers 404 ``Task not found`` for those tasks,
  as the global host does for a task on a regional cluster) and delivery (result images at
  signed URLs with ``se=``/``sig=`` that need no key and expire ``result_ttl`` seconds after the
  task ends: then 403 with an Azure-style XML body).
- ``x-key`` is required on the API and polling listeners (403 without or with a wrong one).
- Request bodies are validated against the spec's request schema of the model; invalid ones get
  422 ``{"detail": [{"type", "loc", "msg", "input", ...}]}`` like FastAPI. Fields the schema
  does not declare are ignored, and recorded.
- Statuses go ``Pending`` -> ``Generating`` (``progress`` 0..1) -> ``Ready`` over the model's
  live duration times ``speed`` (``speed=0``: Ready at the first poll). A Ready result has
  ``sample``, ``prompt`` (upsampled where the model upsamples), ``seed``, ``start_time``,
  ``end_time``, ``duration``.
- Submit answers carry ``cost``, ``input_mp`` and ``output_mp`` from the documented pricing;
  ``credits`` goes down by each cost, and a submit that costs more than is left gets 402.
- More than ``max_in_flight`` (24) tasks in flight: 429 with ``Retry-After``.
- ``webhook_url``: the answer is ``{id, status, webhook_url, cost, input_mp, output_mp}``
  without ``polling_url``; when the task ends, the emulator POSTs ``{"task_id", "id",
  "status": "SUCCESS" | "FAILED" | "REQUEST_MODERATED" | "CONTENT_MODERATED", "result",
  "progress", "details"}`` with ``X-Webhook-Secret`` and ``X-BFL-Signature: sha256=<hex
  HMAC-SHA256(secret, raw body)>`` when a ``webhook_secret`` was given, retrying after 1 s,
  5 s and 30 s (times ``speed``) while the receiver fails. ``Emulator.webhooks`` lists the
  attempts.
- Images are real JPEG/PNG/WebP files as asked by ``output_format``, drawn lazily and
  deterministically from (prompt, seed, size, input image): a landscape with the prompt
  written on it, different for every prompt. An unreadable input image ends the task the way
  live does: the poll answers 422 with an ``Error`` task as body.
- Every request is recorded (``Emulator.requests``: origin, method, path, query, host header,
  whether a key was sent and matched, JSON body, time, status answered).

Faults
------
Per request, with a marker in the prompt: ``[[fault:NAME]]`` or ``[[fault:NAME=ARG]]``
(several markers may be given). Server-wide, with the same ``NAME=ARG`` strings:
``Emulator(faults=[...])``, ``Emulator.set_faults(...)``, ``flux2 mock --fault NAME=ARG``.
A marker's counts belong to its prompt (its submits, retries included) and to the task made
from it (its polls and downloads); server-wide counts are shared by all requests.

Counted faults take ``=N`` (how many matching requests, default 1) or ``=always``:

``submit-CODE``, ``poll-CODE``, ``download-CODE``
    Answer HTTP ``CODE`` (any 400-599) to a submit / poll / result download, with
    ``{"detail": ...}`` (the result host answers 404 as Azure does). 429 and 503 carry
    ``Retry-After`` (1 s times ``speed``, rounded); ``=N,SECONDS`` or ``=N,date`` sets it,
    as seconds or as an HTTP date. A refused submit creates no task.
``429-storm``
    ``submit-429`` with a default count of 3.
``drop-submit`` (aliases ``drop-connection``, ``lost-response``)
    The task is created and billed, then the connection is closed without an answer: the
    client cannot know whether its submit arrived.
``drop-poll``, ``drop-download``
    The connection of a poll / result download is closed without an answer.
``truncated-download``
    The result download announces its full ``Content-Length``, sends half and closes.

Faults that hold while in force (markers: for that prompt's task):

``slow=SECONDS`` (default 1), ``slow-submit``, ``slow-poll``, ``slow-download``
    Hold every answer (or only those of one kind) back that long.
``insufficient-credits``
    Submits answer 402 ``{"detail": "Insufficient credits"}``.
``request-moderated[=REASON]``
    The task ends at once as ``Request Moderated``, ``details: {"Moderation Reasons":
    [REASON]}``.
``content-moderated[=REASON]``
    The task runs, then ends as ``Content Moderated``.
``error[=MESSAGE]``, ``failed[=MESSAGE]``
    The task ends as ``Error`` / ``Failed`` with ``details: {"error": MESSAGE}``.
``error-in-result[=MESSAGE]``
    Ends as ``Error`` with the message in ``result.error`` (an older body shape).
``poll-422-task[=MESSAGE]``
    Once finished, polls answer HTTP 422 whose body is the task: ``{"status": "Error",
    "details": {"error": "Invalid or corrupted image input"}}``.
``unknown-status[=STATUS]``
    While in flight the task says ``STATUS`` (default ``Dreaming``), a status no client
    knows; its first poll always sees it.
``stuck``
    The task never ends (it stays ``Pending`` and keeps its in-flight slot).
``not-found``
    Polls answer ``{"status": "Task not found"}``.
``expired-url``
    The task's result URL has already expired when the task is Ready (403 on download).

Server-wide outcome faults (``request-moderated`` ... ``stuck``, ``expired-url``) apply to the
tasks submitted while they are in force. Marker ``[[size=50MB]]`` (or ``Emulator(result_size=)``)
pads the result file to that size with data every decoder skips, streamed without being held
in memory: for download benchmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._faults import FAULT_NAMES, Fault, FaultError, parse_fault
from ._timing import PROFILES, Profile

if TYPE_CHECKING:
    from ._server import Emulator, serve
    from ._tasks import EmulatedTask, RecordedRequest, WebhookDelivery

__all__ = [
    "FAULT_NAMES",
    "PROFILES",
    "EmulatedTask",
    "Emulator",
    "Fault",
    "FaultError",
    "Profile",
    "RecordedRequest",
    "WebhookDelivery",
    "parse_fault",
    "serve",
]

_LAZY = {
    "Emulator": "_server",
    "serve": "_server",
    "EmulatedTask": "_tasks",
    "RecordedRequest": "_tasks",
    "WebhookDelivery": "_tasks",
}


def __getattr__(name: str) -> Any:
    # The server stack loads on first use, so importing this package (as the pytest plugin
    # does) costs nothing and works without the extra.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.startswith("flux2"):
            raise
        raise ModuleNotFoundError(
            f"flux2.emulator needs the 'emulator' extra ({exc.name} is missing): "
            "pip install 'flux2[emulator]'",
            name=exc.name,
        ) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
