"""Running a batch: each item planned from the manifest, submitted, waited for and saved, with
at most ``concurrency`` items in flight; Ctrl-C stops it gracefully.

Each item runs on its own: whatever one item raises is recorded as that item's outcome and the
others go on. What may be sent again is decided in :mod:`flux2.batch.resend` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from flux2.errors import InputError

from .directory import DirectoryLock, remove_leftovers, save_image
from .gallery import write_gallery
from .items import BatchItem
from .manifest import ItemState, Manifest, secret_values
from .resend import Action, is_final, next_action, submit_outcome
from .summary import BatchEvent, BatchSummary

if TYPE_CHECKING:
    from flux2._async_client import AsyncClient

__all__ = ["DEFAULT_CONCURRENCY", "BatchInterrupted", "arun_batch", "run_batch"]

# Items in flight at once unless told otherwise: well under the account's 24 tasks [doc], so
# that a batch leaves room for other work on the same account.
DEFAULT_CONCURRENCY: Final = 8

logger = logging.getLogger("flux2")

T = TypeVar("T")

_IN_FLIGHT_BEFORE = (
    "the submission was in flight when an earlier run stopped; it may have been created and "
    "billed, so it is not sent again"
)


async def arun_batch(
    client: AsyncClient,
    items: Sequence[BatchItem],
    directory: str | os.PathLike[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Callable[[BatchEvent], object] | None = None,
    stop: asyncio.Event | None = None,
    resubmit_uncertain: bool = False,
    retry_failed: bool = False,
    timeout: float | None = None,
    gallery: bool = True,
) -> BatchSummary:
    """Run (or resume) a batch into ``directory`` with at most ``concurrency`` tasks in flight
    (never more than the client's ``max_concurrency``: a larger value is lowered, with a
    warning). Setting ``stop`` stops submitting and waiting; submissions already sent are let
    finish and recorded, so the next run resumes them. ``resubmit_uncertain`` and
    ``retry_failed`` send again what :mod:`flux2.batch.resend` otherwise holds back."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(
            f"concurrency must be an integer >= 1, got {concurrency!r}", param="concurrency"
        )
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", param="directory")
    if concurrency > client.max_concurrency:
        logger.warning(
            "concurrency %d is above the limit of %d tasks in flight; running %d at a time "
            "(a higher limit is the client's max_concurrency, the command's --max-in-flight)",
            concurrency,
            client.max_concurrency,
            client.max_concurrency,
        )
        concurrency = client.max_concurrency
    with DirectoryLock(out):
        run = _Run(
            client,
            out,
            Manifest(out, secrets=secret_values(item.params for item in items)),
            BatchSummary(out, total=len(items)),
            limit=asyncio.Semaphore(concurrency),
            stop=stop or asyncio.Event(),
            on_event=on_event,
            timeout=timeout,
        )
        try:
            plan = run.plan(items, resubmit_uncertain=resubmit_uncertain, retry_failed=retry_failed)
            await asyncio.gather(*(run.item(item, state, action) for item, state, action in plan))
        finally:
            run.manifest.close()
            run.summary.interrupted = run.stop.is_set()
            if gallery:
                run.summary.gallery = write_gallery(out)
    return run.summary


class _Stopped(Exception):
    """The run was asked to stop while this item waited."""


