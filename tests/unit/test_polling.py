"""Waiting for a task: the schedule, what each status means, deadlines, resuming."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import statistics
from collections.abc import Callable, Sequence

import httpx
import pytest
from flux2_fakes import BASE, FakeBFL, Runner, result_url

import flux2
from flux2 import decisions
from flux2.decisions import EXPECTED_SECONDS, PollSchedule
from flux2.decisions._lognormal import Ends
from flux2.decisions.polling import PollEstimator, PollPlan
from flux2.emulator._timing import Shape, TaskTiming, Timing
from flux2.types import TaskResult

# -- the schedule, simulated: no clock, no network -------------------------------------------


@dataclasses.dataclass
class Outcome:
    lag: float
    polls: int


def _look(timing: TaskTiming, started: float, now: float) -> TaskResult:
    """What a poll at ``now`` finds, the way the emulator answers (its progress included)."""
    seconds, shape = timing.seconds, timing.shape
    queued = seconds * shape.queue_share
    if now - started >= seconds:
        return TaskResult("t", "Ready", start_time=started + queued, end_time=started + seconds)
    if now - started < queued:
        return TaskResult("t", "Pending", progress=0.0)
    fraction = (now - started - queued) / (seconds - queued)
    return TaskResult("t", "Generating", progress=round(min(0.99, shape.progress(fraction)), 3))


def simulate(
    model: str,
    timings: Sequence[TaskTiming],
    *,
    concurrency: int = 1,
    estimator: PollEstimator | None = None,
    round_trip: float = 0.01,
) -> list[Outcome]:
    """One client waiting for ``timings`` tasks, ``concurrency`` at a time, on simulated time."""
    estimator = estimator or PollSchedule().estimator()
    queue: list[tuple[float, int]] = []
    waiting = list(enumerate(timings))[::-1]
    running: dict[int, tuple[float, PollPlan, list[int]]] = {}
    outcomes: dict[int, Outcome] = {}

    def start(now: float) -> None:
        if waiting:
            k, _ = waiting[-1]
            waiting.pop()
            plan = estimator.plan(model, now, now)
            running[k] = (now, plan, [0])
            heapq.heappush(queue, (now + plan.delay(now), k))

    for _ in range(concurrency):
        start(0.0)
    while queue:
        at, k = heapq.heappop(queue)
        started, plan, polls = running[k]
        polls[0] += 1
        assert polls[0] < 1000
        # The service reads the task half a round trip after the poll is sent, and its clock
        # started half a round trip before the submission's answer arrived (``started``): in
        # the client's time, what the answer shows is the task as of its arrival.
        now = at + round_trip
        result = _look(timings[k], started, now)
        plan.observe(now, result)
        if result.status == "Ready":
            outcomes[k] = Outcome(now - started - timings[k].seconds, polls[0])
            start(now)
        else:
            heapq.heappush(queue, (now + plan.delay(now), k))
    return [outcomes[k] for k in range(len(timings))]


def fixed_polling(timings: Sequence[TaskTiming], interval: float = 0.5) -> list[Outcome]:
    """BFL's quick-start loop: sleep ``interval``, poll, repeat."""
    outcomes = []
    for timing in timings:
        polls = math.ceil(timing.seconds / interval)
        outcomes.append(Outcome(polls * interval - timing.seconds + 0.01, polls))
    return outcomes


def _draw(profile: str, model: str, n: int, seed: int = 1) -> list[TaskTiming]:
    timing = Timing(profile, seed)
    return [timing.draw(model) for _ in range(n)]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.parametrize("profile", ["expected", "faster", "slower"])
@pytest.mark.parametrize("model", sorted(EXPECTED_SECONDS))
def test_against_fixed_half_second_polling_in_every_profile(profile: str, model: str) -> None:
    """40 tasks, 10 at a time, the first 10 before anything is learnt: a median lag no worse
    than fixed 0.5 s polling (with a 0.05 s margin for the draw), p90 under 1 s, and at most
    40% of its requests."""
    timings = _draw(profile, model, 40)
    ours = simulate(model, timings, concurrency=10)
    fixed = fixed_polling(timings)
    lag = statistics.median(o.lag for o in ours)
    assert lag <= statistics.median(o.lag for o in fixed) + 0.05
    assert _quantile([o.lag for o in ours], 0.9) < 1.0
    assert sum(o.polls for o in ours) <= 0.4 * sum(o.polls for o in fixed)


@pytest.mark.parametrize("model", sorted(EXPECTED_SECONDS))
def test_a_wide_spread_of_run_times_stays_near_the_goal(model: str) -> None:
    """Runs spread by 30%: median lag within 0.05 s of fixed 0.5 s polling, p90 under 1.2 s,
    at most half of its requests (the goal, 1 s and 40%, is met for most models; BENCHMARKS.md
    has the figures)."""
    timings = _draw("wide", model, 40)
    ours = simulate(model, timings, concurrency=10)
    fixed = fixed_polling(timings)
    lag = statistics.median(o.lag for o in ours)
    assert lag <= statistics.median(o.lag for o in fixed) + 0.05
    assert _quantile([o.lag for o in ours], 0.9) < 1.2
    assert sum(o.polls for o in ours) <= 0.5 * sum(o.polls for o in fixed)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("model", ["flex", "pro"])
