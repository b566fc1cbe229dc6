"""``DIR/manifest.jsonl``: every step of every item, one JSON object a line, each line flushed
to disk with ``fsync`` before the step it records goes on.

``submitting``
    written *before* the submission is sent; carries the item's key, position, line and
    parameters (secrets replaced by ``***``).
``submitted``
    the task as the service answered it (``id``, ``polling_url``, ``cost``...), written before
    anything waits on it.
``done``
    the image file written, with the seed and the cost.
``failed``
    waiting or downloading failed; ``final`` when the task itself ended badly (moderated,
    failed, unknown to the service, result expired), so waiting again cannot help.
``rejected``
    the service refused the submission (a 4xx answer), or it was never sent: no task exists.
``uncertain``
    the submission may have reached the service but no readable answer came back.

Replaying the records gives each key's :class:`ItemState`; what a run then does with each
phase is decided in :mod:`flux2.batch.resend`. Nothing written here holds a webhook secret or
a URL signature: parameters named like secrets, query values of URLs that grant access and any
value passed as a secret are replaced by ``***`` before a line is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

from flux2._logging import REDACTED, redact_known, redact_url
from flux2.errors import InputError
from flux2.types import Task

from .items import Labelled

__all__ = [
    "MANIFEST_NAME",
    "ItemState",
    "Manifest",
    "Phase",
    "scrub_signatures",
    "secret_values",
]

MANIFEST_NAME: Final = "manifest.jsonl"

Phase = Literal["new", "submitting", "submitted", "done", "failed", "rejected", "uncertain"]

# Request fields whose values are credentials (``webhook_secret``); matched by name so that a
# field added by a newer spec is covered too.
_SECRET_FIELD: Final = re.compile(r"(?i)secret|password|token|(^|_)key$")
_URL: Final = re.compile(r"https?://[^\s\"'<>]+")
# A signature quoted outside a full URL (``...&sig=abc``) in an error message.
_LOOSE_SIGNATURE: Final = re.compile(r"(?i)\b(sig|signature)=[^&\s\"'<>]+")


@dataclasses.dataclass
class ItemState(Labelled):
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
    line: int | None = None
    pending: bool = False
    """The last ``submitting`` record has no answer (``submitted`` or ``rejected``) after it."""
    lost: bool = False
    """An earlier ``submitting`` record was followed by another one before any answer."""

    @property
    def unanswered(self) -> bool:
        """Whether a submission may have created (and billed) a task nobody knows the id of,
        whatever else the records say."""
        return self.pending or self.lost


class Manifest:
    """``DIR/manifest.jsonl``: append-only, one record a line, each fsync'd when written.

    ``secrets``: strings that must never be written (they are replaced wherever they appear).
    """

    def __init__(self, directory: str | os.PathLike[str], *, secrets: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        self.path = self.directory / MANIFEST_NAME
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
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
        """Write one record (secrets removed) and flush it to disk before returning."""
        record = {"event": event, "key": key, "index": index, "time": round(time.time(), 3)}
        record.update({k: self._clean(k, v) for k, v in fields.items() if v is not None})
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

    def _clean(self, name: str, value: Any) -> Any:
        if isinstance(value, str):
            return REDACTED if _SECRET_FIELD.search(name) else self.scrub(value)
        if isinstance(value, Mapping):
            return {str(k): self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(name, v) for v in value]
        return value

    def scrub(self, text: str) -> str:
        """``text`` without this manifest's secrets, the secrets known to the process (the API
        key, webhook secrets) and URL signatures."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return scrub_signatures(text)


def secret_values(params: Iterable[Mapping[str, Any]]) -> list[str]:
    """The values of the fields named like secrets (``webhook_secret``) in ``params``."""
    return [
        value
        for fields in params
        for name, value in fields.items()
        if isinstance(value, str) and _SECRET_FIELD.search(name)
    ]


def scrub_signatures(text: str) -> str:
    """``text`` with the secrets known to the process (the API key, webhook secrets) and the
    access-granting query values of URLs (``sig=``...) replaced."""
    text = _URL.sub(_redact_url_match, redact_known(text))
    return _LOOSE_SIGNATURE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def _redact_url_match(match: re.Match[str]) -> str:
    url = match.group(0)
    redacted = redact_url(url)
    # A URL without secret query values is kept exactly as it was (a polling URL is read back).
    return url if "***" not in redacted else redacted


def _describe_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return f"<{type(value).__name__}>"


def _fsync_directory(directory: Path) -> None:
    # Makes the new manifest's directory entry durable too (not possible on every platform).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain_name(value: object) -> str | None:
    # A file name the manifest names must be one name inside DIR (the manifest is a file
    # anyone can edit, and the gallery links to it).
    if isinstance(value, str) and value and Path(value).name == value and value not in {".", ".."}:
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _task(value: object) -> Task | None:
    try:
        return Task.from_dict(value)  # type: ignore[arg-type]  # checked there
    except InputError:
        return None


def _apply(state: ItemState, record: Mapping[str, Any]) -> None:
    """Apply one record to ``state``. The manifest is a file anyone can edit: a record that
    cannot be read (a task that is no task, a file name that is no plain name) changes
    nothing, so the item is handled as if the record were absent, and a field of the wrong
    type counts as missing."""
    event = record.get("event")
    task = _task(record.get("task")) if event == "submitted" else None
    file = _plain_name(record.get("file")) if event == "done" else None
    if (event == "submitted" and task is None) or (event == "done" and file is None):
        return
    if _whole(record.get("index")) is not None:
        state.index = record["index"]
    if _whole(record.get("line")) is not None:
        state.line = record["line"]
    if event == "submitting":
        params = record.get("params")
        if isinstance(params, dict):
            state.params = params
        state.lost = state.lost or state.pending
        state.pending = True
        if state.phase in ("new", "rejected", "failed"):
            # A new submission: until its answer is recorded, it may or may not exist.
            state.phase = "submitting"
            state.task = None
            state.error = state.error_type = None
    elif event == "submitted" and task is not None:
        state.pending = False
        state.task = task
        state.phase = "submitted"
        state.model = task.model
        state.cost = task.cost
    elif event == "done":
        state.phase = "done"
        state.file = file
        state.seed = _whole(record.get("seed"))
        state.error = state.error_type = None
    elif event == "failed":
        state.error = _text(record.get("error"))
        state.error_type = _text(record.get("error_type"))
        if record.get("final") is True:
            state.phase = "failed"
    elif event in ("rejected", "uncertain"):
        state.phase = event
        state.error = _text(record.get("error"))
        state.error_type = _text(record.get("error_type"))
        if event == "rejected":
            state.pending = False