class _Run:
    """One run of a batch: the state every item shares."""

    def __init__(
        self,
        client: AsyncClient,
        out: Path,
        manifest: Manifest,
        summary: BatchSummary,
        *,
        limit: asyncio.Semaphore,
        stop: asyncio.Event,
        on_event: Callable[[BatchEvent], object] | None,
        timeout: float | None,
    ) -> None:
        self.client = client
        self.out = out
        self.manifest = manifest
        self.summary = summary
        self.limit = limit
        self.stop = stop
        self.on_event = on_event
        self.timeout = timeout

    def plan(
        self, items: Sequence[BatchItem], *, resubmit_uncertain: bool, retry_failed: bool
    ) -> list[tuple[BatchItem, ItemState, Action]]:
        known = self.manifest.states()
        plan: list[tuple[BatchItem, ItemState, Action]] = []
        for item in items:
            state = known.get(item.key) or ItemState(item.key, item.index)
            state.index, state.line, state.params = item.index, item.line, dict(item.params)
            image_exists = bool(state.file) and (self.out / str(state.file)).is_file()
            action = next_action(
                state,
                image_exists=image_exists,
                resubmit_uncertain=resubmit_uncertain,
                retry_failed=retry_failed,
            )
            if action == "skip-done":
                self.summary.already_done += 1
            else:
                plan.append((item, state, action))
        remove_leftovers(self.out, known.values())
        self.emit(BatchEvent("planned", total=len(items), skipped=self.summary.already_done))
        return plan

    def emit(self, event: BatchEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception as exc:  # a display's bug must not cost an item its image
            logger.warning("on_event raised %s: %s", type(exc).__name__, exc)

    async def item(self, item: BatchItem, state: ItemState, action: Action) -> None:
        try:
            await self._item(item, state, action)
        except Exception as exc:  # one item's failure, whatever it is, never stops the others
            self._failed(item, state, exc, final=False)

    async def _item(self, item: BatchItem, state: ItemState, action: Action) -> None:
        if action == "skip-failed":
            self.summary.failed.append(state)
            self.emit(BatchEvent("skipped", item, state))
            return
        if action == "skip-uncertain":
            if state.phase != "uncertain" or not state.error:
                state.error = _IN_FLIGHT_BEFORE
            state.phase = "uncertain"
            self.summary.uncertain.append(state)
            self.emit(BatchEvent("skipped", item, state))
            return
        async with self.limit:
            if self.stop.is_set():
                self.summary.pending += 1
                return
            if action == "submit":
                if not await self._submit(item, state):
                    return
                self.emit(BatchEvent("submitted", item, state))
            await self._finish(item, state)

    async def _submit(self, item: BatchItem, state: ItemState) -> bool:
        params = dict(item.params)
        self.manifest.append("submitting", item.key, item.index, line=item.line, params=params)
        state.phase, state.task, state.error, state.error_type = "submitting", None, None, None
        prompt = params.pop("prompt")
        try:
            # Not raced against ``stop``: a submission in flight is let finish and recorded.
            task = await self.client.submit(prompt, **params)
        except Exception as exc:
            kind = submit_outcome(exc)
            self._problem(item, state, kind, exc)
            (self.summary.uncertain if kind == "uncertain" else self.summary.failed).append(state)
            return False
        self.manifest.append("submitted", item.key, item.index, task=task.to_dict())
        state.phase, state.task, state.model, state.cost = "submitted", task, task.model, task.cost
        self.summary.submitted.append(state)
        return True

    async def _finish(self, item: BatchItem, state: ItemState) -> None:
        task = state.task
        assert task is not None
        try:
            image = await _unless_stopped(self.client.wait(task, timeout=self.timeout), self.stop)
            path = await _unless_stopped(save_image(image, self.out), self.stop)
        except _Stopped:
            self.summary.pending += 1
            return
        except Exception as exc:
            self._failed(item, state, exc, final=is_final(exc))
            return
        state.phase, state.file, state.seed = "done", path.name, image.seed
        state.error = state.error_type = None
        self.manifest.append(
            "done",
            item.key,
            item.index,
            task_id=task.id,
            file=path.name,
            seed=image.seed,
            model=state.model,
            cost=state.cost,
        )
        self.summary.done.append(state)
        self.emit(BatchEvent("done", item, state))

    def _problem(
        self,
        item: BatchItem,
        state: ItemState,
        kind: Literal["rejected", "uncertain"],
        exc: BaseException,
    ) -> None:
        state.phase = kind
        state.error, state.error_type = self.manifest.scrub(_describe(exc)), type(exc).__name__
        self.manifest.append(
            kind, item.key, item.index, error=state.error, error_type=state.error_type
        )
        self.emit(BatchEvent(kind, item, state))

    def _failed(
        self, item: BatchItem, state: ItemState, exc: BaseException, *, final: bool
    ) -> None:
        state.error, state.error_type = self.manifest.scrub(_describe(exc)), type(exc).__name__
        if final:
            state.phase = "failed"
        with contextlib.suppress(OSError):  # the record is lost, the item is still reported
            self.manifest.append(
                "failed",
                item.key,
                item.index,
                task_id=state.task.id if state.task is not None else None,
                error=state.error,
                error_type=state.error_type,
                final=final,
            )
        self.summary.failed.append(state)
        self.emit(BatchEvent("failed", item, state))


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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


# -- blocking ---------------------------------------------------------------------------------


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch; ``summary`` says how far it got. Run it again to resume."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__("batch interrupted; run it again to resume")
        self.summary = summary


def run_batch(
    items: Sequence[BatchItem],
    directory: str | os.PathLike[str],
    *,
    client: AsyncClient | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Callable[[BatchEvent], object] | None = None,
    resubmit_uncertain: bool = False,
    retry_failed: bool = False,
    timeout: float | None = None,
    gallery: bool = True,
    **client_options: Any,
) -> BatchSummary:
    """Blocking :func:`arun_batch`. Without ``client``, an :class:`flux2.AsyncClient` is made
    from ``client_options`` (``api_key``, ``base_url``, ``max_concurrency``...) and closed at
    the end.

    The first Ctrl-C stops the batch gracefully (submissions in flight are let finish and
    recorded; nothing more is sent), writes the gallery, then raises ``KeyboardInterrupt``; run
    the same batch again to resume it. A second Ctrl-C stops at once.
    """
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "on_event": on_event,
        "resubmit_uncertain": resubmit_uncertain,
        "retry_failed": retry_failed,
        "timeout": timeout,
        "gallery": gallery,
    }
    summary = asyncio.run(_run_blocking(items, directory, client, client_options, options))
    if summary.interrupted:
        raise BatchInterrupted(summary)
    return summary


async def _run_blocking(
    items: Sequence[BatchItem],
    directory: str | os.PathLike[str],
    client: AsyncClient | None,
    client_options: dict[str, Any],
    options: dict[str, Any],
) -> BatchSummary:
    from flux2._async_client import AsyncClient

    stop = asyncio.Event()
    with _sigint_stops(stop):
        active = client or AsyncClient(**client_options)
        try:
            return await arun_batch(active, items, directory, stop=stop, **options)
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
        finally:
            if client is None:
                await active.close()


class _Interrupts:
    """SIGINT handler: the first Ctrl-C sets ``stop``, the second cancels the run."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.loop = asyncio.get_running_loop()
        self.current = asyncio.current_task()
        self.presses = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.presses += 1
        if self.presses == 1:
            self.loop.call_soon_threadsafe(self.stop.set)
        elif self.current is not None:
            self.loop.call_soon_threadsafe(self.current.cancel)


@contextlib.contextmanager
def _sigint_stops(stop: asyncio.Event) -> Iterator[None]:
    # Signal handlers can only be set from the main thread; elsewhere Ctrl-C is not ours.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _Interrupts(stop))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