def test_long_runs_with_a_wide_spread_meet_the_goal(model: str, seed: int) -> None:
    """Runs spread by 30% and queued 5-50% of their run: once a task's progress rises, its
    possible ends place its polls, each narrowed by the learnt runs. The goal holds (median
    lag no worse than fixed 0.5 s polling, p90 under 1 s, at most 40% of its requests); pro
    takes at most 36% (0.37-0.38x when its progress only narrowed one predicted end)."""
    timings = _draw("wide", model, 40, seed=seed)
    ours = simulate(model, timings, concurrency=10)
    fixed = fixed_polling(timings)
    assert statistics.median(o.lag for o in ours) <= statistics.median(o.lag for o in fixed)
    assert _quantile([o.lag for o in ours], 0.9) < 1.0
    share = 0.36 if model == "pro" else 0.4
    assert sum(o.polls for o in ours) <= share * sum(o.polls for o in fixed)


@pytest.mark.parametrize("factor", [0.5, 2.0])
@pytest.mark.parametrize("model", ["klein-4b", "pro", "max"])
def test_a_prior_twice_too_slow_or_fast_is_unlearnt_within_three_tasks(
    model: str, factor: float
) -> None:
    """The service runs 2x faster or slower than the built-in figures: one task at a time,
    the estimate is within 15% after three tasks, and from the fourth on every task is seen
    within 0.8 s, at most one poll more than with the right figures."""
    profile = "faster" if factor < 1 else "slower"
    timings = _draw(profile, model, 12)
    estimator = PollSchedule().estimator()
    outcomes = simulate(model, timings[:3], estimator=estimator)
    belief = estimator.belief(model)
    assert belief is not None
    typical = statistics.median(t.seconds for t in timings)
    assert math.exp(belief.centre) == pytest.approx(typical, rel=0.15)
    later = simulate(model, timings[3:], estimator=estimator)
    assert max(o.lag for o in later) < 0.8
    right = PollSchedule(expected={m: (f * factor, f * factor) for m, (f, _) in _FIGURES})
    informed = simulate(model, timings[3:], estimator=right.estimator())
    assert sum(o.polls for o in later) <= sum(o.polls for o in informed) + len(later)
    assert len(outcomes) == 3


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("model", ["klein-4b", "klein-9b"])
def test_the_first_wave_is_seen_soon_when_the_service_runs_faster_than_the_figures(
    model: str, seed: int
) -> None:
    """Ten tasks start at once before anything is learnt, on a service 2x faster than the
    built-in figures: nothing can be learnt from the others in time, so each is polled soon
    after it may be done (``first_gap``) and seen within 0.7 s, with one poll each."""
    timings = _draw("faster", model, 10, seed=seed)
    outcomes = simulate(model, timings, concurrency=10)
    assert max(o.lag for o in outcomes) < 0.7
    assert all(o.polls == 1 for o in outcomes)


_FIGURES = [(m, (Timing("steady").draw(m).seconds, 0.0)) for m in EXPECTED_SECONDS]


def test_progress_is_counted_from_the_end_of_the_queue() -> None:
    """A task queued for half its time, then generating: 40% progress 2 s after it started
    means about 3 s to go, not 40% of its age."""
    estimator = PollSchedule().estimator()
    for _ in range(3):  # earlier tasks of the model: 10 s, queued 5 s of them
        plan = estimator.plan("pro", 0.0, 0.0)
        plan.observe(11.0, TaskResult("t", "Ready", start_time=5.0, end_time=10.0))
    belief = estimator.belief("pro")
    assert belief is not None
    assert belief.queue == pytest.approx(5.0)
    plan = estimator.plan("pro", 0.0, 0.0)
    plan.observe(4.0, TaskResult("t", "Pending", progress=0.0))
    plan.observe(7.0, TaskResult("t", "Generating", progress=0.4))
    predicted = plan._predicted_end()
    assert predicted == pytest.approx(5.0 + 2.0 / 0.4)


def test_no_polls_while_a_task_is_surely_not_done() -> None:
    plan = PollSchedule().estimator().plan("klein-4b", 0.0, 0.0)
    assert 1.2 < plan.delay(0.0) < 2.6
    plan = PollSchedule().estimator().plan("flux-2-flex", 100.0, 100.0)
    assert 3.5 < plan.delay(100.0) < 6.7


def test_long_tasks_are_probed_early_for_instant_failures() -> None:
    plan = PollSchedule().estimator().plan("max", 0.0, 0.0)
    ages = [0.0]
    while ages[-1] < 30:
        ages.append(ages[-1] + plan.delay(ages[-1]))
        plan.observe(ages[-1], TaskResult("t", "Pending", progress=0.0))
    assert ages[1:4] == pytest.approx([2.0, 6.0, 18.0])


def test_late_tasks_are_polled_less_and_less_up_to_a_cap() -> None:
    schedule = PollSchedule()
    plan = schedule.estimator().plan("flex", 0.0, 0.0)
    age, delays = 0.0, []
    while age < 400:
        delays.append(plan.delay(age))
        age += delays[-1]
        plan.observe(age, TaskResult("t", "Pending", progress=0.0))
    late = delays[-40:]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(late))
    assert late[-1] == pytest.approx(schedule.max_interval)
    assert len(delays) < 400 / 1.0 / 2


def _taught(model: str, runs: Sequence[float], queue: float) -> PollEstimator:
    estimator = PollSchedule().estimator()
    for seconds in runs:
        plan = estimator.plan(model, 0.0, 0.0)
        plan.observe(seconds + 0.05, TaskResult("t", "Ready", start_time=queue, end_time=seconds))
    return estimator


