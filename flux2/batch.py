"""Resumable batches: many generations into one directory, safe to interrupt and run again.

    >>> from flux2.batch import read_items, run_batch
    >>> summary = run_batch(read_items("prompts.txt"), "out/", concurrency=8)
    >>> summary.ok
    True

Every step of every item is appended to ``DIR/manifest.jsonl`` (one JSON object a line, each
line flushed to disk with ``fsync`` before the step it records goes on):

``submitting``
    written *before* the submission is sent; carries the item's key, position and parameters.
``submitted``
    the task as the service answered it (``id``, ``polling_url``, ``cost``...), written before
    anything waits on it.
``done``
    the image file written, with the seed and the cost.
``failed``
    waiting or downloading failed; ``final`` when the task itself ended badly (moderated,
    failed, unknown to the service, result expired), so running again cannot help.
``rejected``
    the service refused the submission with an error answer, or it was never sent: no task
    was created, so running again submits it again.
``uncertain``
    the submission may have reached the service but its answer was lost.

Running the same batch again reads the manifest first: finished items are skipped, submitted
ones are polled and downloaded again from their ``polling_url``, and nothing that was submitted
is ever submitted again. An item whose last record is ``submitting`` (the process died while
the submission was in flight) or ``uncertain`` may have created, and been billed for, a task
whose id never arrived: it is reported, not resubmitted, unless ``resubmit_uncertain=True``.

Items are matched to manifest records by a key: a hash of the item's parameters plus its
occurrence number among identical items, so adding, removing or reordering lines of the input
does not resubmit anything, and editing a line (a new seed, say) makes it a new item.

``write_gallery(directory)`` writes ``DIR/index.html``: every image with its prompt, model,
seed and cost, and every failure with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import html
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar
from urllib.parse import quote

from .errors import (
    APIConnectionError,
    APIError,
    Flux2Error,
    InputError,
    ResultExpiredError,
    SubmissionUncertainError,
    TaskError,
    TaskTimeoutError,
)
from .types import Task

if TYPE_CHECKING:
    from ._async_client import AsyncClient

__all__ = [
    "GALLERY_NAME",
    "MANIFEST_NAME",
    "BatchEvent",
    "BatchInterrupted",
    "BatchItem",
    "BatchSummary",
    "ItemState",
    "Manifest",
    "arun_batch",
    "format_credits",
    "make_items",
    "read_items",
    "run_batch",
    "validate_items",
    "write_gallery",
]

MANIFEST_NAME: Final = "manifest.jsonl"
GALLERY_NAME: Final = "index.html"
DEFAULT_CONCURRENCY: Final = 8

Phase = Literal["new", "submitting", "submitted", "done", "failed", "rejected", "uncertain"]
EventKind = Literal["planned", "submitted", "done", "failed", "rejected", "uncertain", "skipped"]

T = TypeVar("T")


# -- items ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One generation of a batch: ``params`` are :meth:`flux2.Client.generate` keywords
    (``prompt`` included). ``index`` is its position in the batch, ``line`` its line in the
    input file (when it came from one)."""

    index: int
    params: Mapping[str, Any]
    line: int | None = None
    key: str = ""

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt", ""))

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"item {self.index}"


def _digest_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _describe_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return f"<{type(value).__name__}>"


