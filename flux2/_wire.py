"""What flux2 relies on from the wire, declared once.

The library parses responses with these tables, and ``flux2.drift`` checks a candidate spec
against them: a response field listed here that a new spec removes or retypes, or a task status
the spec adds that is not listed here, is a breaking change for flux2.

Facts carry the confidence tag of ``BFL-FACTS.md``: [doc] BFL documentation or BFL-owned code,
[seen] recorded live behaviour, [claim] stated once, unconfirmed.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Final

__all__ = [
    "AUTH_HEADER",
    "CREDITS_PATH",
    "RESPONSE_FIELDS",
    "RESULT_PATH",
    "RESULT_TTL_SECONDS",
    "STATUS_MEANINGS",
    "STATUS_SOURCES",
    "TaskState",
]

# The spec's security scheme: apiKey in header `x-key` [doc].
AUTH_HEADER: Final = "x-key"

# Paths flux2 calls besides the FLUX.2 submit endpoints (those come from flux2.registry).
RESULT_PATH: Final = "/v1/get_result"
CREDITS_PATH: Final = "/v1/credits"

# Result URLs expire 10 minutes after the task ends [doc][seen].
RESULT_TTL_SECONDS: Final = 600.0


class TaskState(enum.Enum):
    """What a task status means for a client waiting on it."""

    READY = "ready"
    IN_FLIGHT = "in_flight"
    FAILED = "failed"
    REQUEST_MODERATED = "request_moderated"
    CONTENT_MODERATED = "content_moderated"
    NOT_FOUND = "not_found"

    @property
    def terminal(self) -> bool:
        return self is not TaskState.IN_FLIGHT


# Every status flux2 knows. A status not listed here is treated as in flight (warned about
# once): new in-flight statuses appeared live without a spec change [seen].
STATUS_MEANINGS: Final = MappingProxyType(
    {
        "Ready": TaskState.READY,
        "Pending": TaskState.IN_FLIGHT,
        "Reasoning": TaskState.IN_FLIGHT,
        "Generating": TaskState.IN_FLIGHT,
        "Error": TaskState.FAILED,
        "Failed": TaskState.FAILED,
        "Request Moderated": TaskState.REQUEST_MODERATED,
        "Content Moderated": TaskState.CONTENT_MODERATED,
        "Task not found": TaskState.NOT_FOUND,
    }
)

# Where each status is known from: the pinned spec's StatusResponse enum, or BFL-FACTS.md.
STATUS_SOURCES: Final = MappingProxyType(
    {
        "Ready": "spec",
        "Pending": "spec",
        "Error": "spec",
        "Request Moderated": "spec",
        "Content Moderated": "spec",
        "Task not found": "spec",
        "Reasoning": "[seen] live in-flight status, not in the spec",
        "Generating": "[seen] live in-flight status, not in the spec",
        "Failed": "[claim] treated as terminal by several clients",
    }
)

# Response fields flux2 reads, by the spec's schema name, with the JSON type it expects.
# Fields marked nullable in the spec may also be null; flux2 accepts null for every optional one.
RESPONSE_FIELDS: Final = MappingProxyType(
    {
        "AsyncResponse": MappingProxyType(
            {
                "id": "string",
                "polling_url": "string",
                "cost": "number",
                "input_mp": "number",
                "output_mp": "number",
            }
        ),
        "AsyncWebhookResponse": MappingProxyType(
            {
                "id": "string",
                "status": "string",
                "webhook_url": "string",
                "cost": "number",
                "input_mp": "number",
                "output_mp": "number",
            }
        ),
        "ResultResponse": MappingProxyType(
            {
                "id": "string",
                "status": "string",
                "result": "any",
                "progress": "number",
                "details": "object",
            }
        ),
        "CreditsResponse": MappingProxyType({"credits": "number"}),
    }
)