def _observed(plan: PollPlan, readings: Sequence[tuple[float, float]]) -> float:
    """Feed ``(age, progress)`` readings to ``plan``; the age of its next poll."""
    for age, progress in readings:
        status = "Generating" if progress > 0 else "Pending"
        plan.observe(age, TaskResult("t", status, progress=progress))
    return readings[-1][0] + plan.delay(readings[-1][0])


def test_a_late_task_whose_progress_rises_is_polled_at_its_predicted_end() -> None:
    """The first tasks of a model to end are its shortest: a longer one looks late against
    them, but while its progress keeps rising it is not stuck, and its readings (here: the
    end is 0.06 s away) place the next poll, not the spacing kept for late tasks."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    rising = [(1.74, 0.343), (2.91, 0.926), (3.17, 0.986)]
    assert _observed(estimator.plan("klein-4b", 0.0, 0.0), rising) < 3.17 + 0.4
    # The same task with its progress stalled is polled as a late one.
    stalled = [(1.74, 0.343), (2.91, 0.926), (3.17, 0.926)]
    assert _observed(estimator.plan("klein-4b", 0.0, 0.0), stalled) > 3.17 + 0.6


def test_a_late_task_whose_progress_crawls_is_still_polled_at_least_every_max_interval() -> None:
    """Rising progress may bring a late task's next poll forward, never push it back: at
    this rate it would end in about a minute, and it is looked at within ``max_interval``."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    crawling = [(1.74, 0.1), (2.9, 0.11), (3.5, 0.115)]
    next_poll = _observed(estimator.plan("klein-4b", 0.0, 0.0), crawling)
    assert 3.5 + 0.3 < next_poll <= 3.5 + PollSchedule().max_interval


def test_a_late_task_whose_progress_reached_its_predicted_end_is_looked_at_soon() -> None:
    """A task four times as long as the learnt ones, its progress rising evenly to 0.99 at
    its predicted end (10.3 s): it is about to end, and is looked at again within a second,
    not after the 5 s kept for late tasks. Held at 0.99 long past that end, it is spared
    more and more again."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    readings = [(age, round((age - 0.3) / 10, 3)) for age in (6.0, 7.0, 8.0, 9.0, 10.0)]
    readings.append((10.3, 0.99))
    plan = estimator.plan("klein-4b", 0.0, 0.0)
    assert _observed(plan, readings) < 10.3 + 1.0
    held = [(10.3 + 2 * k, 0.99) for k in range(1, 11)]
    assert _observed(plan, held) == pytest.approx(30.3 + PollSchedule().max_interval)


def test_a_task_polled_for_hours_keeps_only_the_readings_a_prediction_uses() -> None:
    """Each poll weighs the last readings, not every reading since the start: a task polled
    tens of thousands of times costs no more per poll, nor more memory, than a new one."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    plan = estimator.plan("klein-4b", 0.0, 0.0)
    readings = [(0.25 * k, min(0.995, 0.1 + k * 5e-5)) for k in range(1, 20_001)]
    next_poll = _observed(plan, readings)
    assert len(plan._readings) <= 2
    assert readings[-1][0] + 0.2 <= next_poll <= readings[-1][0] + PollSchedule().max_interval


def _polls_until(plan: PollPlan, until: float, progress: Callable[[int], float]) -> int:
    """Poll ``plan`` on simulated time until ``until`` s; the k-th poll reads progress(k)."""
    now, polls = 0.0, 0
    while now < until:
        now += plan.delay(now)
        plan.observe(now, TaskResult("t", "Generating", progress=progress(polls)))
        polls += 1
    return polls