def params_digest(params: Mapping[str, Any]) -> str:
    """A short stable hash of an item's parameters (key order does not matter)."""
    canonical = json.dumps(
        dict(params), sort_keys=True, separators=(",", ":"), default=_digest_default
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def make_items(
    entries: Iterable[str | Mapping[str, Any]],
    defaults: Mapping[str, Any] | None = None,
    *,
    lines: Sequence[int | None] | None = None,
) -> list[BatchItem]:
    """Items from prompts or dicts of generate() keywords; ``defaults`` apply to every item
    (a dict's own keys win). Keys are assigned here (see the module docstring)."""
    base = {k: v for k, v in (defaults or {}).items() if v is not None}
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            params: dict[str, Any] = {**base, "prompt": entry}
        elif isinstance(entry, Mapping):
            params = {**base, **{k: v for k, v in entry.items() if v is not None}}
        else:
            raise InputError(
                f"a batch item must be a prompt or a dict of generate() keywords, got "
                f"{type(entry).__name__}",
                param="items",
            )
        line = lines[index] if lines is not None else None
        where = f"line {line}" if line is not None else f"item {index}"
        if not isinstance(params.get("prompt"), str) or not params["prompt"].strip():
            raise InputError(f"{where}: a batch item needs a non-empty 'prompt'", param="prompt")
        digest = params_digest(params)
        occurrence = seen.get(digest, 0)
        seen[digest] = occurrence + 1
        items.append(BatchItem(index, params, line, f"{digest}-{occurrence}"))
    return items


def read_items(
    path: str | os.PathLike[str], defaults: Mapping[str, Any] | None = None
) -> list[BatchItem]:
    """Read a batch file: one prompt a line, or one JSON object a line (JSONL) with
    generate() keywords (``{"prompt": "...", "model": "klein-4b", "seed": 7}``); both kinds
    may be mixed. Blank lines and lines starting with ``#`` are skipped. Raises
    :class:`flux2.InputError` naming the file and line of anything unreadable."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file", param="file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, not a batch file", param="file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason})", param="file") from None
    entries: list[str | Mapping[str, Any]] = []
    lines: list[int | None] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("{"):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{source}:{number}: invalid JSON ({exc.msg} at column {exc.colno})",
                    param="file",
                ) from None
            if not isinstance(value, dict):
                raise InputError(f"{source}:{number}: expected a JSON object", param="file")
            entries.append(value)
        else:
            entries.append(stripped)
        lines.append(number)
    if not entries:
        raise InputError(f"{source}: no prompts in the file", param="file")
    try:
        return make_items(entries, defaults, lines=lines)
    except InputError as exc:
        raise InputError(f"{source}: {exc}", param=exc.param) from None


def validate_items(items: Iterable[BatchItem]) -> None:
    """Check every item against the pinned spec (and read its input images) before anything is
    sent; raise :class:`flux2.InputError` naming the first bad item."""
    from .decisions import build_request

    for item in items:
        params = dict(item.params)
        prompt = params.pop("prompt")
        try:
            build_request(prompt, **params)
        except InputError as exc:
            raise InputError(f"{item.where}: {exc}", param=exc.param) from None
        except TypeError as exc:
            raise InputError(f"{item.where}: {exc}", param=None) from None


# -- the manifest ---------------------------------------------------------------------------


@dataclasses.dataclass
class ItemState:
    """What the manifest says about one item key."""

    key: str
    index: int
    phase: Phase = "new"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: Task | None = None
    file: str | None = None
    seed: int | None = None
    cost: float | None = None
    model: str | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt", ""))


class Manifest:
    """``DIR/manifest.jsonl``: append-only, one record a line, each fsync'd when written."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / MANIFEST_NAME
        self._fd: int | None = None
        self._needs_newline = False

    def read(self) -> list[dict[str, Any]]:
        """Every readable record, in order. A last line cut short by a crash is ignored."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        self._needs_newline = bool(data) and not data.endswith(b"\n")
        records = []
        for raw in data.splitlines():
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                records.append(record)
        return records

    def states(self) -> dict[str, ItemState]:
        """The state of every key the manifest mentions."""
        states: dict[str, ItemState] = {}
        for record in self.read():
            key = record["key"]
            index = record.get("index")
            state = states.get(key)
            if state is None:
                state = states[key] = ItemState(key, index if isinstance(index, int) else -1)
            _apply(state, record)
        return states

    def append(self, event: str, key: str, index: int, **fields: Any) -> None:
        """Write one record and flush it to disk before returning."""
        record = {"event": event, "key": key, "index": index, "time": round(time.time(), 3)}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, ensure_ascii=False, default=_describe_default) + "\n"
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                _fsync_directory(self.directory)
        if self._needs_newline:
            line = "\n" + line
            self._needs_newline = False
        os.write(self._fd, line.encode())
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _fsync_directory(directory: Path) -> None:
    # Makes the new manifest's directory entry durable too (not possible on every platform).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _apply(state: ItemState, record: Mapping[str, Any]) -> None:
    event = record.get("event")
    if isinstance(record.get("index"), int):
        state.index = record["index"]
    if event == "submitting":
        params = record.get("params")
        if isinstance(params, dict):
            state.params = params
        if state.phase in ("new", "rejected"):
            state.phase = "submitting"
    elif event == "submitted":
        with contextlib.suppress(InputError, TypeError):
            state.task = Task.from_dict(record.get("task") or {})
        if state.task is not None:
            state.phase = "submitted"
            state.model = state.task.model
            state.cost = state.task.cost
    elif event == "done":
        state.phase = "done"
        state.file = record.get("file")
        state.seed = record.get("seed")
        state.error = state.error_type = None
    elif event == "failed":
        state.error = record.get("error")
        state.error_type = record.get("error_type")
        if record.get("final"):
            state.phase = "failed"
    elif event in ("rejected", "uncertain"):
        state.phase = event
        state.error = record.get("error")
        state.error_type = record.get("error_type")


# -- running --------------------------------------------------------------------------------


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
            entry: dict[str, Any] = {"index": state.index, "prompt": state.prompt}
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


LOCK_NAME: Final = ".flux2-batch.lock"


class _DirectoryLock:
    """One batch run per directory at a time: two runs of the same batch would both submit
    the items neither had recorded yet, and pay for them twice. Held with an OS file lock, so
    a run that dies (even killed) releases it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> _DirectoryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_file(fd)
        except OSError:
            os.close(fd)
            raise InputError(
                f"another flux2 batch is running into {self.path.parent}; wait for it to end "
                "(two runs at once could submit, and pay for, the same prompts twice)",
                param="directory",
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def _lock_file(fd: int) -> None:
    """Lock ``fd`` exclusively without waiting; OSError when someone else holds it."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class _Stopped(Exception):
    """The run was asked to stop while this item waited."""


async def _unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T:
    work = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await work
    raise _Stopped


def _remove_partial_downloads(out: Path, states: Iterable[ItemState]) -> None:
    """Delete what an earlier run, killed while downloading, left of its images (downloads are
    written to ``.<task id>.<random>.part`` beside the target and renamed when complete)."""
    for state in states:
        if state.task is None or state.phase == "done":
            continue
        for leftover in out.glob(f".{state.task.id}.*.part"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _is_final(exc: BaseException) -> bool:
    """Whether waiting again could not help: the task itself ended without an image."""
    if isinstance(exc, TaskTimeoutError):
        return False
    return isinstance(exc, TaskError | ResultExpiredError)


async def arun_batch(
    client: AsyncClient,
    items: Sequence[BatchItem],
    directory: str | os.PathLike[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Callable[[BatchEvent], object] | None = None,
    stop: asyncio.Event | None = None,
    resubmit_uncertain: bool = False,
    timeout: float | None = None,
    gallery: bool = True,
) -> BatchSummary:
    """Run (or resume) a batch into ``directory`` with at most ``concurrency`` tasks in
    flight. Setting ``stop`` stops submitting and waiting; submissions already sent are let
    finish and recorded, so the next run resumes them. See the module docstring."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(
            f"concurrency must be an integer >= 1, got {concurrency!r}", param="concurrency"
        )
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", param="directory")
    with _DirectoryLock(out):
        return await _run_locked(
            client,
            items,
            out,
            concurrency=concurrency,
            on_event=on_event,
            stop=stop or asyncio.Event(),
            resubmit_uncertain=resubmit_uncertain,
            timeout=timeout,
            gallery=gallery,
        )


async def _run_locked(
    client: AsyncClient,
    items: Sequence[BatchItem],
    out: Path,
    *,
    concurrency: int,
    on_event: Callable[[BatchEvent], object] | None,
    stop: asyncio.Event,
    resubmit_uncertain: bool,
    timeout: float | None,
    gallery: bool,
) -> BatchSummary:
    manifest = Manifest(out)
    known = manifest.states()
    summary = BatchSummary(out, total=len(items))
    emit = on_event or (lambda event: None)
    states: dict[str, ItemState] = {}
    todo: list[BatchItem] = []
    for item in items:
        state = known.get(item.key) or ItemState(item.key, item.index, params=dict(item.params))
        state.index = item.index
        state.params = state.params or dict(item.params)
        states[item.key] = state
        if state.phase == "done" and state.file and (out / state.file).is_file():
            summary.already_done += 1
        else:
            todo.append(item)
    _remove_partial_downloads(out, known.values())
    emit(BatchEvent("planned", total=len(items), skipped=summary.already_done))

    limit = asyncio.Semaphore(concurrency)

    async def one(item: BatchItem) -> None:
        state = states[item.key]
        if state.phase == "failed":
            summary.failed.append(state)
            emit(BatchEvent("skipped", item, state))
            return
        if state.phase in ("submitting", "uncertain") and not resubmit_uncertain:
            state.phase = "uncertain"
            state.error = state.error or (
                "the submission was in flight when an earlier run stopped; it may have been "
                "created and billed, so it is not sent again"
            )
            summary.uncertain.append(state)
            emit(BatchEvent("skipped", item, state))
            return
        async with limit:
            if stop.is_set():
                summary.pending += 1
                return
            if state.task is None:
                if await _submit(item, state) is None:
                    return
                emit(BatchEvent("submitted", item, state))
            await _finish(item, state)

    async def _submit(item: BatchItem, state: ItemState) -> Task | None:
        params = dict(item.params)
        manifest.append("submitting", item.key, item.index, line=item.line, params=params)
        state.phase = "submitting"
        prompt = params.pop("prompt")
        try:
            # Not raced against ``stop``: a submission in flight is let finish and recorded.
            task = await client.submit(prompt, **params)
        except SubmissionUncertainError as exc:
            _record_problem(item, state, "uncertain", exc)
            summary.uncertain.append(state)
            return None
        except (InputError, APIError, APIConnectionError) as exc:
            # The service answered with an error, or the request provably never left: no task.
            _record_problem(item, state, "rejected", exc)
            summary.failed.append(state)
            return None
        manifest.append("submitted", item.key, item.index, task=task.to_dict())
        state.phase, state.task, state.model, state.cost = "submitted", task, task.model, task.cost
        summary.submitted.append(state)
        return task

    async def _finish(item: BatchItem, state: ItemState) -> None:
        assert state.task is not None
        try:
            image = await _unless_stopped(client.wait(state.task, timeout=timeout), stop)
            path = await _unless_stopped(image.asave(out), stop)
        except _Stopped:
            summary.pending += 1
            return
        except Flux2Error as exc:
            final = _is_final(exc)
            manifest.append(
                "failed",
                item.key,
                item.index,
                task_id=state.task.id,
                error=_describe(exc),
                error_type=type(exc).__name__,
                final=final,
            )
            state.error, state.error_type = _describe(exc), type(exc).__name__
            if final:
                state.phase = "failed"
            summary.failed.append(state)
            emit(BatchEvent("failed", item, state))
            return
        state.phase, state.file, state.seed = "done", path.name, image.seed
        state.error = state.error_type = None
        manifest.append(
            "done",
            item.key,
            item.index,
            task_id=state.task.id,
            file=path.name,
            seed=image.seed,
            model=state.model,
            cost=state.cost,
        )
        summary.done.append(state)
        emit(BatchEvent("done", item, state))

    def _record_problem(
        item: BatchItem,
        state: ItemState,
        kind: Literal["rejected", "uncertain"],
        exc: BaseException,
    ) -> None:
        state.phase = kind
        state.error, state.error_type = _describe(exc), type(exc).__name__
        manifest.append(kind, item.key, item.index, error=state.error, error_type=state.error_type)
        emit(BatchEvent(kind, item, state))

    try:
        await asyncio.gather(*(one(item) for item in todo))
    finally:
        manifest.close()
        summary.interrupted = stop.is_set()
        if gallery:
            summary.gallery = write_gallery(out)
    return summary


def run_batch(
    items: Sequence[BatchItem],
    directory: str | os.PathLike[str],
    *,
    client: AsyncClient | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Callable[[BatchEvent], object] | None = None,
    resubmit_uncertain: bool = False,
    timeout: float | None = None,
    gallery: bool = True,
    **client_options: Any,
) -> BatchSummary:
    """Blocking :func:`arun_batch`. Without ``client``, an :class:`flux2.AsyncClient` is made
    from ``client_options`` (``api_key``, ``base_url``...) and closed at the end.

    The first Ctrl-C stops the batch gracefully (submissions in flight are let finish and
    recorded; nothing more is sent), writes the gallery, then raises ``KeyboardInterrupt``; run
    the same batch again to resume it. A second Ctrl-C stops at once.
    """

    async def main(stop: asyncio.Event) -> BatchSummary:
        from ._async_client import AsyncClient

        owned = client is None
        active = client or AsyncClient(**client_options)
        try:
            return await arun_batch(
                active,
                items,
                directory,
                concurrency=concurrency,
                on_event=on_event,
                stop=stop,
                resubmit_uncertain=resubmit_uncertain,
                timeout=timeout,
                gallery=gallery,
            )
        finally:
            if owned:
                await active.close()

    summary = _run_interruptible(main)
    if summary.interrupted:
        raise BatchInterrupted(summary)
    return summary


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch; ``summary`` says how far it got. Run it again to resume."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__("batch interrupted; run it again to resume")
        self.summary = summary


def _run_interruptible(main: Callable[[asyncio.Event], Awaitable[BatchSummary]]) -> BatchSummary:
    async def runner() -> BatchSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        presses = 0

        def on_sigint(signum: int, frame: object) -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                loop.call_soon_threadsafe(stop.set)
            elif current is not None:
                loop.call_soon_threadsafe(current.cancel)

        previous: Any = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return await main(stop)
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    return asyncio.run(runner())


# -- the gallery ----------------------------------------------------------------------------

_GALLERY_STYLE: Final = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.summary { margin: 0 0 20px; color: #555; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px;
         overflow: hidden; }
figure img { display: block; width: 100%; height: auto; background: #eee; }
figcaption { padding: 8px 10px; }
.prompt { margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { margin: 0; color: #666; font-size: 13px; }
.problem { padding: 16px 10px; background: #fff3f3; color: #a00; font-size: 13px;
           overflow-wrap: anywhere; }
"""


def format_credits(credits: float) -> str:
    """``"10 credits ($0.10)"``; 1 credit is $0.01 [doc]."""
    whole, _, cents = f"{credits / 100:.4f}".rstrip("0").partition(".")
    return f"{credits:g} credits (${whole}.{cents.ljust(2, '0')})"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _figure(state: ItemState) -> str:
    prompt = f'<p class="prompt">{_e(state.prompt)}</p>'
    meta = [f"#{state.index + 1}"]
    model = state.model or state.params.get("model")
    if model:
        meta.append(f"model {_e(model)}")
    if state.seed is not None:
        meta.append(f"seed {_e(state.seed)}")
    if state.cost is not None:
        meta.append(f"cost {_e(f'{state.cost:g}')} credits")
    if state.task is not None:
        meta.append(f"task {_e(state.task.id)}")
    caption = f'<figcaption>{prompt}<p class="meta">{" · ".join(meta)}</p></figcaption>'
    if state.phase == "done" and state.file:
        image = (
            f'<a href="{_e(quote(state.file))}"><img src="{_e(quote(state.file))}" '
            f'alt="{_e(state.prompt)}" loading="lazy"></a>'
        )
    else:
        reason = state.error or state.phase
        image = f'<div class="problem">{_e(state.phase)}: {_e(reason)}</div>'
    return f"<figure>{image}{caption}</figure>"


def write_gallery(directory: str | os.PathLike[str]) -> Path:
    """Write ``DIR/index.html`` from ``DIR/manifest.jsonl``: each image with its prompt, model,
    seed and cost, each failure with its reason, in batch order. Returns the page's path."""
    out = Path(directory)
    states = sorted(Manifest(out).states().values(), key=lambda s: s.index)
    shown = [
        s
        for s in states
        if (s.phase == "done" and s.file and (out / s.file).is_file())
        or s.phase in ("failed", "rejected", "uncertain")
        or s.error
    ]
    images = sum(1 for s in shown if s.phase == "done")
    problems = len(shown) - images
    cost = sum(s.cost or 0.0 for s in states if s.task is not None)
    summary = f"{images} image{'s' if images != 1 else ''}"
    if problems:
        summary += f", {problems} without an image"
    summary += f"; {format_credits(cost)}"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(out.resolve().name or 'flux2')} · flux2 batch</title>",
            f"<style>{_GALLERY_STYLE}</style></head>",
            "<body>",
            f"<h1>{_e(out.resolve().name or 'flux2')}</h1>",
            f'<p class="summary">{_e(summary)}</p>',
            "<main>",
            *(_figure(s) for s in shown),
            "</main>",
            "</body></html>",
            "",
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / GALLERY_NAME
    temporary = out / f".{GALLERY_NAME}.tmp"
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, target)
    return target
