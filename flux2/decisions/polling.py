"""Polling: when to poll a task next, learning how long tasks take. No I/O."""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Protocol

from flux2._model_name import short_model_name
from flux2._wire import STATUS_MEANINGS, TaskState
from flux2.errors import InputError

from ._lognormal import Belief, Ends, by_precision

# Submit-to-Ready wall time seen live per model, fastest and slowest, in seconds (BFL-FACTS.md,
# 2026-09 [seen]: klein-4b 2.6, klein-9b 2.4, flex 6.7-9, pro 12-14, max 36-41). Previews are
# taken to behave like their base model. Only the starting point: a client learns the times
# its own tasks take.
EXPECTED_SECONDS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "klein-4b": (2.6, 2.6),
        "klein-9b": (2.4, 2.4),
        "flex": (6.7, 9.0),
        "pro": (12.0, 14.0),
        "max": (36.0, 41.0),
    }
)


class PolledResult(Protocol):
    """What a poll tells the schedule (a :class:`flux2.TaskResult`)."""

    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float | None: ...
    @property
    def start_time(self) -> float | None: ...
    @property
    def end_time(self) -> float | None: ...


@dataclasses.dataclass(frozen=True)
class PollSchedule:
    """How a client polls its tasks: the settings. Each client learns from its own tasks
    (:class:`PollEstimator`); the settings say where it starts and how it trades requests for
    detection lag.

    A task's run time (submit to Ready, queue wait included) is taken to be log-normal around
    a centre learned per model. Before a model's first task ends the centre is the middle of
    ``expected`` with a spread of ``prior_spread`` (so a service twice as fast or slow as the
    figures is found in time). Each finished task moves the centre and the run-to-run spread
    (starting at ``run_spread``); the last ``memory`` tasks count. While a task runs, each
    ``progress`` it reports predicts its end, counted from when it left the queue (the queue
    wait is learned too: the result's ``start_time``): at the mean rate since then and, from
    two readings on, at the rate between the last two (progress is uneven: the prediction
    is the geometric mean of both); the prediction narrows the estimate.

    The next poll comes at the earliest of: the ``aim`` quantile of the run time given that
    the task has not ended yet; ``lag_target`` after its median; and ``max_gap`` after the
    task may have ended (its ``may_be_done`` quantile) or after the last poll, whichever is
    later, so a result is never seen much later than that; until a task of the model has
    ended, ``first_gap`` instead (the figures may be wrong, and the first tasks all start
    blind). Runs longer than ``long_run`` seconds afford more requests (a budget grows with
    the run), so ``lag_target`` and the gap shrink with them, the gap to 1.25 x
    ``min_interval`` at least (1.75 x before the model is learnt). While a task's progress
    rises and it is not late, its possible ends take the place of the prediction: each
    recent task's share of its run spent queued (spread evenly up to 3 x ``queue_share``
    before three are seen) gives the run that the last reading implies had this task queued
    as long, weighed by how likely the learnt runs make it and by how well it explains the
    reading before. Runs longer than ``long_run`` take the rules above on these ends, read
    long before the end: 30% of the weight goes to queue waits unlike the recent ones (a
    backlog), each end moves half-way to where the pace between the last two readings puts
    it, and the learnt runs narrow it. Runs up to ``long_run`` (one reading is often all
    there is) are placed where one more request is worth ``request_worth`` seconds of lag
    (where the chance of the end falling just then, against the chance that it has already
    passed, drops to 1 / ``request_worth`` per second). Either way, at most
    ``max_interval`` after the last poll, or half-way to where the task may end if that is
    later. Never sooner than ``min_interval`` after the last poll, nor, until a task is
    late, past where the learnt runs say it has surely ended (their 99.9% quantile). Long
    models (``probe_min_expected`` seconds or more) are also probed at ``probe_first`` x
    3**k (2, 6, 18 s): a refused or failed task is seen early. A task later than the
    estimate allows is polled every ``max_gap``, growing with its lateness up to
    ``max_interval``; sooner if its progress still rises and says it ends sooner (its
    readings alone then place the poll: what was learnt is wrong about that task). A model
    without figures starts at 15% of its age (0.5 s to ``max_interval``). A ``Retry-After``
    from the server always wins over a shorter delay.

    ``scale`` multiplies every figure: ``PollSchedule(scale=0.01)`` follows an emulator run at
    ``speed=0.01``; ``scale=0`` polls without pausing (for an emulator at ``speed=0``).
    How the numbers were chosen, and what they achieve, is in BENCHMARKS.md (polling).
    """

    scale: float = 1.0
    expected: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: EXPECTED_SECONDS
    )
    prior_spread: float = 0.3
    run_spread: float = 0.12
    memory: int = 24
    aim: float = 0.85
    lag_target: float = 0.12
    max_gap: float = 0.7
    first_gap: float = 0.35
    may_be_done: float = 0.02
    min_interval: float = 0.2
    max_interval: float = 5.0
    queue_share: float = 0.15
    progress_error: float = 0.2
    long_run: float = 3.0
    request_worth: float = 0.5
    probe_first: float = 2.0
    probe_min_expected: float = 10.0

    def __post_init__(self) -> None:
        # A NaN makes every comparison false and a negative figure a poll in the past: either
        # would poll without pause or never; refused here, before any task depends on them.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "expected":
                _check_expected(value)
            elif field.name == "memory":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise _bad_setting("memory", value, "an integer >= 1")
            elif field.name in _QUANTILES:
                if not _is_number(value) or not 0 < value < 1:
                    raise _bad_setting(field.name, value, "a number between 0 and 1 (exclusive)")
            elif field.name in _AT_LEAST:
                # A spread of 0 divides by zero; probes from 0 s on never pass the task's age.
                least = _AT_LEAST[field.name]
                if not _is_number(value) or value < least:
                    raise _bad_setting(field.name, value, f"a finite number >= {least}")
            elif not _is_number(value) or value < 0:
                raise _bad_setting(field.name, value, "a finite number >= 0")

    def window(self, model: str | None) -> tuple[float, float] | None:
        """``(fastest, slowest)`` expected seconds for ``model`` (unscaled), if known."""
        if model is None:
            return None
        name = short_model_name(model)
        return self.expected.get(name) or self.expected.get(name.removesuffix("-preview"))

    def estimator(self) -> PollEstimator:
        """A fresh learner following these settings (one per client)."""
        return PollEstimator(self)