def test_progress_going_back_and_forth_does_not_poll_a_late_task_more_than_a_stuck_one() -> None:
    """Progress alternating between 0.5 and 0.98 "rises" every other poll, but never past
    where it was: the task is no more moving than one stuck at 0.5, and gets no more polls
    (each rise placed the next poll at its 'predicted end', 60% more polls over 10 min)."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    stuck = _polls_until(estimator.plan("klein-4b", 0.0, 0.0), 600, lambda k: 0.5)
    alternating = _polls_until(
        estimator.plan("klein-4b", 0.0, 0.0), 600, lambda k: 0.98 if k % 2 else 0.5
    )
    assert alternating <= stuck * 1.1


def test_a_prediction_from_little_progress_is_not_trusted_for_a_later_reading_of_99() -> None:
    """0.03 at 3 s says little about the end (0.99 at the next poll says it is near, but
    readings that high predict nothing): the prediction from 0.03 (some 50 s) is as rough
    as 0.03 makes it, not as sure as 0.99 would, and the task is not left for 46 s."""
    plan = PollSchedule().estimator().plan("flex", 0.0, 0.0)
    assert _observed(plan, [(1.0, 0.0), (3.0, 0.03), (7.5, 0.99)]) < 7.5 + 5


@pytest.mark.parametrize("scale", [1e-9, 1e-300])
def test_vanishingly_small_rising_progress_gives_a_finite_delay(scale: float) -> None:
    """Progress of 1e-9 predicts an end far beyond any float's range: it must not raise
    nor stop the polling, late or not."""
    estimator = _taught("klein-4b", [1.94, 2.15, 2.38, 2.38, 2.5], queue=0.3)
    late = [(1.74, scale), (2.9, 2 * scale), (3.5, 3 * scale)]
    next_poll = _observed(estimator.plan("klein-4b", 0.0, 0.0), late)
    assert 3.5 + 0.2 <= next_poll <= 3.5 + PollSchedule().max_interval
    early = [(0.5, scale), (0.8, 2 * scale)]
    next_poll = _observed(estimator.plan("klein-4b", 0.0, 0.0), early)
    assert 0.8 + 0.2 <= next_poll <= 0.8 + PollSchedule().max_interval


@pytest.mark.parametrize("factor", [2, 3])
def test_a_service_that_slows_down_is_followed_by_the_progress_of_its_first_slow_task(
    factor: float,
) -> None:
    """Eight tasks took 2.5 s; the next takes 2 or 3 times as long. What was learnt is wrong
    for it, its rising progress is not: it is seen within 0.5 s of its end, with about as
    many polls as a late task gets (not one every ``min_interval`` while the learnt times
    say it is overdue: 11 and 21 polls)."""
    estimator = PollSchedule().estimator()
    even = Shape(queue_share=0.1)
    simulate("klein-4b", [TaskTiming(2.5, even)] * 8, estimator=estimator, round_trip=0.05)
    [slow] = simulate("klein-4b", [TaskTiming(2.5 * factor, even)], estimator=estimator)
    assert slow.lag < 0.5
    assert slow.polls <= 2 * factor + 1


def test_one_slow_stretch_of_progress_does_not_push_the_next_poll_far_past_the_end() -> None:
    """Progress is uneven: between the last two readings this task ran at a third of its mean
    rate. At that rate alone it would end at 103 s and be polled near 82 s; its mean rate
    since it left the queue says 76 s, and it ends at 73.4 s."""
    estimator = _taught("max", [73.1, 72.0, 90.6, 71.8, 82.6, 74.3, 72.0], queue=6.3)
    readings = [(2.0, 0.0), (6.0, 0.0), (18.0, 0.167), (30.36, 0.392), (39.98, 0.591)]
    readings += [(46.91, 0.636), (54.0, 0.682)]
    assert 60 < _observed(estimator.plan("max", 0.0, 0.0), readings) < 76


def _taught_shares(model: str, runs: Sequence[float], share: float) -> PollEstimator:
    """An estimator that saw tasks of ``runs`` seconds, each queued ``share`` of its run."""
    estimator = PollSchedule().estimator()
    for run in runs:
        plan = estimator.plan(model, 0.0, 0.0)
        plan.observe(run + 0.05, TaskResult("t", "Ready", start_time=share * run, end_time=run))
    return estimator


_KLEIN_RUNS = (2.2, 2.6, 3.0, 2.4, 2.8, 2.6, 2.3, 2.9)


@pytest.mark.parametrize(("share", "ends"), [(0.1, 1.95 / 0.55), (0.4, 1.95 / 0.7)])
def test_a_short_run_reading_is_read_with_the_queue_waits_learnt(share: float, ends: float) -> None:
    """Half done at 1.95 s: a task that queued 10% of its run (as its model's tasks do) ends
    at 3.55 s, one that queued 40% at 2.79 s. The next poll comes just after that end, not
    at one guess of the queue wait for both."""
    estimator = _taught_shares("klein-4b", _KLEIN_RUNS, share)
    next_poll = _observed(estimator.plan("klein-4b", 0.0, 0.0), [(1.95, 0.5)])
    assert ends <= next_poll <= ends + 0.3


@pytest.mark.parametrize("progress", [5e-324, 1e-308, 1e-300, 1e-9, 1e-3, 0.02])
def test_a_short_run_reading_near_zero_does_not_put_the_next_poll_past_the_learnt_runs(
    progress: float,
) -> None:
    """Tasks seen to start generating at once (no queue wait) and a first reading near 0 at
    1.6 s: even progress would end such a task in minutes or never. It is looked at again
    within ``max_interval``, as a late task is, and so on after."""
    estimator = _taught_shares("klein-4b", _KLEIN_RUNS, 0.0)
    plan = estimator.plan("klein-4b", 0.0, 0.0)
    next_poll = _observed(plan, [(1.6, progress)])
    assert 1.8 <= next_poll <= 1.6 + PollSchedule().max_interval
    after = _observed(plan, [(next_poll, progress * 1.01)])
    assert after <= next_poll + PollSchedule().max_interval


_MAX_RUNS = (38.0, 40.0, 36.0, 41.0, 39.0, 37.0, 40.0, 38.0)


def test_a_long_run_reading_far_from_the_end_is_followed_half_way_to_it() -> None:
    """A max task (runs of 36-41 s learnt) 10% done at 6 s: it may end at about 32 s at the
    earliest. The next poll comes half-way there (a reading then says more), not one every
    ``max_interval`` until then, and not at the end."""
    estimator = _taught_shares("max", _MAX_RUNS, 0.1)
    next_poll = _observed(estimator.plan("max", 0.0, 0.0), [(2.0, 0.0), (6.0, 0.1)])
    assert 6.0 + PollSchedule().max_interval < next_poll < 25.0


@pytest.mark.parametrize("progress", [5e-324, 1e-300, 1e-9, 1e-3])
def test_a_long_run_reading_near_zero_does_not_put_the_next_poll_past_the_learnt_runs(
    progress: float,
) -> None:
    """A max task barely started at 6 s: even progress would end it in hours or never. The
    next poll comes before where the learnt runs say it has surely ended, and each after it
    within ``max_interval`` or half-way to that, whichever is later."""
    estimator = _taught_shares("max", _MAX_RUNS, 0.1)
    belief = estimator.belief("max")
    assert belief is not None
    plan = estimator.plan("max", 0.0, 0.0)
    next_poll = _observed(plan, [(2.0, 0.0), (6.0, progress)])
    assert 6.2 <= next_poll <= belief.quantile(0.999, 6.0)
    after = _observed(plan, [(next_poll, progress * 1.01)])
    assert after <= max(next_poll + PollSchedule().max_interval, belief.quantile(0.999))


def _taught_runs(model: str, runs: Sequence[float], shares: Sequence[float]) -> PollEstimator:
    """An estimator that saw tasks of ``runs`` seconds, queued ``shares`` of each."""
    estimator = PollSchedule().estimator()
    for run, share in zip(runs, shares, strict=True):
        plan = estimator.plan(model, 0.0, 0.0)
        plan.observe(run + 0.05, TaskResult("t", "Ready", start_time=share * run, end_time=run))
    return estimator


_SHARES = (0.05, 0.25, 0.1, 0.2, 0.15, 0.08, 0.22, 0.12)


@pytest.mark.parametrize("share", [0.7, 0.75])
def test_a_long_run_queued_longer_than_the_recent_ones_is_seen_soon(share: float) -> None:
    """Flex tasks queued 5-25% of their 7-9 s runs; then one queues 70-75% (a backlog) and
    its progress rises evenly. Read with the recent queue waits alone, its first reading puts
    its end seconds later than it is (seen 0.9-1.3 s late); it is seen within 0.5 s."""
    estimator = _taught_runs("flex", (8.0, 7.2, 8.8, 7.6, 8.4, 8.0, 7.4, 8.6), _SHARES)
    [task] = simulate("flex", [TaskTiming(8.0, Shape(queue_share=share))], estimator=estimator)
    assert task.lag < 0.5


def test_a_long_run_whose_pace_slowed_is_not_polled_at_its_earlier_pace() -> None:
    """Pro tasks took 12-14 s. This one read 0.4 at 6 s and 0.55 at 9 s: at the pace between
    the two it ends at 18 s, at its mean pace near 13 s. The next poll comes later than the
    mean pace alone would put it (12.5 s), before the slow pace's end."""
    estimator = _taught_runs("pro", (13.0, 12.2, 13.8, 12.6, 13.4, 13.0, 12.4, 13.6), _SHARES)
    readings = [(2.0, 0.0), (6.0, 0.4), (9.0, 0.55)]
    assert 13.0 < _observed(estimator.plan("pro", 0.0, 0.0), readings) < 18.0


def test_a_long_model_is_probed_while_its_progress_places_the_polls() -> None:
    """A max task on a service 2x slower than the figures (runs of about 78 s learnt), its
    progress rising from the first poll: it is still polled at the probes (2, 6, 18, 54 s),
    so a task that fails while generating is seen early, not after a pause of 23 s."""
    runs = tuple(78.0 * f for f in (1.0, 0.95, 1.05, 0.98, 1.02, 1.0, 0.97, 1.03))
    plan = _taught_runs("max", runs, _SHARES).plan("max", 0.0, 0.0)
    timing = TaskTiming(78.0, Shape(queue_share=0.02))
    now, ages = plan.delay(0.0), []
    while len(ages) < 100:
        result = _look(timing, 0.0, now)
        ages.append(round(now, 1))
        plan.observe(now, result)
        if result.status == "Ready":
            break
        now += plan.delay(now)
    assert ages[:4] == [2.0, 6.0, 18.0, 54.0]
    assert result.status == "Ready"


def test_a_short_run_reading_at_the_submit_or_with_a_large_queue_share_is_read_safely() -> None:
    """A reading at age 0 (the clock that polls is behind the one that submitted) implies no
    run; a queue_share whose three-fold passes 100% implies shares of a whole run and more.
    Neither raises, and each gives a poll within max_interval."""
    plan = _taught_shares("klein-4b", _KLEIN_RUNS, 0.1).plan("klein-4b", 0.0, 0.0)
    plan.observe(0.0, TaskResult("t", "Generating", progress=0.3))
    assert 0 < plan.delay(0.0) <= PollSchedule().max_interval
    for share in (0.356, 1.0, 5.0):
        fresh = PollSchedule(queue_share=share).estimator().plan("klein-4b", 0.0, 0.0)
        next_poll = _observed(fresh, [(1.6, 0.3)])
        assert 1.6 < next_poll <= 1.6 + PollSchedule().max_interval


_HOSTILE_PROGRESS: dict[str, Callable[[int], float]] = {
    "creeping on above 0.99": lambda k: (0.5, 0.5 + 1e-9)[k] if k < 2 else 0.99 + k * 1e-9,
    "rising, then creeping on above 0.99": lambda k: (0.3, 0.6)[k] if k < 2 else 0.99 + k * 1e-9,
    "creeping below 0.99": lambda k: min(0.97 + k * 1e-6, 0.9899),
    "back and forth at the end": lambda k: 0.99 if k % 2 else 0.98,
    "held at 0.98": lambda k: 0.98,
}


@pytest.mark.parametrize(
    "runs", [_KLEIN_RUNS, (1.5, 6.0) * 4], ids=["klein runs", "runs 1.5 and 6 s in turn"]
)
@pytest.mark.parametrize("share", [0.0, 0.1])
@pytest.mark.parametrize("pattern", sorted(_HOSTILE_PROGRESS))
def test_progress_that_never_ends_does_not_draw_polls_at_min_interval(
    pattern: str, share: float, runs: tuple[float, ...]
) -> None:
    """Progress that keeps rising a hair, stays put, or goes back and forth near the end,
    over an hour: each reading's even pace puts the end just ahead, but the pace between
    readings, or the stall, says otherwise; the task is polled as a late one (12 a minute
    at 5 s), not every min_interval (300 a minute)."""
    estimator = _taught_shares("klein-4b", runs, share)
    polls = _polls_until(estimator.plan("klein-4b", 0.0, 0.0), 3600, _HOSTILE_PROGRESS[pattern])
    assert polls <= 20 * 60


def test_a_task_that_reached_99_and_creeps_on_is_spared_from_its_first_minute() -> None:
    """Runs of 1.5 and 6 s learnt, a task read at 0.3 and 0.6, then 0.99 and a hair more at
    each poll: it rose to 0.99 once, and the ends its 0.6 reading allowed pass; it is not
    polled at each of them (60 polls in its first minute), but as a late task."""
    estimator = _taught_shares("klein-4b", (1.5, 6.0) * 4, 0.1)
    polls = _polls_until(
        estimator.plan("klein-4b", 0.0, 0.0),
        60,
        _HOSTILE_PROGRESS["rising, then creeping on above 0.99"],
    )
    assert polls <= 40


@pytest.mark.parametrize(
    ("model", "runs"), [("klein-4b", (1.5, 6.0) * 4), ("pro", (12.0, 14.0) * 4)]
)
def test_a_reading_that_barely_rose_does_not_put_the_next_poll_hours_away(
    model: str, runs: tuple[float, ...]
) -> None:
    """Read at 0.5, then at 0.5 and a billionth: that pace ends the task in years. Past
    where the learnt runs say it has surely ended it is late, and polled as one (it waited
    8.7 hours)."""
    estimator = _taught_shares(model, runs, 0.1)
    plan = estimator.plan(model, 0.0, 0.0)
    now = plan.delay(0.0)
    plan.observe(now, TaskResult("t", "Generating", progress=0.5))
    now += plan.delay(now)
    plan.observe(now, TaskResult("t", "Generating", progress=0.5 + 1e-9))
    assert plan.delay(now) < 60


def test_a_model_whose_runs_vary_e_fold_is_not_placed_by_the_ends_of_a_reading() -> None:
    """Runs taught as 0.3 s and 20 s in turn (a centre near klein's, nothing else learnt):
    progress chasing its own end (always about a second away) is polled as before, a dozen
    times a minute, not at every end a reading implies."""
    estimator = _taught_shares("klein-4b", (0.3, 20.0) * 4, 0.0)
    polls = _polls_until(
        estimator.plan("klein-4b", 0.0, 0.0), 600, lambda k: min(1 - 1 / (k * 0.5 + 2), 0.985)
    )
    assert polls <= 20 * 10


@pytest.mark.parametrize(
    ("start", "end"),
    [(math.nan, 2.5), (0.25, math.nan), (math.inf, 2.5), (0.25, math.inf), (0.25, -math.inf)],
)
def test_times_that_are_not_finite_numbers_teach_no_time(start: float, end: float) -> None:
    """JSON's NaN and Infinity parse as floats: a result giving them as its start or end time
    is learnt from what the client saw, and the next task is polled as after any other
    (a NaN end made every later pause 0)."""
    estimator = PollSchedule().estimator()
    for _ in range(4):
        plan = estimator.plan("klein-4b", 0.0, 0.0)
        plan.observe(2.6, TaskResult("t", "Ready", start_time=start, end_time=end))
    plan = estimator.plan("klein-4b", 0.0, 0.0)
    next_poll = _observed(plan, [(0.5, 0.0), (1.2, 0.5)])
    assert 1.2 + PollSchedule().min_interval <= next_poll <= 1.2 + PollSchedule().max_interval


def test_request_worth_trades_requests_for_lag() -> None:
    """Runs spread by 30%: a request worth more seconds of lag is spent less often."""
    timings = _draw("wide", "klein-4b", 40)
    outcomes = {
        worth: simulate(
            "klein-4b",
            timings,
            concurrency=10,
            estimator=PollSchedule(request_worth=worth).estimator(),
            round_trip=0.05,
        )
        for worth in (0.2, 0.8)
    }
    polls = {worth: sum(o.polls for o in found) for worth, found in outcomes.items()}
    lag = {worth: statistics.median(o.lag for o in found) for worth, found in outcomes.items()}
    assert polls[0.8] < 0.9 * polls[0.2]
    assert lag[0.8] > lag[0.2]


@pytest.mark.parametrize(
    ("centres", "weights", "spread"),
    [
        ((1.0,), (1.0,), 0.05),
        ((0.9, 1.1, 1.4), (0.2, 0.5, 0.3), 0.1),
        ((3.0, 3.02), (0.9, 0.1), 0.3),
    ],
)
def test_the_quick_bound_of_where_a_task_may_end_is_never_above_the_quantile(
    centres: tuple[float, ...], weights: tuple[float, ...], spread: float
) -> None:
    ends = Ends(centres, weights, spread)
    for after in (0.0, 2.0, 2.7, 3.0, 10.0, 30.0):
        for q in (0.02, 0.5):
            assert ends.lowest(q, after) <= ends.quantile(q, after) * (1 + 1e-3)


def test_a_model_without_figures_is_polled_relative_to_its_age_until_learnt() -> None:
    estimator = PollSchedule().estimator()
    plan = estimator.plan("flux-2-ultra-new", 0.0, 0.0)
    assert plan.delay(1.0) == 0.5
    assert plan.delay(20.0) == pytest.approx(3.0)
    assert estimator.plan(None, 0.0, 0.0).delay(1000.0) == PollSchedule().max_interval
    plan.observe(20.5, TaskResult("t", "Ready", start_time=1.0, end_time=20.0))
    learnt = estimator.plan("flux-2-ultra-new", 0.0, 0.0)
    assert 10 < learnt.delay(0.0) < 20


def test_a_resumed_task_is_looked_at_at_once_and_teaches_nothing() -> None:
    estimator = PollSchedule().estimator()
    plan = estimator.plan("pro", None, 500.0)
    assert plan.delay(500.0) == 0
    plan.observe(500.1, TaskResult("t", "Ready", start_time=0.0, end_time=1.0))
    assert estimator.belief("pro") == PollSchedule().estimator().belief("pro")


def test_each_estimator_learns_alone() -> None:
    schedule = PollSchedule()
    one, other = schedule.estimator(), schedule.estimator()
    simulate("pro", _draw("faster", "pro", 4), estimator=one)
    assert one.belief("pro") != other.belief("pro")
    assert other.belief("pro") == schedule.estimator().belief("pro")


def test_scale_shrinks_every_figure() -> None:
    full = PollSchedule().estimator().plan("flex", 0.0, 0.0)
    tiny = PollSchedule(scale=0.01).estimator().plan("flex", 0.0, 0.0)
    for age in (0.0, 1.0, 5.0, 6.5, 8.0, 30.0):
        assert tiny.delay(age * 0.01) == pytest.approx(full.delay(age) * 0.01)


def test_scale_zero_never_pauses() -> None:
    plan = PollSchedule(scale=0).estimator().plan("max", 0.0, 0.0)
    assert plan.delay(0.0) == 0
    plan.observe(0.001, TaskResult("t", "Generating", progress=0.5))
    assert plan.delay(0.001) == 0


def test_wait_reports_progress_and_returns_the_image(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        {"status": "Pending", "progress": 0.2},
        {"status": "Generating", "progress": 0.7},
        {"status": "Ready"},
    ]
    seen: list[flux2.TaskResult] = []
    task = run("submit", "a fox", model="klein-4b")
    image = run("wait", task, on_progress=seen.append)
    assert [(r.status, r.progress) for r in seen] == [
        ("Pending", 0.2),
        ("Generating", 0.7),
        ("Ready", None),
    ]
    assert image.task_id == task.id
    assert image.seed == 42
    assert image.prompt == "upsampled prompt"
    assert image.cost == 10.0
    assert image.url == result_url(task.id)
    assert image.model == "klein-4b"
    # The first poll waits until the task may be done; none before.
    first = PollSchedule().estimator().plan("klein-4b", 0.0, 0.0).delay(0.0)
    assert api.times[1] - api.times[0] == pytest.approx(first)


def test_an_unknown_status_counts_as_in_flight_with_one_warning(
    run: Runner, api: FakeBFL, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions.status, "_warned_statuses", set())
    api.polls = [{"status": "Dreaming"}, {"status": "Dreaming"}, {"status": "Ready"}]
    with caplog.at_level(logging.WARNING, logger="flux2"):
        run("generate", "a fox")
        run("generate", "another fox")
    warnings = [r for r in caplog.records if "Dreaming" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not once per poll or per task
    assert len(api.polls_made()) == 6


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("Error", flux2.TaskFailedError),
        ("Failed", flux2.TaskFailedError),
        ("Request Moderated", flux2.RequestModeratedError),
        ("Content Moderated", flux2.ContentModeratedError),
        ("Task not found", flux2.TaskNotFoundError),
    ],
)
def test_terminal_statuses_end_the_wait_at_once(
    run: Runner, api: FakeBFL, status: str, error: type[flux2.TaskError]
) -> None:
    api.polls = [
        {"status": "Pending"},
        {"status": status, "details": {"error": "the reason"}},
        {"status": "Ready"},
    ]
    with pytest.raises(error) as caught:
        run("generate", "a fox")
    assert caught.value.task_id == "task-1"
    assert caught.value.status == status
    assert caught.value.details == {"error": "the reason"}
    assert "the reason" in str(caught.value)
    assert len(api.polls_made()) == 2


