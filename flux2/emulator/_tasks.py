"""What the emulator keeps: recorded requests, tasks and webhook deliveries, and how a task's
status follows from the time that passed. No I/O here."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Final, Literal

from ._faults import FaultSet
from ._timing import STEADY_SHAPE, Shape

__all__ = [
    "IN_FLIGHT_UNKNOWN",
    "EmulatedTask",
    "RecordedRequest",
    "TaskView",
    "WebhookDelivery",
]

Origin = Literal["api", "polling", "delivery"]

# What an `unknown-status` task says while in flight when the fault names no status: one no
# client knows, as live in-flight statuses appeared without a spec change [seen].
IN_FLIGHT_UNKNOWN: Final = "Dreaming"


@dataclasses.dataclass
class RecordedRequest:
    """One request as the emulator received it."""

    origin: Origin
    """Which listener it reached: ``"api"``, ``"polling"`` or ``"delivery"``."""
    method: str
    path: str
    query: str
    """The raw query string (``id=...``, ``se=...&sig=...``)."""
    host: str | None
    """The ``Host`` header as sent."""
    has_key: bool
    """Whether an ``x-key`` header was present."""
    key_matches: bool
    """Whether that key is the one the emulator accepts (any non-empty key when it has none)."""
    json: Any
    """The body parsed as JSON; the text when it is not JSON; None when there is none."""
    time: float
    """Unix time of arrival."""
    headers: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    """Headers as sent, lower-cased names, with the key's value replaced by ``"***"``."""
    status: int | None = None
    """The HTTP status answered, or None when the connection was dropped (or not answered yet)."""


@dataclasses.dataclass(frozen=True)
class TaskView:
    """A task as one look at it finds it."""

    status: str
    progress: float | None
    terminal: bool


@dataclasses.dataclass(eq=False)
class EmulatedTask:
    """A submitted task. ``status`` and ``progress`` tell where it is now."""

    id: str
    model: str
    """Short model name (``"klein-4b"``)."""
    prompt: str
    """The prompt as submitted, markers included."""
    params: dict[str, Any] = dataclasses.field(repr=False)
    """The whole request body, fields the spec does not know included."""
    created: float
    """Unix time of the submit."""
    duration: float
    """Seconds from submit to the end (the drawn duration x speed)."""
    width: int
    height: int
    seed: int
    output_format: str
    cost: float
    input_mp: float
    output_mp: float
    used_prompt: str
    """The prompt the result reports (upsampled when the model does that)."""
    polling_url: str | None = None
    webhook_url: str | None = None
    unknown_fields: tuple[str, ...] = ()
    """Body fields the model's schema does not declare: ignored, as live [seen]."""
    outcome: str = "Ready"
    """The status the task ends in."""
    error: str | None = None
    """What a failed or moderated task reports."""
    error_in_result: bool = False
    """Report the error in ``result.error`` (older bodies [seen]) rather than ``details``."""
    poll_422: bool = False
    """Once finished, polls answer HTTP 422 with the task as body [seen]."""
    stuck: bool = False
    in_flight_status: str | None = None
    """A status to report while in flight instead of Pending/Generating."""
    expired_url: bool = False
    polling_trick: str | None = None
    """How the ``polling-url`` fault spoils the polling URL (``tab``, ``nul``, ...)."""
    result_trick: str | None = None
    """How the ``result-url`` fault spoils the result URL."""
    result_size: int | None = None
    """Bytes the result file is padded to, or None."""
    text: str = ""
    """The prompt without markers: what the picture shows."""
    faults: FaultSet = dataclasses.field(default_factory=FaultSet, repr=False)
    """This task's poll and download faults, with their remaining counts."""
    input_image: bytes | None = dataclasses.field(default=None, repr=False)
    shape: Shape = STEADY_SHAPE
    """How its time splits into queue and generation, and how its progress rises."""
    polls: int = 0
    downloads: int = 0

    @property
    def end_time(self) -> float:
        """Unix time at which the task reaches its outcome."""
        if self.outcome == "Request Moderated":
            # The input is refused before any work starts [doc].
            return self.created
        return self.created + self.duration

    @property
    def start_time(self) -> float:
        return self.created + self.duration * self.shape.queue_share

    def view(self, now: float, *, first_poll: bool = False) -> TaskView:
        """The task at Unix time ``now``; ``first_poll`` for the first poll it answers."""
        unknown = self.in_flight_status
        if not self.stuck and now >= self.end_time and not (unknown and first_poll):
            return TaskView(self.outcome, None, terminal=True)
        elapsed = now - self.created
        queued = self.duration * self.shape.queue_share
        if self.stuck or elapsed < queued:
            return TaskView(unknown or "Pending", 0.0, terminal=False)
        span = max(self.duration - queued, 1e-9)
        progress = min(0.99, self.shape.progress((elapsed - queued) / span))
        return TaskView(unknown or "Generating", round(progress, 3), terminal=False)

    def in_flight(self, now: float) -> bool:
        return self.stuck or now < self.end_time

    @property
    def status(self) -> str:
        """The status a poll would see now."""
        return self.view(time.time()).status

    @property
    def progress(self) -> float | None:
        return self.view(time.time()).progress


@dataclasses.dataclass
class WebhookDelivery:
    """One attempt to deliver a finished task to its ``webhook_url``."""

    task_id: str
    url: str
    attempt: int
    """1 for the first try, then 2, 3, 4 for the retries."""
    body: bytes = dataclasses.field(repr=False)
    headers: dict[str, str] = dataclasses.field(repr=False)
    time: float
    status_code: int | None = None
    """The receiver's answer, or None when it could not be reached."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
