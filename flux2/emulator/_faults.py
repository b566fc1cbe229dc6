"""Fault names, their arguments, and the prompt markers that switch them on.

A fault is written ``NAME`` or ``NAME=ARG``: in a prompt as ``[[fault:NAME=ARG]]``, server-wide
as a plain string given to ``Emulator(faults=...)`` or ``Emulator.set_faults(...)``. The
package docstring of :mod:`flux2.emulator` lists every name and what it does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALWAYS",
    "FAULT_NAMES",
    "Fault",
    "FaultError",
    "FaultSet",
    "Markers",
    "parse_fault",
    "parse_faults",
    "parse_markers",
    "parse_size",
]

Stage = Literal["submit", "poll", "download", "outcome", "any"]

ALWAYS: Final = math.inf
"""A count that never runs out (``=always``)."""

# Requests that answer an HTTP status, keyed by stage; any 4xx/5xx code is accepted after the
# stage name (``submit-500``, ``poll-503``, ``download-404`` ...).
_STATUS_FAULT = re.compile(r"^(?P<stage>submit|poll|download)-(?P<code>[45]\d\d)$")

_ALIASES: Final = {
    "429-storm": "submit-429",
    "drop-connection": "drop-submit",
    "lost-response": "drop-submit",
}

# name -> (stage, what the argument is); status faults are matched by _STATUS_FAULT instead.
# "count" faults affect that many matching requests ("count+retry" also take a Retry-After);
# the others hold while they are in force.
_KINDS: Final[dict[str, tuple[Stage, str]]] = {
    "drop-submit": ("submit", "count"),
    "drop-poll": ("poll", "count"),
    "drop-download": ("download", "count"),
    "truncated-download": ("download", "count"),
    "hang-submit": ("submit", "count"),
    "hang-poll": ("poll", "count"),
    "hang-download": ("download", "count"),
    "bad-encoding-submit": ("submit", "count"),
    "bad-encoding-poll": ("poll", "count"),
    "bad-encoding-download": ("download", "count"),
    "deep-json-submit": ("submit", "count"),
    "deep-json-poll": ("poll", "count"),
    "endless-download": ("download", "count"),
    "poll-503-task": ("poll", "count+retry"),
    "trickle-poll": ("poll", "rate"),
    "trickle-download": ("download", "rate"),
    "huge-poll": ("poll", "size"),
    "gzip-bomb": ("download", "size"),
    "long-retry-after": ("poll", "retry"),
    "task-id": ("outcome", "text"),
    "polling-url": ("outcome", "url"),
    "result-url": ("outcome", "url"),
    "slow": ("any", "seconds"),
    "slow-submit": ("submit", "seconds"),
    "slow-poll": ("poll", "seconds"),
    "slow-download": ("download", "seconds"),
    "insufficient-credits": ("submit", "none"),
    "request-moderated": ("outcome", "text"),
    "content-moderated": ("outcome", "text"),
    "error": ("outcome", "text"),
    "error-in-result": ("outcome", "text"),
    "failed": ("outcome", "text"),
    "poll-422-task": ("outcome", "text"),
    "unknown-status": ("outcome", "text"),
    "stuck": ("outcome", "none"),
    "not-found": ("poll", "none"),
    "expired-url": ("download", "none"),
}

FAULT_NAMES: Final = (
    "429-storm",
    "submit-CODE",
    "poll-CODE",
    "download-CODE",
    *_KINDS,
    *(alias for alias in _ALIASES if alias != "429-storm"),
)
"""Every fault name (``CODE`` stands for any HTTP status from 400 to 599)."""

# How many times a counted fault fires when no count is given. A 429 storm of one is no
# storm; three makes a client show that it backs off more than once.
_DEFAULT_COUNTS: Final = {"submit-429": 3, "poll-503-task": 3}

# Sizes when none is given: a poll answer as large as one seen live-hostile (300 MiB), and a
# bomb a thousand times that of its wire size.
_DEFAULT_SIZES: Final = {"huge-poll": 300 * 1024**2, "gzip-bomb": 1024**3}
# A Retry-After far beyond any sensible wait: one hour.
_LONG_RETRY_AFTER: Final = 3600
# What a hostile URL fault may put in a polling or result URL.
URL_TRICKS: Final = ("tab", "nul", "lookalike", "userinfo")


class FaultError(ValueError):
    """A fault or marker that cannot be understood."""


@dataclass(frozen=True)
class Fault:
    """One parsed fault."""

    name: str
    """Canonical name, aliases resolved (``429-storm`` becomes ``submit-429``)."""
    stage: Stage
    count: float = ALWAYS
    """How many matching requests it affects (``ALWAYS``: as long as it is in force)."""
    status: int | None = None
    """The HTTP status of a ``STAGE-CODE`` fault."""
    retry_after: str | None = None
    """``Retry-After`` to send: whole seconds, or ``"date"`` for an HTTP date."""
    seconds: float = 0.0
    text: str | None = None
    amount: int = 0
    """Bytes of a ``size`` fault, bytes per second of a ``rate`` fault."""

    @property
    def counted(self) -> bool:
        return self.status is not None or _KINDS.get(self.name, ("any", ""))[1].startswith("count")

    @property
    def spec(self) -> str:
        """The fault written back as ``NAME=ARG``."""
        if self.counted:
            arg = "always" if self.count == ALWAYS else str(int(self.count))
            if self.retry_after is not None:
                arg += f",{self.retry_after}"
            return f"{self.name}={arg}"
        if self.seconds:
            return f"{self.name}={self.seconds:g}"
        if self.amount:
            return f"{self.name}={self.amount}"
        if self.retry_after is not None:
            return f"{self.name}={self.retry_after}"
        if self.text is not None:
            return f"{self.name}={self.text}"
        return self.name


def _count(name: str, raw: str | None, default: float = 1) -> float:
    if raw is None or raw == "":
        return default
    if raw.lower() in ("always", "*", "inf"):
        return ALWAYS
    try:
        value = int(raw)
    except ValueError:
        raise FaultError(
            f"fault {name}: count must be a whole number or 'always', got {raw!r}"
        ) from None
    if value < 1:
        raise FaultError(f"fault {name}: count must be at least 1, got {value}")
    return value


def _retry_after(name: str, raw: str) -> str:
    raw = raw.strip().lower()
    if raw == "date":
        return raw
    if raw.isdigit():
        return str(int(raw))
    raise FaultError(f"fault {name}: Retry-After must be whole seconds or 'date', got {raw!r}")


def parse_fault(text: str) -> Fault:
    """Parse ``NAME`` or ``NAME=ARG``; raise :class:`FaultError` naming what is allowed."""
    raw_name, _, raw_arg = text.strip().partition("=")
    name = _ALIASES.get(raw_name.strip().lower(), raw_name.strip().lower())
    arg: str | None = raw_arg.strip() if raw_arg.strip() else None
    status_match = _STATUS_FAULT.match(name)
    if status_match is not None:
        count_text, _, retry_text = (arg or "").partition(",")
        stage: Stage = "submit"
        if status_match.group("stage") == "poll":
            stage = "poll"
        elif status_match.group("stage") == "download":
            stage = "download"
        return Fault(
            name=name,
            stage=stage,
            status=int(status_match.group("code")),
            count=_count(name, count_text or None, _DEFAULT_COUNTS.get(name, 1)),
            retry_after=_retry_after(name, retry_text) if retry_text else None,
        )
    kind = _KINDS.get(name)
    if kind is None:
        raise FaultError(
            f"unknown emulator fault {raw_name.strip()!r}; known faults: {', '.join(FAULT_NAMES)}"
        )
    stage, argument = kind
    if argument == "count":
        return Fault(name=name, stage=stage, count=_count(name, arg))
    if argument == "count+retry":
        count_text, _, retry_text = (arg or "").partition(",")
        return Fault(
            name=name,
            stage=stage,
            count=_count(name, count_text or None, _DEFAULT_COUNTS.get(name, 1)),
            retry_after=_retry_after(name, retry_text) if retry_text else None,
        )
    if argument == "retry":
        retry = _retry_after(name, arg) if arg is not None else str(_LONG_RETRY_AFTER)
        return Fault(name=name, stage=stage, retry_after=retry)
    if argument == "size":
        try:
            size = parse_size(arg) if arg is not None else _DEFAULT_SIZES[name]
        except FaultError as exc:
            raise FaultError(f"fault {name}: {exc}") from None
        return Fault(name=name, stage=stage, amount=size)
    if argument == "rate":
        if arg is not None and not arg.isdigit():
            raise FaultError(f"fault {name}: the rate must be whole bytes per second, got {arg!r}")
        rate = int(arg) if arg is not None else 1
        if rate < 1:
            raise FaultError(f"fault {name}: the rate must be at least 1 byte per second")
        return Fault(name=name, stage=stage, amount=rate)
    if argument == "url" and arg not in URL_TRICKS:
        raise FaultError(f"fault {name}: expected one of {', '.join(URL_TRICKS)}, got {arg!r}")
    if name == "task-id" and arg is None:
        raise FaultError("fault task-id: give the id, e.g. task-id=a/b/../c")
    if argument == "seconds":
        try:
            seconds = float(arg) if arg is not None else 1.0
        except ValueError:
            raise FaultError(f"fault {name}: the delay must be seconds, got {arg!r}") from None
        if not 0 <= seconds < 3600:
            raise FaultError(f"fault {name}: the delay must be from 0 to 3600 seconds")
        return Fault(name=name, stage=stage, seconds=seconds)
    if argument == "none" and arg is not None:
        raise FaultError(f"fault {name} takes no argument, got {arg!r}")
    return Fault(name=name, stage=stage, text=arg)


def parse_faults(specs: str | Fault | Iterable[str | Fault] | None) -> tuple[Fault, ...]:
    """Parse server-wide faults: one string (several separated by ``;``) or an iterable."""
    if specs is None:
        return ()
    if isinstance(specs, Fault):
        return (specs,)
    items = specs.split(";") if isinstance(specs, str) else list(specs)
    parsed: list[Fault] = []
    for item in items:
        if isinstance(item, Fault):
            parsed.append(item)
        elif item.strip():
            parsed.extend(parse_fault(part) for part in item.split(";") if part.strip())
    return tuple(parsed)


class FaultSet:
    """Faults in force and how many more requests each counted one affects.

    One set holds the server-wide faults; each prompt (for its submits) and each task (for its
    polls and downloads) has one of its own, so a storm of three 429s hits the first three
    submits of that prompt, retries included, and nothing else.
    """

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults: tuple[Fault, ...] = tuple(faults)
        self._left = [f.count for f in self.faults]

    def __bool__(self) -> bool:
        return bool(self.faults)

    def get(self, name: str) -> Fault | None:
        """The uncounted fault ``name`` when it is in force."""
        for fault in self.faults:
            if fault.name == name and not fault.counted:
                return fault
        return None

    def _take(self, index: int) -> Fault | None:
        if self._left[index] <= 0:
            return None
        self._left[index] -= 1
        return self.faults[index]

    def take(self, name: str) -> Fault | None:
        """The counted fault ``name`` if it has requests left, using one of them up."""
        for index, fault in enumerate(self.faults):
            if fault.name == name and fault.counted and self._left[index] > 0:
                return self._take(index)
        return None

    def take_status(self, stage: Stage) -> Fault | None:
        """A ``STAGE-CODE`` fault for ``stage`` with requests left, using one of them up."""
        for index, fault in enumerate(self.faults):
            if fault.stage == stage and fault.status is not None and self._left[index] > 0:
                return self._take(index)
        return None

    def amount(self, name: str) -> int:
        """The size or rate of the uncounted fault ``name`` when it is in force, else 0."""
        fault = self.get(name)
        return fault.amount if fault is not None else 0

    def delay(self, stage: Stage) -> float:
        """Seconds to hold a request of ``stage`` back (``slow`` and ``slow-STAGE``)."""
        return sum(
            f.seconds for f in self.faults if f.name in ("slow", f"slow-{stage}") and f.seconds
        )

    def outcome(self) -> tuple[Fault, ...]:
        """The faults that decide how a task ends, and the URL a finished task gets."""
        return tuple(f for f in self.faults if f.stage == "outcome" or f.name == "expired-url")


_MARKER = re.compile(r"\[\[(?P<kind>fault|size):(?P<body>[^\]]*)\]\]|\[\[size=(?P<size>[^\]]*)\]\]")


@dataclass(frozen=True)
class Markers:
    """What the markers of one prompt ask for."""

    faults: tuple[Fault, ...] = ()
    size: int | None = None
    """Bytes the result file should have (``[[size=50MB]]``), or None."""
    text: str = ""
    """The prompt with the markers taken out, for drawing."""


def parse_markers(prompt: str) -> Markers:
    """Find ``[[fault:NAME=ARG]]`` and ``[[size=50MB]]`` markers in a prompt."""
    faults: list[Fault] = []
    size: int | None = None
    for match in _MARKER.finditer(prompt):
        if match.group("kind") == "fault":
            faults.append(parse_fault(match.group("body")))
        else:
            size = parse_size(match.group("size") or match.group("body"))
    text = " ".join(_MARKER.sub(" ", prompt).split())
    return Markers(faults=tuple(faults), size=size, text=text)


_SIZE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS: Final = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
# A result larger than this is a typo, not a benchmark.
_MAX_SIZE: Final = 4 * 1000**3


def parse_size(text: str) -> int:
    """``"50MB"`` -> 50_000_000 (``KiB``/``MiB``/``GiB`` are powers of 1024)."""
    match = _SIZE.match(text)
    unit = (match.group("unit") or "").lower() if match else ""
    if match is None or unit not in _UNITS:
        raise FaultError(f"size marker: expected a size like 50MB or 512KiB, got {text!r}")
    size = int(float(match.group("n")) * _UNITS[unit])
    if not 0 < size <= _MAX_SIZE:
        raise FaultError(f"size marker: the size must be from 1 byte to 4GB, got {text!r}")
    return size