def test_a_422_poll_whose_body_is_a_task_is_read_as_that_task(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        httpx.Response(
            422,
            json={"status": "Error", "details": {"error": "Invalid or corrupted image input"}},
        )
    ]
    with pytest.raises(flux2.TaskFailedError, match="Invalid or corrupted image input") as caught:
        run("generate", "a fox")
    assert caught.value.task_id == "task-1"
    assert len(api.polls_made()) == 1


def test_a_422_poll_with_a_validation_body_is_a_validation_error(run: Runner, api: FakeBFL) -> None:
    detail = [{"loc": ["query", "id"], "msg": "field required", "type": "missing"}]
    api.polls = [httpx.Response(422, json={"detail": detail})]
    with pytest.raises(flux2.UnprocessableEntityError) as caught:
        run("generate", "a fox")
    assert caught.value.detail == detail
    assert "id: field required" in str(caught.value)


def test_a_503_poll_with_a_task_body_is_read_and_its_retry_after_honoured(
    run: Runner, api: FakeBFL
) -> None:
    api.polls = [
        httpx.Response(
            503, headers={"retry-after": "9"}, json={"id": "task-1", "status": "Pending"}
        ),
        {"status": "Ready"},
    ]
    run("generate", "a fox", model="klein-4b")
    poll_times = [
        t for t, r in zip(api.times, api.requests, strict=True) if r.url.path.endswith("get_result")
    ]
    assert poll_times[1] - poll_times[0] >= 9
    assert len(api.polls_made()) == 2


