"""What a batch run reports while it runs (:class:`BatchEvent`) and at its end
(:class:`BatchSummary`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from .items import BatchItem
from .manifest import MANIFEST_NAME, ItemState

__all__ = ["BatchEvent", "BatchSummary", "EventKind"]

EventKind = Literal["planned", "submitted", "done", "failed", "rejected", "uncertain", "skipped"]


@dataclasses.dataclass(frozen=True)
class BatchEvent:
    """Something that happened to an item (for progress displays).

    ``planned`` comes once first, with ``total`` and ``skipped`` (already done); then one event
    per item: ``done``, ``failed``, ``rejected``, ``uncertain`` or ``skipped`` (an earlier
    failure or uncertain submission that is not retried); ``submitted`` comes before its item's
    outcome.
    """

    kind: EventKind
    item: BatchItem | None = None
    state: ItemState | None = None
    total: int = 0
    skipped: int = 0


@dataclasses.dataclass
class BatchSummary:
    """How a batch run went. ``ok`` when every item has its image."""

    directory: Path
    total: int
    submitted: list[ItemState] = dataclasses.field(default_factory=list)
    """Items submitted by this run."""
    done: list[ItemState] = dataclasses.field(default_factory=list)
    """Items whose image this run saved (some may have been submitted by an earlier run)."""
    already_done: int = 0
    failed: list[ItemState] = dataclasses.field(default_factory=list)
    """Items without an image that a run submits again only when asked (``retry_failed``),
    and items the service refused (submitted again by the next run)."""
    uncertain: list[ItemState] = dataclasses.field(default_factory=list)
    pending: int = 0
    """Items not finished because the run was interrupted."""
    interrupted: bool = False
    gallery: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.uncertain and not self.pending

    @property
    def images(self) -> int:
        return len(self.done) + self.already_done

    @property
    def spent(self) -> float:
        """Credits charged for the submissions of this run (1 credit = $0.01)."""
        return sum(s.cost or 0.0 for s in self.submitted)

    def to_dict(self) -> dict[str, Any]:
        def row(state: ItemState) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "index": state.index,
                "item": state.where,
                "prompt": state.prompt,
            }
            if state.line is not None:
                entry["line"] = state.line
            if state.task is not None:
                entry["task_id"] = state.task.id
            if state.file:
                entry["file"] = str(self.directory / state.file)
            if state.error:
                entry["error"] = state.error
            return entry

        return {
            "directory": str(self.directory),
            "manifest": str(self.directory / MANIFEST_NAME),
            "gallery": str(self.gallery) if self.gallery else None,
            "total": self.total,
            "images": self.images,
            "generated": len(self.done),
            "already_done": self.already_done,
            "failed": [row(s) for s in self.failed],
            "uncertain": [row(s) for s in self.uncertain],
            "pending": self.pending,
            "interrupted": self.interrupted,
            "submitted": len(self.submitted),
            "cost": self.spent,
        }
