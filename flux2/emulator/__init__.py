"""A local emulator of the BFL FLUX.2 API, for tests, demos and working without a key.

Needs the ``emulator`` extra (``pip install 'flux2[emulator]'``: starlette, uvicorn,
jsonschema, pillow)::

    from flux2.emulator import Emulator

    with Emulator(api_key="test-key", speed=0.01) as emu, emu.client() as client:
        image = client.generate("a lighthouse at dawn", model="klein-4b")
        assert len(emu.submissions("a lighthouse at dawn")) == 1

``emu.client(**options)`` and ``emu.async_client(**options)`` give a ``flux2.Client`` /
``flux2.AsyncClient`` with the emulator's base URL, a key it accepts and a poll schedule scaled
to its speed (``PollSchedule(scale=speed)``); ``options`` are the client's keywords and win.
A client made by hand with the live schedule polls as if tasks took their live time.

``flux2 mock`` runs one until Ctrl-C (:func:`serve`) and, when faster than live, names the
environment variable (``FLUX2_POLL_SCALE``) that makes a ``flux2`` command poll at its speed;
``flux2 ... --mock`` runs one inside the command; the pytest plugin
(:mod:`flux2.emulator.pytest_plugin`) gives tests the fixtures ``bfl_emulator``,
``bfl_emulator_factory`` and ``bfl_client`` (``bfl_emulator.client()``).

What it does, like the live service (BFL-FACTS.md):

- Three listeners on one host: the API (``base_url``: every submit endpoint of the spec it
  serves, FLUX.2 and FLUX.1, Kontext, fill, expand and finetuned ones alike, found as the
  ``POST`` operations whose answer carries a ``polling_url``; ``/v1/get_result``,
  ``/v1/credits``), polling (every task's
  ``polling_url``; the API's own ``get_result`` answers 404 ``Task not found`` for those tasks,
  as the global host does for a task on a regional cluster) and delivery (result images at
  signed URLs with ``se=``/``sig=`` that need no key and expire ``result_ttl`` seconds after the
  task ends: then 403 with an Azure-style XML body).
- ``x-key`` is required on the API and polling listeners (403 without or with a wrong one).
- Request bodies are validated against the spec's request schema of the endpoint, required
  fields of every kind included (an endpoint that requires an input image refuses a body
  without one); invalid ones get 422 ``{"detail": [{"type", "loc", "msg", "input", ...}]}``
  like FastAPI. A body that is not JSON (or not UTF-8) gets 422 ``json_invalid``; a width and
  height above the documented 4 MP (4,194,304 pixels, a missing side counted equal to the
  other) gets 422 at ``loc: ["body"]`` and is never priced. No request makes it answer 5xx
  unless a fault asks for it. Fields the schema does not declare are ignored, and recorded;
  defaults (size, output format, upsampling) come from the schema.
- Statuses go ``Pending`` -> ``Generating`` (``progress`` 0..1) -> ``Ready`` over the model's
  live duration times ``speed`` (``speed=0``: Ready at the first poll). A Ready result has
  ``sample``, ``prompt`` (upsampled where the model upsamples), ``seed``, ``start_time``,
  ``end_time``, ``duration``. ``profile=`` and ``seed=`` (``flux2 mock --profile --seed``)
  draw each task's duration, queue wait and progress from a timing profile of
  :data:`PROFILES`: ``steady`` (each model's figure exactly, the default), ``expected``,
  ``faster``, ``slower``, ``wide``; the draws repeat for a given seed.
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
  whether a key was sent and matched, JSON body, time, status answered). An emulator keeps
  the last ``history`` (10,000) requests, webhook deliveries and tasks: past that, the
  oldest finished tasks are forgotten (polls for them answer ``Task not found``), so a
  long ``flux2 mock`` session does not grow without end.

Layout
------
``_server`` (:class:`Emulator`, :func:`serve`: the listeners, the clients it gives) runs
``_service`` (the state and the HTTP handlers), which uses ``_endpoints`` (the submit
endpoints, read from the spec), ``_validation`` (request bodies against the spec's schemas),
``_creation`` (a body becomes a task), ``_tasks`` (what is recorded; statuses over time),
``_policy`` and ``_timing`` (durations, prices, sizes; timing profiles), ``_faults`` (fault
names and markers), ``_responses`` (the answers, hostile ones included), ``_delivery`` and
``_images`` (signed result URLs; the pictures) and ``_webhooks`` (deliveries).
:mod:`.pytest_plugin` holds the fixtures.

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
``hang-submit``, ``hang-poll``, ``hang-download``
    The request is read and never answered: the connection stays open until the client gives
    up or the emulator stops (a host that accepts and goes silent). A hanging submit has
    created and billed its task.
``bad-encoding-submit``, ``bad-encoding-poll``, ``bad-encoding-download``
    The answer says ``Content-Encoding: gzip`` but its body is not gzip (the plain JSON or
    image): no client can decode it. The submit's task is created and billed.
``deep-json-submit``, ``deep-json-poll``
    The answer is valid JSON with the usual fields plus ``"nested"``, 100,000 arrays deep:
    more than any recursive JSON reader can take. The submit's task is created and billed.
``endless-download``
    The result download sends the image, then zeros without end, with no ``Content-Length``.
``poll-503-task``
    The poll answers HTTP 503 with ``Retry-After`` whose body is the task as it stands
    (``=N,SECONDS`` or ``=N,date`` sets the header); default count 3: several in a row.

Faults that hold while in force (markers: for that prompt's task):

``slow=SECONDS`` (default 1), ``slow-submit``, ``slow-poll``, ``slow-download``
    Hold every answer (or only those of one kind) back that long.
``trickle-poll=BYTES``, ``trickle-download=BYTES`` (default 1)
    Polls' answers / result downloads are sent that many bytes per second (in tenths of a
    second), with the right ``Content-Length``.
``huge-poll=SIZE`` (default 300MiB)
    Polls answer the task with a ``"padding"`` string that makes the body ``SIZE`` bytes
    (``Content-Length`` announced, streamed as it is sent).
``gzip-bomb=SIZE`` (default 1GiB)
    The result download is the image padded with zeros to ``SIZE`` bytes, sent with
    ``Content-Encoding: gzip``: about a thousandth of ``SIZE`` on the wire.
``long-retry-after=SECONDS`` (default 3600)
    Polls answer 503 ``{"detail": ...}`` with ``Retry-After: SECONDS`` (or ``=date``).
``task-id=ID``
    The task gets the id ``ID`` as given (``/../../outside/pwned``, ``a/b/../c``): in the
    submit answer, the polling URL's query, the poll body and the result URL's path (one
    percent-encoded segment). A second task with the same id replaces the first.
``polling-url=TRICK``, ``result-url=TRICK``
    The task's polling URL / result URL is spoiled: ``tab`` or ``nul`` puts a TAB or NUL at
    the end of its path; ``lookalike`` gives it the host ``<host>.evil.invalid`` (the real
    host name followed by a foreign domain; ``.invalid`` never resolves); ``userinfo`` adds
    ``flux2:pwned@`` before the (real) host.
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

Server-wide outcome faults (``request-moderated`` ... ``stuck``, ``expired-url``,
``task-id``, ``polling-url``, ``result-url``) apply to the tasks submitted while they are in
force. The stream faults (hang, trickle, huge, endless, bomb) stop as soon as the client
disconnects or the emulator stops. Marker ``[[size=50MB]]`` (or ``Emulator(result_size=)``)
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
