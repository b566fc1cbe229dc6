"""Live status on a terminal: ``rich`` progress bars when it is installed (extra ``cli``), a
plain one-line status otherwise, and only short log lines when stderr is not a terminal.

Everything here writes to stderr, so stdout carries only results (and ``--json`` output).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TextIO

from ._exit import printable

if TYPE_CHECKING:
    from flux2 import TaskResult
    from flux2.batch import BatchEvent


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Live:
    """A rich progress display on stderr while the block runs, when stderr is a terminal and
    rich is installed; ``_plain_*`` otherwise."""

    def __init__(self, *, live: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = live and is_terminal(self.stream)
        self._progress: Any = None
        self._row: Any = None
        self._plain_width = 0

    def _first_row(self) -> tuple[str, float | None]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self.live:
            return self
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:
            return self
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._progress.start()
        description, total = self._first_row()
        self._row = self._progress.add_task(description, total=total, count="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self._plain_width:
            self.stream.write("\r" + " " * self._plain_width + "\r")
            self.stream.flush()
            self._plain_width = 0

    def _update(self, **changes: Any) -> None:
        self._progress.update(self._row, **changes)

    def _plain_status(self, line: str) -> None:
        """Rewrite the one status line of a terminal without rich."""
        line = printable(line)
        padding = max(0, self._plain_width - len(line))
        self._plain_width = len(line)
        self.stream.write("\r" + line + " " * padding)
        self.stream.flush()

    def _log(self, text: str) -> None:
        """A line that stays, printed above the live display."""
        text = printable(text)
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
            return
        if self._plain_width:
            self.stream.write("\r" + " " * self._plain_width + "\r")
            self._plain_width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


class TaskStatus(_Live):
    """Shows one task's status and progress while it is waited for."""

    def __init__(self, label: str, *, live: bool, stream: TextIO | None = None) -> None:
        super().__init__(live=live, stream=stream)
        self.label = label
        self._started = time.monotonic()

    def _first_row(self) -> tuple[str, float | None]:
        return f"{self.label}: submitting", 1.0

    def submitted(self, task_id: str, cost: float | None) -> None:
        text = f"{self.label}: task {task_id} submitted"
        if cost is not None:
            text += f" ({cost:g} credits)"
        self._show(text, None)

    def __call__(self, result: TaskResult) -> None:
        """``on_progress`` callback: one poll's reading."""
        self._show(f"{self.label}: {result.status}", result.progress)

    def _show(self, text: str, progress: float | None) -> None:
        if not self.live:
            return
        if progress is not None:
            progress = max(0.0, min(1.0, progress))  # a service's odd reading stays in 0..100%
        if self._progress is not None:
            changes: dict[str, Any] = {"description": text}
            if progress is not None:
                changes["completed"] = progress
            self._update(**changes)
            return
        line = text if progress is None else f"{text} {progress:.0%}"
        self._plain_status(f"{line}  {time.monotonic() - self._started:.0f}s")


class BatchProgress(_Live):
    """A progress bar over a whole batch (the ``on_event`` callback of :mod:`flux2.batch`).

    Off a terminal it logs one line per item that did not produce an image, and per image too
    (a log file then shows how the batch went)."""

    def __init__(self, *, live: bool, stream: TextIO | None = None) -> None:
        super().__init__(live=live, stream=stream)
        self.total = 0
        self.finished = 0
        self.images = 0
        self.failed = 0
        self.in_flight = 0

    def _first_row(self) -> tuple[str, float | None]:
        return "batch", None

    def __call__(self, event: BatchEvent) -> None:
        if event.kind == "planned":
            self.total = event.total
            self.finished = self.images = event.skipped
            if event.skipped:
                self._log(f"{event.skipped} of {event.total} already done; resuming the rest")
        elif event.kind == "submitted":
            self.in_flight += 1
        else:
            self.finished += 1
            if event.kind == "done":
                self.images += 1
            else:
                self.failed += 1
            if event.kind in ("done", "failed"):
                self.in_flight = max(0, self.in_flight - 1)
            self._log_item(event)
        self._refresh()

    def _log_item(self, event: BatchEvent) -> None:
        if self.live and event.kind == "done":
            return  # the bar counts it
        where = event.item.where if event.item is not None else "?"
        state = event.state
        if event.kind == "done" and state is not None:
            text = f"done      {where}: {state.file}"
        elif state is not None:
            text = f"{event.kind:<9} {where}: {state.error or state.phase}"
        else:
            text = f"{event.kind:<9} {where}"
        self._log(f"[{self.finished}/{self.total}] {text}")

    def _refresh(self) -> None:
        if not self.live:
            return
        count = f"{self.finished}/{self.total}"
        description = f"{self.images} images"
        if self.failed:
            description += f", {self.failed} failed"
        if self.in_flight:
            description += f", {self.in_flight} in flight"
        if self._progress is not None:
            self._update(
                description=description, total=self.total, completed=self.finished, count=count
            )
            return
        self._plain_status(f"[{count}] {description}")
