"""What a batch may send again: every money decision of a batch, in one place. No I/O.

A submission costs money the moment the service creates its task, and the task's id is the
only handle on it. So:

=================  ==========================================================================
last record        what a run does with the item
=================  ==========================================================================
(none)             submits it
``rejected``       submits it again: the service refused it with a 4xx answer, or it was
                   never sent, so no task exists
``submitting``     nothing, unless ``resubmit_uncertain``: the run stopped while the
                   submission was in flight; a task may exist, and have been billed
``uncertain``      nothing, unless ``resubmit_uncertain``: the submission got no readable
                   answer (a 5xx, a timeout after sending, a lost connection, a body that
                   could not be read); a task may exist
``submitted``      waits for that task again and downloads its image; never resubmits
``failed`` (final) nothing, unless ``retry_failed``: the task ended without an image
                   (moderated, failed, unknown, result expired); a new submission is a new,
                   paid task
``done``           nothing, while its image file is there; once the file is gone, waits for
                   its task again if the task is known, else as ``submitting``
=================  ==========================================================================

Above every row: an item with a ``submitting`` record and no answer to it (no ``submitted``
naming its task, no ``rejected`` proving no task was created) is never submitted again
without ``resubmit_uncertain``, whatever records follow (a ``done`` whose file is gone, an
unreadable record, a hand-edited line). A ``rejected`` answers only the submission just before
it: an earlier one that never got an answer keeps the item uncertain.
A record that cannot be read counts as absent.

After a submit fails, :func:`submit_outcome` decides between ``rejected`` and ``uncertain``:
only an answer that proves no task was created counts as a refusal.
"""

from __future__ import annotations

from typing import Literal

from flux2.errors import (
    APIConnectionError,
    APIError,
    InputError,
    ResultExpiredError,
    TaskError,
    TaskTimeoutError,
    UntrustedHostError,
)

from .manifest import ItemState

__all__ = ["Action", "is_final", "next_action", "submit_outcome"]

Action = Literal["submit", "wait", "skip-done", "skip-failed", "skip-uncertain"]


def next_action(
    state: ItemState, *, image_exists: bool, resubmit_uncertain: bool, retry_failed: bool
) -> Action:
    """What a run does with an item whose manifest replay gave ``state`` (see the table)."""
    phase = state.phase
    if phase == "done" and image_exists:
        return "skip-done"
    if phase == "failed":
        return "submit" if retry_failed else "skip-failed"
    uncertain = phase in ("submitting", "uncertain")
    if not uncertain and state.task is not None:
        # Submitted (or done, with its file gone): the task exists; fetch it again.
        return "wait"
    if uncertain or state.unanswered:
        return "submit" if resubmit_uncertain else "skip-uncertain"
    return "submit"


def submit_outcome(exc: BaseException) -> Literal["rejected", "uncertain"]:
    """How a failed submission is recorded.

    ``rejected`` only when no task can exist: refused before sending (bad input, a host the
    key must not go to), a connection that provably never carried the request (flux2 raises
    :class:`~flux2.APIConnectionError` for a submission only then; otherwise
    :class:`~flux2.SubmissionUncertainError`), or a 4xx answer. Everything else, 5xx and
    unreadable answers and errors nobody foresaw included, is ``uncertain``.
    """
    if isinstance(exc, InputError | UntrustedHostError | APIConnectionError):
        return "rejected"
    if isinstance(exc, APIError) and 400 <= exc.status_code < 500:
        return "rejected"
    return "uncertain"


def is_final(exc: BaseException) -> bool:
    """Whether waiting again could not help: the task itself ended without an image."""
    if isinstance(exc, TaskTimeoutError):
        return False
    return isinstance(exc, TaskError | ResultExpiredError)