_QUANTILES: Final = frozenset({"aim", "may_be_done"})
_AT_LEAST: Final = MappingProxyType(
    {"prior_spread": 0.001, "run_spread": 0.001, "probe_first": 0.001}
)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _bad_setting(name: str, value: object, allowed: str) -> InputError:
    shown = repr(value) if isinstance(value, (int, float)) else f"a {type(value).__name__}"
    return InputError(f"PollSchedule.{name} must be {allowed}, got {shown}", param=name)


def _check_expected(value: object) -> None:
    allowed = "a mapping of model names to (fastest, slowest) seconds, 0 < fastest <= slowest"
    if not isinstance(value, Mapping):
        raise _bad_setting("expected", value, allowed)
    for name, window in value.items():
        if (
            not isinstance(name, str)
            or not isinstance(window, (tuple, list))
            or len(window) != 2
            or not all(_is_number(v) for v in window)
            or not 0 < window[0] <= window[1]
        ):
            raise InputError(
                f"PollSchedule.expected[{name!r}] must be (fastest, slowest) seconds with "
                f"0 < fastest <= slowest, got {window!r}"[:200],
                param="expected",
            )


# How many queue shares a belief keeps; a share counts as at most this much of a run.
_SHARES: Final = 8
_MAX_SHARE: Final = 0.95


