"""How long each task takes and how its progress rises: timing profiles. No I/O here.

Live tasks do not take one fixed time per model: runs of one model spread around its figure
(BFL-FACTS.md: flex 6.7-9 s, pro 12-14 s, max 36-41 s [seen]), a task waits in ``Pending``
before it starts, and the service can be faster or slower than the published figures on a
given day. A client whose poll schedule knows the figures exactly looks better against an
emulator that keeps to them than it will live; the profiles here make it meet the rest.

Every draw is deterministic: the n-th task of a model gets the same timing for the same
profile and seed, whatever else ran.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from . import _policy

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Profile", "Shape", "TaskTiming", "Timing"]


@dataclasses.dataclass(frozen=True)
class Shape:
    """Where a task's time goes, as shares of its whole duration: the first ``queue_share``
    ``Pending``, the rest ``Generating``, with progress at the quarters of the generating time
    given by ``knots`` (linear between them)."""

    queue_share: float = 0.15
    knots: tuple[float, float, float] = (0.25, 0.5, 0.75)

    def progress(self, fraction: float) -> float:
        """Progress after ``fraction`` (0..1) of the generating time."""
        points = (0.0, *self.knots, 1.0)
        x = min(1.0, max(0.0, fraction)) * 4
        step = min(int(x), 3)
        return points[step] + (points[step + 1] - points[step]) * (x - step)


# Until 2026-11 the emulator knew one shape: 15% queued, then progress rising evenly. The
# split itself is not measured [seen: tasks are Pending, then Generating with a progress].
STEADY_SHAPE: Final = Shape()


@dataclasses.dataclass(frozen=True)
class TaskTiming:
    """One task's timing: ``seconds`` from submit to the end at ``speed=1``, and its shape."""

    seconds: float
    shape: Shape = STEADY_SHAPE


@dataclasses.dataclass(frozen=True)
class Profile:
    """How a service runs against the published figures.

    A task takes the model's figure x ``factor`` x a log-normal draw of spread ``spread``
    (its standard deviation in log space, cut at three of them), waits in ``Pending`` for a
    share of that drawn from ``queue`` and reports progress that speeds up and slows down by
    up to ``unevenness`` (0: evenly).
    """

    name: str
    factor: float = 1.0
    spread: float = 0.0
    queue: tuple[float, float] = (0.15, 0.15)
    unevenness: float = 0.0
    description: str = ""

    def draw(self, figure: float, rng: random.Random) -> TaskTiming:
        jitter = math.exp(max(-3.0, min(3.0, rng.gauss(0.0, 1.0))) * self.spread)
        share = rng.uniform(*self.queue)
        weights = [1.0 + self.unevenness * rng.uniform(-1.0, 1.0) for _ in range(4)]
        total = sum(weights)
        sums = list(itertools.accumulate(w / total for w in weights))
        knots = (round(sums[0], 6), round(sums[1], 6), round(sums[2], 6))
        return TaskTiming(figure * self.factor * jitter, Shape(round(share, 6), knots))


# Live runs of one model spread by about +-8% around their figure (flex 6.7-9 s, pro 12-14 s
# [seen]); how long tasks queue is not published, so the share is a guess.
_EXPECTED: Final = Profile(
    "expected",
    spread=0.08,
    queue=(0.05, 0.25),
    unevenness=0.6,
    description="runs spread around the figures (8%), queue waits, uneven progress",
)

PROFILES: Final[Mapping[str, Profile]] = MappingProxyType(
    {
        "steady": Profile("steady", description="each model's figure exactly, even progress"),
        "expected": _EXPECTED,
        "faster": dataclasses.replace(
            _EXPECTED, name="faster", factor=0.5, description="as expected, 2x faster"
        ),
        "slower": dataclasses.replace(
            _EXPECTED, name="slower", factor=2.0, description="as expected, 2x slower"
        ),
        "wide": Profile(
            "wide",
            spread=0.3,
            queue=(0.05, 0.5),
            unevenness=0.6,
            description="runs spread widely (30%), long and varied queue waits",
        ),
    }
)
DEFAULT_PROFILE: Final = "steady"


class Timing:
    """Draws each task's timing from a profile, deterministically for a given ``seed``: the
    n-th task of each model gets the same timing in every run (``key`` picks one directly)."""

    def __init__(self, profile: str | Profile = DEFAULT_PROFILE, seed: int = 0) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(
                    f"unknown timing profile {profile!r}; one of: {', '.join(PROFILES)}"
                )
            profile = PROFILES[profile]
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.profile = profile
        self.seed = seed
        self._counts: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def draw(self, model: str, key: int | str | None = None) -> TaskTiming:
        """The timing of the next task of ``model`` (or of the task named ``key``)."""
        if key is None:
            with self._lock:
                key = next(self._counts.setdefault(model, itertools.count()))
        figure = _policy.duration(model)
        if self.profile == PROFILES["steady"]:
            return TaskTiming(figure)
        rng = random.Random(f"{self.seed}/{self.profile.name}/{model}/{key}")
        return self.profile.draw(figure, rng)

    def __repr__(self) -> str:
        return f"Timing({self.profile.name!r}, seed={self.seed})"
