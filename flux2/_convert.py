"""Wire bodies to flux2's public types, and request fields checked: the one module that reads
the generated models.

Reading is lenient where the service is known to move ahead of its spec: the task status is
read as a plain string *before* the generated ``from_dict`` sees the body (its enum is closed
and raises on a new value, while new in-flight statuses appear live [seen]); a field of the
wrong JSON type is treated as absent (and logged) instead of failing the whole response.
What flux2 reads, and with which JSON type, is declared in ``flux2._wire.RESPONSE_FIELDS``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._generated import load_generated
from ._logging import logger
from ._schema import has_type
from ._wire import RESPONSE_FIELDS
from .types import Task, TaskResult

if TYPE_CHECKING:
    pass

__all__ = [
    "WireError",
    "credits_from_body",
    "result_from_body",
    "task_from_submit",
]


class WireError(ValueError):
    """A response body lacks what flux2 needs from it."""


def _clean(body: Mapping[str, Any], schema: str) -> dict[str, Any]:
    """``body`` without the fields of ``schema`` whose value has the wrong JSON type (null
    stays: flux2 accepts null for every optional field)."""
    fields = RESPONSE_FIELDS[schema]
    clean: dict[str, Any] = {}
    for name, value in body.items():
        expected = fields.get(name)
        if expected is None or value is None or has_type(value, expected):
            clean[name] = value
        else:
            logger.debug(
                "ignoring %s.%s: expected %s, got %s", schema, name, expected, type(value).__name__
            )
    return clean


def _unset_to_none(value: Any) -> Any:
    return None if isinstance(value, _unset_type()) else value


@functools.cache
def _unset_type() -> type:
    load_generated()
    from flux2_generated.types import Unset

    return Unset


def task_from_submit(body: Any, *, model: str, submitted_at: float) -> Task:
    """The :class:`Task` in a submit answer (with ``polling_url``, or the webhook variant)."""
    load_generated()
    from flux2_generated.models.async_response import AsyncResponse
    from flux2_generated.models.async_webhook_response import AsyncWebhookResponse

    if not isinstance(body, Mapping):
        raise WireError(f"the submit answer is not a JSON object: {_preview(body)}")
    try:
        if isinstance(body.get("polling_url"), str):
            answer = AsyncResponse.from_dict(_clean(body, "AsyncResponse"))
            task_id, polling_url, webhook_url = answer.id, answer.polling_url, None
            cost, input_mp, output_mp = answer.cost, answer.input_mp, answer.output_mp
        elif isinstance(body.get("webhook_url"), str):
            # With webhook_url set, the answer carries no polling_url [doc].
            hooked = AsyncWebhookResponse.from_dict(
                {"status": "", **_clean(body, "AsyncWebhookResponse")}
            )
            task_id, polling_url, webhook_url = hooked.id, None, hooked.webhook_url
            cost, input_mp, output_mp = hooked.cost, hooked.input_mp, hooked.output_mp
        else:
            raise WireError(
                f"the submit answer has neither polling_url nor webhook_url: {_preview(body)}"
            )
    except KeyError as missing:
        raise WireError(f"the submit answer lacks {missing.args[0]!r}: {_preview(body)}") from None
    if not isinstance(task_id, str) or not task_id:
        raise WireError(f"the submit answer has no task id: {_preview(body)}")
    return Task(
        id=task_id,
        polling_url=polling_url,
        model=model,
        cost=_unset_to_none(cost),
        input_mp=_unset_to_none(input_mp),
        output_mp=_unset_to_none(output_mp),
        webhook_url=webhook_url,
        submitted_at=submitted_at,
    )


def result_from_body(body: Any, *, task_id: str | None = None) -> TaskResult:
    """The :class:`TaskResult` in a ``get_result`` body (or a task-shaped error body).

    ``task_id`` fills in the id when the body lacks one (a 422 task body may [seen]).
    """
    load_generated()
    from flux2_generated.models.result_response import ResultResponse
    from flux2_generated.models.status_response import StatusResponse

    if not isinstance(body, Mapping):
        raise WireError(f"the task body is not a JSON object: {_preview(body)}")
    status = body.get("status")
    if not isinstance(status, str):
        raise WireError(f"the task body has no status: {_preview(body)}")
    clean = _clean(body, "ResultResponse")
    if not isinstance(clean.get("id"), str):
        if task_id is None:
            raise WireError(f"the task body has no id: {_preview(body)}")
        clean["id"] = task_id
    # The generated enum is closed; the status is kept as read above and the model gets a
    # stand-in so the rest of the body still parses.
    clean["status"] = status if status in _known_statuses() else StatusResponse.PENDING.value
    parsed = ResultResponse.from_dict(clean)

    details_obj = _unset_to_none(parsed.details)
    details: Mapping[str, Any] | None
    if details_obj is None:
        details = None
    elif isinstance(details_obj, Mapping):
        details = dict(details_obj)
    else:
        details = dict(details_obj.additional_properties)
    payload = _unset_to_none(parsed.result)
    sample = payload if isinstance(payload, Mapping) else {}

    error = _text(details.get("error")) if details else None
    if error is None:
        error = _text(sample.get("error")) or (payload if isinstance(payload, str) else None)
    preview = _unset_to_none(parsed.preview)
    if preview is not None and not isinstance(preview, Mapping):
        preview = getattr(preview, "additional_properties", preview)
    return TaskResult(
        id=parsed.id,
        status=status,
        progress=_number(_unset_to_none(parsed.progress)),
        url=_text(sample.get("sample")),
        prompt=_text(sample.get("prompt")),
        seed=_integer(sample.get("seed")),
        start_time=_number(sample.get("start_time")),
        end_time=_number(sample.get("end_time")),
        duration=_number(sample.get("duration")),
        error=error,
        details=details,
        preview=preview,
        raw=dict(body),
    )


@functools.cache
def _known_statuses() -> frozenset[str]:
    load_generated()
    from flux2_generated.models.status_response import StatusResponse

    return frozenset(s.value for s in StatusResponse)


def credits_from_body(body: Any) -> float:
    """The balance in a ``/v1/credits`` answer."""
    load_generated()
    from flux2_generated.models.credits_response import CreditsResponse

    if not isinstance(body, Mapping):
        raise WireError(f"the credits answer is not a JSON object: {_preview(body)}")
    try:
        parsed = CreditsResponse.from_dict(_clean(body, "CreditsResponse"))
    except KeyError:
        raise WireError(f"the credits answer lacks 'credits': {_preview(body)}") from None
    value = _number(parsed.credits_)
    if value is None:
        raise WireError(f"the credits answer has no number: {_preview(body)}")
    return value


def is_task_body(body: Any) -> bool:
    """Whether an error answer's body is a task (``{"status": "Error", "details": ...}``)."""
    return isinstance(body, Mapping) and isinstance(body.get("status"), str)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _preview(body: Any) -> str:
    text = repr(body)
    return text if len(text) <= 200 else text[:200] + "..."
