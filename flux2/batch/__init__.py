"""Resumable batches: many generations into one directory, safe to interrupt and run again.

    >>> from flux2.batch import read_items, run_batch
    >>> summary = run_batch(read_items("prompts.txt"), "out/", concurrency=8)
    >>> summary.ok
    True

Every step of every item is recorded in ``DIR/manifest.jsonl`` before it happens; running the
same batch again reads it first: finished items are skipped, submitted ones are waited for and
downloaded again, and nothing that may have created a task is submitted again unless asked.
``DIR/index.html`` shows every image with its prompt, model, seed and cost, and every item
without an image with its reason.

The package, one job a module:

``items``
    what an item is: :func:`normalise_item` (the one normaliser, also behind
    ``generate_many``), the keys that match items to manifest records, reading a batch file,
    checking every item against the pinned spec before anything is sent.
``manifest``
    the append-only record of every step and its replay into each item's state; secrets and
    URL signatures never reach it.
``resend``
    what a run may send again, and how a failed submission is recorded (rejected or
    uncertain): every money decision of a batch, in one table.
``directory``
    the directory: one run at a time (an OS file lock), safe file names for the images, the
    leftovers of an interrupted download.
``runner``
    :func:`arun_batch` and the blocking :func:`run_batch` (Ctrl-C stops gracefully); the
    default concurrency.
``summary``
    the progress events and the summary of a run.
``gallery``
    ``DIR/index.html``, written from the manifest.
"""

from __future__ import annotations

from .directory import LOCK_NAME
from .gallery import GALLERY_NAME, format_credits, write_gallery
from .items import BatchItem, make_items, normalise_item, params_digest, read_items, validate_items
from .manifest import MANIFEST_NAME, ItemState, Manifest
from .runner import DEFAULT_CONCURRENCY, BatchInterrupted, arun_batch, run_batch
from .summary import BatchEvent, BatchSummary

__all__ = [
    "DEFAULT_CONCURRENCY",
    "GALLERY_NAME",
    "LOCK_NAME",
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
    "normalise_item",
    "params_digest",
    "read_items",
    "run_batch",
    "validate_items",
    "write_gallery",
]
