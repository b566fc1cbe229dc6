"""The batch's directory: one run in it at a time, and the names of the files written there.

Image files are named after their task id, which the service chose: it goes through
:func:`flux2._paths.safe_file_name`, and every path is checked with
:func:`flux2._paths.path_inside`, so no answer can make a batch write (or delete) outside
``DIR``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from flux2._paths import path_inside, safe_file_name
from flux2.errors import InputError

from .manifest import ItemState

if TYPE_CHECKING:
    from flux2.types import GeneratedImage

__all__ = ["LOCK_NAME", "DirectoryLock", "remove_leftovers", "save_image"]

LOCK_NAME: Final = ".flux2-batch.lock"


class DirectoryLock:
    """One batch run per directory at a time: two runs of the same batch would both submit
    the items neither had recorded yet, and pay for them twice. Held with an OS file lock, so
    a run that dies (even killed) releases it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
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


def _staging_name(task_id: str) -> str:
    # Without a dot, so the name has no extension a download could contradict; the real one
    # is known once the image's first bytes are.
    return safe_file_name(task_id).replace(".", "_")


async def save_image(image: GeneratedImage, out: Path) -> Path:
    """Stream ``image`` into ``out`` as ``<safe task id><extension of its real format>``.

    The download goes to ``.<staging>.<random>.part`` beside the target, becomes
    ``<staging>`` when complete, and is renamed once its format is known."""
    from flux2.inputs import sniff_image_format

    staging = await image.asave(path_inside(out, _staging_name(image.task_id)))
    with staging.open("rb") as file:
        found = sniff_image_format(file.read(64))
    extension = found[1] if found is not None else ""
    final = path_inside(out, safe_file_name(image.task_id) + extension)
    os.replace(staging, final)
    return final


def remove_leftovers(out: Path, states: Iterable[ItemState]) -> None:
    """Delete what an earlier run, killed while downloading, left of the images it had not
    finished: ``.part`` files and staged downloads not yet renamed."""
    for state in states:
        if state.task is None or state.phase == "done":
            continue
        staging = _staging_name(state.task.id)
        leftovers = [*out.glob(f".{staging}.*.part"), out / staging]
        for leftover in leftovers:
            with contextlib.suppress(OSError, InputError):
                path_inside(out, leftover.name).unlink()
