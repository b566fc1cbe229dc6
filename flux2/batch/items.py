"""Batch items: the one normaliser of an item, the keys that match items to the manifest, and
reading a batch file.

:func:`normalise_item` is used by the batch and by ``Client.generate_many`` /
``AsyncClient.generate_many`` alike, so an item means the same thing everywhere: a prompt, or a
dict of ``generate()`` keywords; ``defaults`` apply unless the item sets the key; ``None`` means
"not given" (the default applies); the prompt is a non-empty string.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flux2.decisions.requests import normalise_item
from flux2.errors import InputError

__all__ = [
    "BatchItem",
    "item_label",
    "make_items",
    "normalise_item",
    "params_digest",
    "read_items",
    "validate_items",
]


def item_label(index: int, line: int | None) -> str:
    """How an item is named in messages, progress lines, summaries and the gallery: its line
    in the input file when it came from one, else its position counted from 1."""
    return f"line {line}" if line is not None else f"item {index + 1}"


class Labelled:
    """The ``prompt`` and the label (:func:`item_label`) of an item or of its state."""

    index: int
    line: int | None
    params: Mapping[str, Any]

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt", ""))

    @property
    def where(self) -> str:
        return item_label(self.index, self.line)


@dataclasses.dataclass(frozen=True)
class BatchItem(Labelled):
    """One generation of a batch: ``params`` are :meth:`flux2.Client.generate` keywords
    (``prompt`` included). ``index`` is its position in the batch, ``line`` its line in the
    input file (when it came from one), ``key`` what matches it to its manifest records."""

    index: int
    params: Mapping[str, Any]
    line: int | None = None
    key: str = ""


def _digest_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def params_digest(params: Mapping[str, Any]) -> str:
    """A short stable hash of an item's parameters (key order does not matter)."""
    canonical = json.dumps(
        dict(params), sort_keys=True, separators=(",", ":"), default=_digest_default
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def make_items(
    entries: Iterable[object],
    defaults: Mapping[str, Any] | None = None,
    *,
    lines: Sequence[int | None] | None = None,
) -> list[BatchItem]:
    """Items from prompts or dicts of generate() keywords (see :func:`normalise_item`).

    An item's key is a hash of its parameters plus its occurrence number among identical
    items: adding, removing or reordering items does not change the others' keys, and editing
    one (a new seed, say) makes it a new item."""
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        line = lines[index] if lines is not None else None
        params = normalise_item(entry, defaults, where=item_label(index, line))
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
    entries: list[object] = []
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
    from flux2.decisions import build_request

    for item in items:
        params = dict(item.params)
        prompt = params.pop("prompt")
        try:
            build_request(prompt, **params)
        except InputError as exc:
            raise InputError(f"{item.where}: {exc}", param=exc.param) from None
        except TypeError as exc:
            raise InputError(f"{item.where}: {exc}", param=None) from None
