"""What flux2 decides, with no I/O: the rules both clients follow, one module a question.

- :mod:`.requests` -- :func:`build_request`: a submission from keyword arguments, validated
  against the pinned spec (through :mod:`flux2.registry`) and the documented product limits the
  spec lacks.
- :mod:`.hosts` -- :class:`HostPolicy`: which hosts may receive the API key, and which URLs
  flux2 connects to.
- :mod:`.retry` -- :class:`RetryPolicy`: which failures are retried, and after how long.
  Money-safe: a request that may have created a task is never sent twice.
- :mod:`.polling` -- when to poll a task next: :class:`PollSchedule` (the settings, starting
  from :data:`EXPECTED_SECONDS`), :class:`~.polling.PollEstimator` (what one client learns of
  each model's run times from the tasks it saw finish) and its ``PollPlan`` for one task.
- :mod:`.status` -- :func:`task_state` / :func:`task_error`: what a task status means;
  :func:`make_status_error`: which exception an error status becomes.

The flows (:mod:`flux2._flows`) follow these rules; ``Client`` and ``AsyncClient`` only
perform the I/O and the sleeping the flows yield (through :mod:`flux2._drive`).
Facts carry the confidence tag of BFL-FACTS.md: [doc] BFL documentation or BFL-owned code,
[seen] recorded live behaviour, [claim] stated once, unconfirmed.
"""

from __future__ import annotations

from flux2.errors import InputError

from .hosts import BFL_DOMAIN, DEFAULT_BASE_URL, HostPolicy, is_loopback
from .polling import EXPECTED_SECONDS, PollSchedule
from .requests import (
    MAX_OUTPUT_PIXELS,
    SIZE_MULTIPLE,
    Flux2Warning,
    SubmitRequest,
    build_request,
    normalise_item,
    resolve_model,
)
from .retry import (
    POST_ANSWER_LOST,
    RETRY_ANY_METHOD,
    RETRY_GET_ONLY,
    RetryPolicy,
    is_retryable_network_error,
    parse_retry_after,
    was_not_sent,
)
from .status import error_text, make_status_error, task_error, task_state

__all__ = [
    "BFL_DOMAIN",
    "DEFAULT_BASE_URL",
    "EXPECTED_SECONDS",
    "MAX_OUTPUT_PIXELS",
    "POST_ANSWER_LOST",
    "RETRY_ANY_METHOD",
    "RETRY_GET_ONLY",
    "SIZE_MULTIPLE",
    "Flux2Warning",
    "HostPolicy",
    "InputError",
    "PollSchedule",
    "RetryPolicy",
    "SubmitRequest",
    "build_request",
    "error_text",
    "is_loopback",
    "is_retryable_network_error",
    "make_status_error",
    "normalise_item",
    "parse_retry_after",
    "resolve_model",
    "task_error",
    "task_state",
    "was_not_sent",
]