def test_a_503_poll_without_a_task_is_retried(run: Runner, api: FakeBFL) -> None:
    api.polls = [httpx.Response(503), {"status": "Ready"}]
    run("generate", "a fox")
    assert len(api.polls_made()) == 2


def test_the_wait_has_an_overall_deadline(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending", "progress": 0.1}]
    task = run("submit", "a fox", model="flex")
    start = api.clock.now
    with pytest.raises(flux2.TaskTimeoutError) as caught:
        run("wait", task, timeout=45)
    assert api.clock.now - start == pytest.approx(45)
    assert caught.value.task_id == task.id
    assert caught.value.status == "Pending"
    assert isinstance(caught.value, TimeoutError)
    assert "wait for it again" in str(caught.value)
    assert len(api.polls_made()) < 45 / 0.5 * 0.4


def test_the_client_default_deadline_applies(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending"}]
    run.client = run.client.with_options(wait_timeout=20)
    start = api.clock.now
    with pytest.raises(flux2.TaskTimeoutError):
        run("generate", "a fox")
    assert api.clock.now - start == pytest.approx(20)


def test_retry_after_on_a_poll_answer_is_honoured(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        httpx.Response(
            200, headers={"retry-after": "4"}, json={"id": "task-1", "status": "Pending"}
        ),
        {"status": "Ready"},
    ]
    run("generate", "a fox", model="klein-4b")
    polls = [
        t for t, r in zip(api.times, api.requests, strict=True) if r.url.path.endswith("get_result")
    ]
    assert polls[1] - polls[0] >= 4


def test_a_resumed_task_is_polled_at_once(run: Runner, api: FakeBFL) -> None:
    task = flux2.Task("task-9", "https://api.eu2.bfl.ai/v1/get_result?id=task-9", model="max")
    image = run("wait", task)
    assert api.clock.sleeps == []
    assert image.task_id == "task-9"
    assert api.polls_made()[0].url.host == "api.eu2.bfl.ai"


def test_a_task_persisted_earlier_is_polled_at_once(run: Runner, api: FakeBFL) -> None:
    task = flux2.Task.from_dict(
        {
            "id": "task-4",
            "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=task-4",
            "model": "max",
            "submitted_at": api.clock.now - 3600,
        }
    )
    run("wait", task)
    assert api.clock.sleeps == []


def test_wait_takes_a_polling_url_or_an_id(run: Runner, api: FakeBFL) -> None:
    assert run("wait", "https://api.eu2.bfl.ai/v1/get_result?id=task-7").task_id == "task-7"
    assert run("wait", "task-8").task_id == "task-8"
    assert str(api.polls_made()[-1].url) == f"{BASE}/v1/get_result?id=task-8"


def test_get_result_reads_once(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending", "progress": 0.5}]
    result = run(
        "get_result", flux2.Task("task-3", "https://api.eu2.bfl.ai/v1/get_result?id=task-3")
    )
    assert (result.id, result.status, result.progress, result.done) == (
        "task-3",
        "Pending",
        0.5,
        False,
    )
    assert len(api.requests) == 1


def test_a_task_ready_without_a_sample_is_a_response_error(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Ready", "result": {"seed": 1}}]
    with pytest.raises(flux2.APIResponseValidationError, match="no sample URL"):
        run("generate", "a fox")


def test_an_http_404_on_a_poll_is_not_found(run: Runner, api: FakeBFL) -> None:
    api.polls = [httpx.Response(404, json={"detail": "Not Found"})]
    with pytest.raises(flux2.NotFoundError):
        run("generate", "a fox")
    assert len(api.polls_made()) == 1


def test_a_webhook_task_is_polled_by_id_on_the_base_url(run: Runner, api: FakeBFL) -> None:
    task = run("submit", "a fox", webhook_url="https://hooks.example.com/bfl", webhook_secret="s")
    assert task.polling_url is None
    assert task.webhook_url == "https://hooks.example.com/bfl"
    image = run("wait", task)
    assert str(api.polls_made()[0].url) == f"{BASE}/v1/get_result?id={task.id}"
    assert image.task_id == task.id


def test_generate_refuses_a_webhook(run: Runner, api: FakeBFL) -> None:
    with pytest.raises(flux2.InputError, match="submit"):
        run("generate", "a fox", webhook_url="https://hooks.example.com/bfl")
    assert api.requests == []


@pytest.mark.parametrize("model", ["klein-4b", "a-model-without-figures"])
def test_a_max_interval_below_min_interval_still_pauses_min_interval(model: str) -> None:
    """``max_interval=0`` (allowed): a late task, or one of a model without figures, is
    still never polled sooner than ``min_interval`` after the last poll."""
    schedule = PollSchedule(max_interval=0)
    estimator = schedule.estimator()
    for run in (2.5, 2.4, 2.6):
        done = estimator.plan(model, 0.0, 0.0)
        done.observe(run + 0.05, TaskResult("t", "Ready", start_time=0.3, end_time=run))
    plan = estimator.plan(model, 0.0, 0.0)
    for age in (1.0, 30.0, 31.0, 600.0):  # held at 0.5: stuck, and late
        plan.observe(age, TaskResult("t", "Generating", progress=0.5))
        assert plan.delay(age) >= schedule.min_interval - 1e-9


def test_a_model_without_figures_nor_runs_still_pauses_min_interval() -> None:
    """Before any task of a model without figures has ended, nothing is learnt: its polls
    follow the task's age, and ``max_interval=0`` still leaves ``min_interval`` between them."""
    schedule = PollSchedule(max_interval=0)
    plan = schedule.estimator().plan("a-model-without-figures", 0.0, 0.0)
    for age in (0.5, 1.0, 10.0):
        plan.observe(age, TaskResult("t", "Pending"))
        assert plan.delay(age) >= schedule.min_interval - 1e-9
