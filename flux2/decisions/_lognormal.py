"""Log-normal beliefs about when a task ends, and mixtures of them: the arithmetic of
:mod:`flux2.decisions.polling`. No I/O."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from statistics import NormalDist

# The normal distribution, in the few places needed (`statistics` is not imported at start-up).


def cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def inverse_cdf(p: float) -> float:
    """z with cdf(z) == p (p is clipped to a range where that is exact enough)."""
    return _standard_normal().inv_cdf(min(max(p, 1e-9), 1 - 1e-9))


@functools.cache
def _standard_normal() -> NormalDist:
    # Imported on the first poll, not with flux2; its inverse is in C, a bisection by cdf
    # costs some 70 times as much, several times per poll.
    from statistics import NormalDist

    return NormalDist()


def by_precision(a: float, a_weight: float, b: float, b_weight: float) -> tuple[float, float]:
    """Two normal estimates ``a`` and ``b``, each weighed by its precision (1 / variance),
    taken together: (centre, spread)."""
    total = a_weight + b_weight
    return (a * a_weight + b * b_weight) / total, math.sqrt(1 / total)


@dataclasses.dataclass(frozen=True)
class Belief:
    """log(run time) ~ Normal(centre, spread); ``queue``: seconds spent queued; ``shares``:
    shares of the run spent queued, of recent tasks (a few, spread over their range)."""

    centre: float
    spread: float
    queue: float
    runs: int = 0
    shares: tuple[float, ...] = ()

    def quantile(self, q: float, after: float = 0.0) -> float:
        """The ``q`` quantile of the run time, given that it is longer than ``after``."""
        z_after = (math.log(after) - self.centre) / self.spread if after > 0 else -math.inf
        floor = cdf(z_after) if after > 0 else 0.0
        # Capped below a float's range: a belief narrowed by a vanishingly small progress
        # reading may be centred or spread past it (the caller caps the poll anyway).
        z = inverse_cdf(floor + q * (1 - floor))
        return math.exp(min(self.centre + self.spread * z, 700.0))

    def probability(self, seconds: float) -> float:
        """How likely the run time is at most ``seconds``."""
        if seconds <= 0:
            return 0.0
        return cdf((math.log(seconds) - self.centre) / self.spread)


@dataclasses.dataclass(frozen=True)
class Ends:
    """Where a task may end: log-normal ends at ``centres`` (log seconds), weighed by
    ``weights`` (summing to 1), each spread by ``spread``. (Evaluated a few dozen times per
    poll: written for speed.)"""

    centres: tuple[float, ...]
    weights: tuple[float, ...]
    spread: float

    def _at(self, x: float) -> tuple[float, float]:
        """(probability, density per unit of log time) that the end is at most / at
        ``exp(x)``."""
        k = 1 / self.spread
        probability = density = 0.0
        erfc, exp = math.erfc, math.exp
        for c, w in zip(self.centres, self.weights, strict=True):
            z = (x - c) * k
            probability += w * erfc(-z * _SQRT_HALF)
            density += w * exp(-0.5 * z * z)
        return 0.5 * probability, density * k / _SQRT_TAU

    def probability(self, seconds: float) -> float:
        """How likely the task has ended by ``seconds``."""
        return self._at(math.log(seconds))[0] if seconds > 0 else 0.0

    def _bracket(self, after: float) -> tuple[float, float]:
        low = min(self.centres) - 5 * self.spread
        high = max(self.centres) + 5 * self.spread
        if after > 0:
            low = max(low, math.log(after))
        return low, max(low, high)

    def may_end_by(self, seconds: float) -> bool:
        """Whether ``seconds`` is short of where every end surely has passed (a cheap
        bound)."""
        return seconds <= 0 or math.log(seconds) <= max(self.centres) + 3.1 * self.spread

    def lowest(self, q: float, after: float) -> float:
        """At most ``quantile(q, after)``, at a fraction of its cost."""
        return max(after, math.exp(min(self.centres) + self.spread * inverse_cdf(q)))

    def quantile(self, q: float, after: float = 0.0) -> float:
        """The ``q`` quantile of the end, given that it is later than ``after``."""
        floor = self.probability(after)
        goal = floor + q * (1 - floor)
        return bisect(*self._bracket(after), lambda x: self._at(x)[0] < goal)

    def worth_polling(self, last: float, per_second: float) -> float:
        """When to poll after ``last``: where the chance of the end falling just then, per
        second, drops to ``per_second`` times the chance that it fell since ``last`` (the
        lag a poll then saves is worth 1 / ``per_second`` seconds a request)."""
        floor = self.probability(last)
        low, high = self._bracket(last)

        def above(x: float) -> bool:
            probability, density = self._at(x)
            return density > per_second * math.exp(x) * (probability - floor)

        return math.exp(high) if above(high) else bisect(low, high, above)


def bisect(low: float, high: float, below: Callable[[float], bool]) -> float:
    """``exp(x)`` for the ``x`` between ``low`` and ``high`` (log seconds) where ``below``
    turns false, to ``_PRECISION``."""
    while high - low > _PRECISION:
        middle = 0.5 * (low + high)
        if below(middle):
            low = middle
        else:
            high = middle
    return math.exp(0.5 * (low + high))


_SQRT_TAU: Final = math.sqrt(2 * math.pi)
_SQRT_HALF: Final = math.sqrt(0.5)
_PRECISION: Final = 3e-3  # log scale: 0.3% of the time
