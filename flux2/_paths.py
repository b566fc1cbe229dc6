"""File names from names the service chose, and paths that stay where the user said.

A task id, a model name or anything else read from an answer is untrusted text: it may hold
``/``, ``..``, NUL, control characters, a drive letter or thousands of characters. Before such
text becomes part of a path it goes through :func:`safe_file_name`, and the joined path is
checked with :func:`path_inside` to lie inside the directory the user gave.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from .errors import InputError

__all__ = ["MAX_NAME_CHARS", "path_inside", "safe_file_name"]

# Long enough for any real task id (a UUID is 36 characters), short enough that a stem plus
# an extension and a ``.part`` suffix stay under the 255 bytes most file systems allow.
MAX_NAME_CHARS = 96

# What may stand in a file name on every common file system: letters, digits, ``-``, ``_`` and
# ``.``; everything else becomes ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Windows refuses these names whatever their extension.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def safe_file_name(text: str, *, fallback: str = "image") -> str:
    """``text`` as one file name component that cannot leave its directory.

    Separators, ``..``, control characters and other unsafe characters are replaced; a name
    that had to change, or that is too long, keeps a short digest of the original so that two
    different ids never map to the same file. The result never starts with ``.`` (no hidden
    files, no ``..``) and is never empty.
    """
    original = text if isinstance(text, str) else str(text)
    normal = unicodedata.normalize("NFKC", original)
    cleaned = _UNSAFE.sub("_", normal).strip("._") or fallback
    changed = cleaned != original
    if cleaned.split(".", 1)[0].lower() in _RESERVED:
        cleaned = f"_{cleaned}"
        changed = True
    if len(cleaned) > MAX_NAME_CHARS:
        changed = True
    if not changed:
        return cleaned
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: MAX_NAME_CHARS - 9].rstrip('._') or fallback}-{digest}"


def path_inside(directory: str | os.PathLike[str], name: str) -> Path:
    """``directory / name``, refused unless it lies inside ``directory`` once resolved.

    ``name`` should already be a :func:`safe_file_name`; this is the second check, which also
    catches a symlink inside the directory that points out of it.
    """
    base = Path(directory)
    target = base / name
    root = base.resolve()
    resolved = target.resolve()
    if resolved == root or root not in resolved.parents:
        raise InputError(
            f"refusing to write {name!r}: the path would leave the directory {str(base)!r}",
            param="path",
        )
    return target
