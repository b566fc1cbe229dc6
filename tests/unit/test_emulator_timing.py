"""The emulator's timing profiles: spread, queue waits, uneven progress, repeatable draws."""

from __future__ import annotations

import statistics

import pytest

from flux2.emulator import PROFILES
from flux2.emulator._policy import duration
from flux2.emulator._tasks import EmulatedTask
from flux2.emulator._timing import STEADY_SHAPE, Shape, Timing


def _seconds(profile: str, model: str, n: int = 200, seed: int = 0) -> list[float]:
    timing = Timing(profile, seed)
    return [timing.draw(model).seconds for _ in range(n)]


def test_steady_keeps_each_models_figure_and_an_even_rise() -> None:
    timing = Timing("steady")
    for model in ("klein-4b", "flex", "max", "klein-9b-preview"):
        drawn = timing.draw(model)
        assert drawn.seconds == duration(model)
        assert drawn.shape == STEADY_SHAPE
    assert [STEADY_SHAPE.progress(x / 8) for x in range(9)] == pytest.approx(
        [x / 8 for x in range(9)]
    )


@pytest.mark.parametrize(
    ("profile", "factor"), [("expected", 1.0), ("faster", 0.5), ("slower", 2.0), ("wide", 1.0)]
)
def test_profiles_spread_runs_around_the_figure_times_their_factor(
    profile: str, factor: float
) -> None:
    for model in ("klein-4b", "pro"):
        runs = _seconds(profile, model)
        assert statistics.median(runs) == pytest.approx(duration(model) * factor, rel=0.08)
        assert len(set(runs)) == len(runs)  # every run differs
        spread = (max(runs) - min(runs)) / statistics.median(runs)
        assert (spread > 1.0) if profile == "wide" else (0.2 < spread < 0.7)


def test_draws_repeat_for_a_seed_and_differ_between_seeds() -> None:
    assert _seconds("wide", "flex", 20, seed=3) == _seconds("wide", "flex", 20, seed=3)
    assert _seconds("wide", "flex", 20, seed=3) != _seconds("wide", "flex", 20, seed=4)
    # The n-th task of a model does not depend on other models' tasks in between.
    mixed = Timing("expected", 3)
    firsts = [mixed.draw("flex").seconds for _ in range(3) if mixed.draw("max")]
    assert firsts == _seconds("expected", "flex", 3, seed=3)
    assert Timing("wide", 3).draw("pro", key="k7") == Timing("wide", 3).draw("pro", key="k7")


def test_tasks_wait_in_pending_for_a_varying_share_then_progress_unevenly() -> None:
    timing = Timing("wide", 1)
    shapes = [timing.draw("pro").shape for _ in range(50)]
    queues = [s.queue_share for s in shapes]
    assert min(queues) < 0.1
    assert max(queues) > 0.4
    for shape in shapes:
        rise = [shape.progress(x / 4) for x in range(5)]
        assert rise == sorted(rise)
        assert rise[0] == 0
        assert rise[-1] == pytest.approx(1)
    steps = [shape.knots[0] for shape in shapes]
    assert max(steps) - min(steps) > 0.2  # not even: quarters of the time move unequal shares


def test_a_task_follows_its_shape() -> None:
    shape = Shape(queue_share=0.4, knots=(0.1, 0.2, 0.9))
    task = EmulatedTask(
        id="t",
        model="pro",
        prompt="p",
        params={"prompt": "p"},
        created=1000.0,
        duration=10.0,
        width=64,
        height=64,
        seed=1,
        output_format="jpeg",
        cost=1.0,
        input_mp=0.0,
        output_mp=0.0,
        used_prompt="p",
        shape=shape,
    )
    assert task.view(1003.9).status == "Pending"
    assert task.start_time == pytest.approx(1004.0)
    assert task.view(1005.5).progress == pytest.approx(0.1)  # a quarter of the 6 s run
    assert task.view(1008.5).progress == pytest.approx(0.9)
    assert task.view(1010.0).status == "Ready"


def test_unknown_profiles_and_bad_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown timing profile 'sluggish'; one of: steady"):
        Timing("sluggish")
    with pytest.raises(ValueError, match="seed must be an integer"):
        Timing("wide", seed=1.5)  # type: ignore[arg-type]
    assert set(PROFILES) == {"steady", "expected", "faster", "slower", "wide"}


def test_flux2_mock_offers_every_profile() -> None:
    from flux2.cli._parser import build_parser

    parser = build_parser()
    args = parser.parse_args(["mock", "--profile", "wide", "--seed", "4"])
    assert (args.profile, args.seed) == ("wide", 4)
    commands = next(a for a in parser._actions if a.dest == "command")
    mock = commands.choices["mock"]  # type: ignore[index]
    option = next(a for a in mock._actions if a.dest == "profile")
    assert tuple(option.choices) == tuple(PROFILES)