class _ModelHistory:
    """The run times and queue waits of a model's recent tasks, and the belief they give."""

    def __init__(self, schedule: PollSchedule, window: tuple[float, float] | None) -> None:
        self._schedule = schedule
        self._prior = math.log(math.sqrt(window[0] * window[1])) if window else None
        self._runs: collections.deque[float] = collections.deque(maxlen=schedule.memory)
        self._queues: collections.deque[float] = collections.deque(maxlen=schedule.memory)
        self._shares: collections.deque[float] = collections.deque(maxlen=schedule.memory)
        self.belief = self._fit()

    def add(self, seconds: float, queue: float | None) -> None:
        seconds = max(seconds, 1e-3)
        self._runs.append(math.log(seconds))
        if queue is not None:
            self._queues.append(queue)
            self._shares.append(min(max(queue / seconds, 0.0), _MAX_SHARE))
        self.belief = self._fit()  # replaced whole: readers in other threads see old or new

    def _fit(self) -> Belief | None:
        s = self._schedule
        runs = list(self._runs)
        if not runs and self._prior is None:
            return None
        # Spread between runs: the sample variance, pulled towards run_spread while there
        # are few runs (as if two runs at that spread had been seen).
        n = len(runs)
        mean = sum(runs) / n if n else 0.0
        squares = sum((x - mean) ** 2 for x in runs)
        run_var = (2 * s.run_spread**2 + squares) / (2 + max(n - 1, 0))
        # The centre: the prior, outweighed by each run by (prior_spread / run spread)**2.
        if self._prior is None:
            centre, centre_var = mean, run_var / n
        else:
            prior_weight = 1 / s.prior_spread**2
            run_weight = n / run_var
            centre = (self._prior * prior_weight + mean * run_weight) / (prior_weight + run_weight)
            centre_var = 1 / (prior_weight + run_weight)
        queues = sorted(self._queues)
        queue = queues[len(queues) // 2] if queues else s.queue_share * math.exp(centre)
        shares = sorted(self._shares)
        if len(shares) < 3:  # too few seen: evenly up to 3 x queue_share
            shares = [
                min(3 * s.queue_share * (k + 0.5) / _SHARES, _MAX_SHARE) for k in range(_SHARES)
            ]
        elif len(shares) > _SHARES:  # a few, spread over their range (each costs a poll time)
            shares = [shares[(2 * k + 1) * len(shares) // (2 * _SHARES)] for k in range(_SHARES)]
        return Belief(centre, math.sqrt(run_var + centre_var), queue, n, tuple(shares))


class PollEstimator:
    """What a client has learnt about its tasks' run times, per model (thread-safe). Make one
    per client with :meth:`PollSchedule.estimator`, and one :meth:`plan` per task waited for."""

    def __init__(self, schedule: PollSchedule | None = None) -> None:
        self.schedule = schedule or PollSchedule()
        self._models: dict[str, _ModelHistory] = {}
        self._lock = threading.Lock()

    def history(self, model: str | None) -> _ModelHistory:
        key = model or ""
        found = self._models.get(key)
        if found is None:
            with self._lock:
                window = self.schedule.window(model)
                found = self._models.setdefault(key, _ModelHistory(self.schedule, window))
        return found

    def plan(self, model: str | None, submitted_at: float | None, now: float) -> PollPlan:
        """The polls of one task submitted at Unix time ``submitted_at`` (None: unknown, a
        task resumed from its id; it is polled at once and teaches nothing)."""
        return PollPlan(self, model, submitted_at, now)

    def belief(self, model: str | None) -> Belief | None:
        return self.history(model).belief


class PollPlan:
    """When to poll one task: ``delay(now)`` before each poll, ``observe(now, result)`` after."""

    def __init__(
        self, estimator: PollEstimator, model: str | None, submitted_at: float | None, now: float
    ) -> None:
        schedule = estimator.schedule
        self._estimator = estimator
        self._schedule = schedule
        self._model = model
        self._scale = schedule.scale
        window = schedule.window(model)
        self._long = window is not None and window[0] >= schedule.probe_min_expected
        self._learns = submitted_at is not None and schedule.scale > 0
        if submitted_at is None:
            # Of unknown age: assume it may be done, and look at once.
            belief = estimator.belief(model)
            assumed = belief.quantile(0.05) if belief else 0.0
            submitted_at = now - assumed * max(schedule.scale, 0.0)
        self._origin = submitted_at
        self._look_now = not self._learns
        self._last_poll = 0.0  # task age at the last poll (unscaled), 0 before the first
        self._queued_until = 0.0  # age at which it was last seen queued
        self._started: float | None = None  # age at which it was first seen generating
        # (age, progress) of the last two readings below 0.99 while generating (all that a
        # prediction uses: a task polled for hours keeps no more).
        self._readings: collections.deque[tuple[float, float]] = collections.deque(maxlen=2)
        self._highest = 0.0  # the highest progress (0.99 at most) read before the last reading
        # Whether the last reading rose past every earlier one: the task is not stuck
        # (progress going back and forth rises every other reading, to where it was; one
        # held at 0.99 rose there once).
        self._rose = False
        self._at_end = False  # whether the last reading was 0.99 or more

    def _age(self, now: float) -> float:
        return max(0.0, now - self._origin) / self._scale

    def delay(self, now: float) -> float:
        """Seconds to wait from ``now`` before the next poll."""
        if self._scale <= 0 or self._look_now:
            self._look_now = False
            return 0.0
        age = self._age(now)
        return max(0.0, self._next_age(age) - age) * self._scale

    def observe(self, now: float, result: PolledResult) -> None:
        """Take in what a poll at ``now`` found."""
        if self._scale <= 0:
            return
        age = self._age(now)
        state = STATUS_MEANINGS.get(result.status, TaskState.IN_FLIGHT)
        if state is TaskState.READY:
            if self._learns:
                self._learn(age, result)
        elif state is TaskState.IN_FLIGHT:
            progress = result.progress
            if progress is not None and 0 < progress < 1:
                if self._started is None:
                    self._started = age
                progress = float(progress)
                # (Readings of 0.99 and more count as 0.99: one that creeps on above it does
                # not rise again and again.)
                level = min(progress, 0.99)
                self._at_end = progress >= 0.99
                self._rose = bool(self._readings) and level > self._highest
                self._highest = max(self._highest, level)
                if progress < 0.99:
                    self._readings.append((age, progress))
            else:
                self._queued_until = age
                self._at_end = False
        self._last_poll = age

    def _learn(self, age: float, result: PolledResult) -> None:
        # The service's own end time, when it gives one, but never outside what this client
        # saw (between its last two polls): clocks differ between machines.
        # (A time that is not a finite number, as JSON's NaN and Infinity, is no time.)
        end_time, start_time = _finite(result.end_time), _finite(result.start_time)
        ended = self._predicted_end()
        if end_time is not None:
            ended = (end_time - self._origin) / self._scale
        elif ended is None:
            ended = (self._last_poll + age) / 2
        ended = min(max(ended, self._last_poll), age)
        queue = None
        if start_time is not None:
            queue = min(max((start_time - self._origin) / self._scale, 0.0), ended)
        elif self._started is not None:
            queue = (self._queued_until + self._started) / 2
        self._estimator.history(self._model).add(ended, queue)

    def _predicted_end(self) -> float | None:
        """The end age predicted from this task's progress readings, if any."""
        # Readings of 0.99 and more are not kept: progress at its last hundredth says only
        # that the end is near (services hold it there until they finish).
        readings = self._readings
        if not readings:
            return None
        age, progress = readings[-1]
        belief = self._estimator.belief(self._model)
        started = belief.queue if belief else 0.0
        # Generation started after the last poll that saw it queued, before the first that
        # saw it generating.
        started = min(max(started, self._queued_until), self._started or age, age)
        # At the mean rate since then: steady, but slow to follow a change of pace.
        whole = started + (age - started) / progress
        # At the rate between the last two readings: follows the pace, but one slow or fast
        # stretch (progress is uneven) would throw the end far off alone.
        recent = self._recent_end()
        if 0 < recent < math.inf:
            # (Each root apart: their product may overflow where either alone does not.)
            whole = math.sqrt(whole) * math.sqrt(recent) if whole > 0 else recent
        # Progress near 0 predicts an end beyond a float's range: that says nothing.
        return whole if math.isfinite(whole) else None

    def _recent_end(self) -> float:
        """The end the rate between the last two readings gives (0 with fewer, infinite if
        it did not rise)."""
        if len(self._readings) < 2:
            return 0.0
        (before, earlier), (age, progress) = self._readings
        if progress <= earlier or age <= before:
            return math.inf
        return age + (1 - progress) * (age - before) / (progress - earlier)

    def _ends(self, belief: Belief, *, trusted: bool = True, narrowed: bool = False) -> Ends | None:
        """Where this task may end, from its last progress reading, if it has one.

        Each learnt queue share ``q`` gives the run ``W`` in which the last reading ``p`` at
        age ``a`` is on time: queued ``q W``, then generating at an even pace, ``a = q W +
        p (1 - q) W``. Each such run counts as likely as the learnt runs make it (with the
        stretch of runs a share covers; only the stretch, not ``trusted``: the task is later
        than the learnt runs allow), and as well as it explains the reading before; the pace
        is uneven, so each end spreads as the part left to generate. ``narrowed`` (for long
        runs, whose readings come long before the end): queue waits unlike the recent ones
        count too, each end moves half-way to where the pace between the last two readings
        puts it, and is narrowed by the learnt runs (both log-normal, weighed by
        precision)."""
        if not self._readings:
            return None
        age, progress = self._readings[-1]
        if age <= 0:  # read at the submit (a clock behind the one that submitted): no run
            return None
        # Generation started after the last poll that saw it queued, before the first that
        # saw it generating (a little either way: clocks and rounding).
        earliest = self._queued_until - _SLACK
        latest = (self._started if self._started is not None else age) + _SLACK
        before = self._readings[0] if len(self._readings) == 2 else None
        centres: list[float] = []
        weights: list[float] = []
        spread = _PACE_SPREAD * (1 - progress) + _PACE_FLOOR
        narrowed = narrowed and trusted
        # (How far an end may be from the learnt runs' centre: their spread, and the end's
        # own when the two are combined.)
        apart = belief.spread**2 + (spread**2 if narrowed else 0.0)
        if narrowed:
            # A long run is read long before its end, and this task's queue wait may be
            # unlike the recent ones (a backlog): some of the weight goes to shares spread
            # over any wait, so that a reading read with the wrong one is not trusted alone.
            learnt = math.log((1 - _UNLIKE) / len(belief.shares))
            shares = [(share, learnt) for share in belief.shares] + list(_ANY_SHARES)
        else:
            shares = [(share, 0.0) for share in belief.shares]
        for share, prior in shares:
            run = age / (progress + share * (1 - progress))
            queued = share * run
            # (A run past 1e200 s says nothing, and its spread would pass a float's range.)
            if not earliest <= queued <= latest or run > 1e200:
                continue
            weight = prior + math.log(run * (1 - share))
            if trusted:
                weight -= 0.5 * (math.log(run) - belief.centre) ** 2 / apart
            if before is not None:
                then = (before[0] - queued) / (run - queued)
                weight -= 0.5 * ((before[1] - then) / _READING_ERROR) ** 2
            centres.append(math.log(run))
            weights.append(weight)
        if not centres:
            return None
        if narrowed:
            # The pace between the last two readings speaks too (half-way in log time, as
            # for the predicted end), and the learnt runs narrow each end.
            recent = self._recent_end()
            if 0 < recent < math.inf:
                centres = [0.5 * (c + math.log(recent)) for c in centres]
            own, learnt_weight = 1 / spread**2, 1 / belief.spread**2
            centres = [by_precision(c, own, belief.centre, learnt_weight)[0] for c in centres]
            spread = by_precision(0.0, own, 0.0, learnt_weight)[1]
        # Each end costs time at every step of placing the poll: ends a thousand times less
        # likely than the likeliest are left out, and ends closer than half their spread
        # are taken together.
        top = max(weights)
        kept: list[list[float]] = []  # [centre, weight]
        for centre, log_weight in sorted(zip(centres, weights, strict=True)):
            weight = math.exp(log_weight - top)
            if weight < 1e-3:
                continue
            if kept and centre - kept[-1][0] < 0.5 * spread:
                merged = kept[-1][1] + weight
                kept[-1] = [(kept[-1][0] * kept[-1][1] + centre * weight) / merged, merged]
            else:
                kept.append([centre, weight])
        total = sum(w for _, w in kept)
        return Ends(tuple(c for c, _ in kept), tuple(w / total for _, w in kept), spread)

    def _next_age(self, age: float) -> float:
        s = self._schedule
        belief = self._estimator.belief(self._model)
        last = self._last_poll
        if belief is None:  # a model without figures, not yet seen to end
            return max(age + min(max(0.15 * age, 0.5), s.max_interval), last + s.min_interval)
        # Requests are worth less against long runs: aim closer (the cost is proportional).
        closer = min(1.0, s.long_run / math.exp(belief.centre))
        lag_target = s.lag_target * closer

        def gap(base: float, floor: float) -> float:
            return max(base * math.pow(closer, 0.75), floor * s.min_interval)

        predicted = self._predicted_end()
        rising_to = predicted if self._rose else None  # the end its rising progress predicts
        spaced = math.inf
        if belief.probability(last) > 0.995:
            # Later than anything learnt allows: the task queued long, is stuck, or the
            # service slowed. Spare the rate limit more and more.
            lateness = max(0.0, last - belief.quantile(0.995))
            if rising_to is not None and rising_to <= last:
                # Past the end its rising progress predicted: late only by that much (a task
                # that rose to 0.99 there is about to end; one held there is spared again).
                lateness = min(lateness, last - rising_to)
            pause = min(gap(s.max_gap, 1.75) + 0.5 * lateness, s.max_interval)
            spaced = max(age, last + max(pause, s.min_interval))
            if rising_to is None or rising_to <= last:
                return spaced
            # Its progress still rises: it is not stuck, and may just be a long one (the
            # first tasks of a model to end are its shortest). What is learnt is wrong about
            # this task: its progress alone may place the next poll sooner, as below; never
            # later.
        # Once a task reports progress, its polls are placed by the ends its last reading
        # allows (_ends); not when that reading did not rise (the pace stalled: an even pace
        # says nothing), nor for a model whose runs vary e-fold and more (nothing learnt to
        # weigh the ends by), nor for a late task (what was learnt is wrong about it: its
        # readings alone place it, below) unless it has just reached 0.99. Nor once those
        # ends have all passed, or the pace between its last two readings says it ends far
        # later (a newer reading, or the rules for late tasks, will say more).
        if belief.spread > 1 or not (self._rose or len(self._readings) == 1):
            ends = None
        elif spaced == math.inf:
            ends = self._ends(belief, narrowed=closer < 1)
        elif self._at_end:
            ends = self._ends(belief, trusted=False)
        else:
            ends = None
        if ends is not None and (
            ends.probability(last) > 0.999 or not ends.may_end_by(self._recent_end() / _SLOWER)
        ):
            ends = None
        if ends is not None:
            if closer < 1:
                # A long run: the quantiles below, of these ends.
                target = min(ends.quantile(s.aim, last), ends.quantile(0.5, last) + lag_target)
            else:
                # A short run, most often seen with one reading: where one more request is
                # worth request_worth of lag.
                target = ends.worth_polling(last, 1 / max(s.request_worth, 1e-3))
            # A reading may imply a run far off anything learnt (progress near 0 implies one
            # without end), and the pace is uneven: never more than max_interval after the
            # last poll, or half-way to where the task may end if that is later (a reading
            # then places the rest) and short of where the learnt runs have surely ended.
            earliest = ends.lowest(s.may_be_done, last)
            halfway = 0.5 * (last + earliest)
            if halfway > last + s.max_interval:  # (else the learnt runs' bound cannot bind)
                halfway = min(halfway, belief.quantile(0.999, last))
            target = min(target, max(last + s.max_interval, halfway))
            # (The gap as near a learnt end: the task's own progress speaks for the pace of
            # the service, whatever the figures say.)
            max_gap = gap(s.max_gap, 1.25)
            if target > earliest + max_gap:  # (else it cannot bind)
                target = min(target, max(last, ends.quantile(s.may_be_done, last)) + max_gap)
        else:
            # Near a learnt end the gap may shrink further than before the first run is seen.
            max_gap = gap(s.max_gap, 1.25) if belief.runs else gap(s.first_gap, 1.75)
            # Past where the learnt runs say it has surely ended, a task is late, and polled as
            # one: a prediction from progress must not push a poll beyond that (a reading that
            # barely rose predicts an end hours away, and the task would wait that long).
            surely_ended = belief.quantile(0.999, last) if spaced == math.inf else math.inf
            if predicted is not None and predicted > last:
                # Narrow the belief with the prediction (both log-normal, weighed by precision).
                # A prediction from little progress is rough: the queue wait and the rate vary.
                # (The progress it was made from: a later reading of 0.99 or more made none.)
                progress = self._readings[-1][1]
                error = max(s.progress_error * (1 - progress) / math.sqrt(progress), 0.05)
                weight = 0.0 if spaced < math.inf else 1 / belief.spread**2
                centre, spread = by_precision(
                    belief.centre, weight, math.log(predicted), 1 / error**2
                )
                belief = Belief(centre, spread, belief.queue, belief.runs)
            may_be_done = belief.quantile(s.may_be_done, last)
            aimed = min(belief.quantile(s.aim, last), belief.quantile(0.5, last) + lag_target)
            target = min(aimed, max(last, may_be_done) + max_gap, surely_ended)
        if self._long and target - last > s.min_interval:
            # Long models are probed too: a refused or failed task is seen early.
            probe = s.probe_first
            while probe <= last:
                probe *= 3
            if probe < target - s.min_interval:
                target = probe
        return min(max(target, last + s.min_interval, age), spaced)


# How uneven a task's pace is taken to be: the end a reading implies is off by this share of
# the part left to generate, and by _PACE_FLOOR at least (log scale). _READING_ERROR: how far
# an earlier reading may be from what an even pace gives. _SLACK: seconds either way of when
# generation is known to have started.
_PACE_SPREAD: Final = 0.08
_PACE_FLOOR: Final = 0.03
_READING_ERROR: Final = 0.08
_SLACK: Final = 0.05
# How much slower than the ends of a reading the pace between two readings may say it is
# (the pace of a stretch varies), before those ends are taken to be wrong.
_SLOWER: Final = 2.0
# How much of a long run's possible ends goes to queue waits unlike the recent ones, and
# those waits: shares of the run spread evenly over 0-95%.
_UNLIKE: Final = 0.3
_ANY_SHARES: Final = tuple(
    ((k + 0.5) / _SHARES * _MAX_SHARE, math.log(_UNLIKE / _SHARES)) for k in range(_SHARES)
)
