"""Polling: when to poll a task next. No I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    # Loaded on first use, not on ``import flux2``: the registry parses the pinned spec.
    pass

# --------------------------------------------------------------------------------------------
# Polling
# --------------------------------------------------------------------------------------------

# Submit-to-Ready wall time seen live per model, fastest and slowest, in seconds (BFL-FACTS.md,
# 2026-09 [seen]: klein-4b 2.6, klein-9b 2.4, flex 6.7-9, pro 12-14, max 36-41). Previews are
# taken to behave like their base model.
EXPECTED_SECONDS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "klein-4b": (2.6, 2.6),
        "klein-9b": (2.4, 2.4),
        "flex": (6.7, 9.0),
        "pro": (12.0, 14.0),
        "max": (36.0, 41.0),
    }
)


@dataclasses.dataclass(frozen=True)
class PollSchedule:
    """When to poll a task next, from its model and its age (seconds since submission).

    Three phases, all in seconds times ``scale``:

    1. *Surely not done* (before ``window_lead`` x the fastest run seen for the model): no
       polls, except, for models that take ``probe_min_expected`` seconds or more, probes at
       ``probe_first`` x 3**k (2, 6, 18 s) that catch an instantly refused or failed task early.
    2. *May be done* (until ``late_factor`` x the slowest run seen): a poll every
       ``fine_fraction`` x the fastest run, between ``min_interval`` and ``max_fine_interval``.
       When the service reports ``progress``, the next poll aims just after the predicted
       finish if that comes sooner.
    3. *Late* (queued or slow): the interval grows by a quarter of the lateness, up to
       ``max_interval``, sparing the rate limit.

    A model with no figures (a new one) is polled at 15% of its age, 0.5 s to ``max_interval``.
    A ``Retry-After`` from the server always wins over a shorter delay.

    Why these numbers: the benchmark (``scripts/bench``, scenario polling) holds flux2 to at
    most 40% of the requests of fixed 0.5 s polling with a median detection lag within 0.25 s
    of it. Simulated over run times drawn from the live ranges widened by 5% (10%), fixed
    0.5 s polling takes a median of 6, 5, 16, 27 and 78 requests for klein-4b, klein-9b, flex,
    pro and max and sees the result 0.12-0.37 s late; this schedule takes 2, 2, 4, 6 and 11-12
    (15-39% of the requests; 15-33% at 10%) and is late by a median of 0.05 s with progress
    reports, 0.12-0.34 s without (at most ``max_fine_interval`` once the window is open).
    ``tests/unit/test_polling.py`` holds it to that. Against the emulator (runs +-10%, 40 per
    model) it took 0.31x (klein-4b) to 0.15x (max) the polls of fixed 0.5 s polling with a
    median lag of 0.14-0.20 s against 0.27-0.45 s.

    ``window_lead`` 0.95 and ``finish_margin`` 0.05 s replaced 0.9 and 0.1 s, which took
    klein to 0.40x the polls of fixed 0.5 s polling (the limit) and a median lag of
    0.17-0.23 s in the same benchmark. The price: a run more than 5% faster than the fastest
    seen is found up to 5% of that run late (1.8 s for max, 0.13 s for klein-4b); and a
    prediction from ``progress`` that comes 0.05 s early costs one more poll.

    ``scale`` multiplies every figure: ``PollSchedule(scale=0.01)`` follows an emulator run at
    ``speed=0.01``; ``scale=0`` polls without pausing (for an emulator at ``speed=0``).
    """

    scale: float = 1.0
    expected: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: EXPECTED_SECONDS
    )
    window_lead: float = 0.95  # tuned with scripts/bench: see "window_lead 0.95" above
    fine_fraction: float = 0.15
    min_interval: float = 0.25
    max_fine_interval: float = 0.6
    probe_first: float = 2.0
    probe_min_expected: float = 10.0
    late_factor: float = 1.25
    max_interval: float = 5.0
    finish_margin: float = 0.05  # likewise

    def window(self, model: str | None) -> tuple[float, float] | None:
        """``(fastest, slowest)`` expected seconds for ``model`` (unscaled), if known."""
        if model is None:
            return None
        name = model[len("flux-2-") :] if model.startswith("flux-2-") else model
        return self.expected.get(name) or self.expected.get(name.removesuffix("-preview"))

    def assumed_age(self, model: str | None) -> float:
        """The age to assume for a task of unknown age (resumed from its id or polling URL):
        the start of the window in which it may be done, so it is polled closely at once."""
        window = self.window(model)
        return (self.window_lead * window[0] if window else 0.0) * self.scale

    def first_delay(self, model: str | None, age: float) -> float:
        """Seconds to wait before the first poll of a task of ``age`` seconds: none once it
        may be done (a task persisted earlier and waited for again, say)."""
        window = self.window(model)
        if self.scale <= 0:
            return 0.0
        if window is not None and max(0.0, age) / self.scale >= self.window_lead * window[0]:
            return 0.0
        return self.next_delay(model, age)

    def next_delay(self, model: str | None, age: float, progress: float | None = None) -> float:
        """Seconds to wait, from a task of ``age`` seconds, before polling it again."""
        if self.scale <= 0:  # an emulator at speed=0: every task is ready at once
            return 0.0
        return self._next_delay_unscaled(model, max(0.0, age) / self.scale, progress) * self.scale

    def _next_delay_unscaled(self, model: str | None, age: float, progress: float | None) -> float:
        window = self.window(model)
        if window is None:
            return min(max(0.15 * age, 0.5), self.max_interval)
        fastest, slowest = window
        opens = self.window_lead * fastest
        late = self.late_factor * slowest
        fine = min(max(self.fine_fraction * fastest, self.min_interval), self.max_fine_interval)
        if age + 1e-3 < opens:
            if fastest >= self.probe_min_expected:
                probe = self.probe_first
                while probe <= age:
                    probe *= 3
                if probe < opens - fine:
                    return probe - age
            return opens - age
        if progress is not None and 0 < progress < 1:
            remaining = age * (1 - progress) / progress + self.finish_margin
            if remaining <= 1.5 * fine:
                return max(remaining, self.min_interval / 2)
        if age < late:
            return fine
        return min(fine + 0.25 * (age - late), self.max_interval)
