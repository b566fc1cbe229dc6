"""Timing profiles over HTTP: the drawn times reach the tasks, repeatably for a seed."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_helpers import api, poll_until_done, submit

from flux2.emulator._policy import duration


def _run(factory: Any, **options: Any) -> list[tuple[float, float]]:
    emu = factory(speed=0.01, **options)
    with api(emu) as http:
        for k in range(3):
            poll_until_done(http, submit(http, f"fox {k}")["polling_url"])
    return [(t.duration, t.shape.queue_share) for t in emu.submissions()]


def test_a_profile_and_seed_set_every_tasks_time_and_queue_wait(
    bfl_emulator_factory: Any,
) -> None:
    slower = _run(bfl_emulator_factory, profile="slower", seed=5)
    assert slower == _run(bfl_emulator_factory, profile="slower", seed=5)
    assert slower != _run(bfl_emulator_factory, profile="slower", seed=6)
    for seconds, queue_share in slower:
        assert seconds == pytest.approx(2 * duration("klein-4b") * 0.01, rel=0.3)
        assert 0.05 <= queue_share <= 0.25
    assert _run(bfl_emulator_factory) == [(duration("klein-4b") * 0.01, 0.15)] * 3


def test_an_unknown_profile_is_refused(bfl_emulator_factory: Any) -> None:
    with pytest.raises(ValueError, match="unknown timing profile 'lazy'"):
        bfl_emulator_factory(profile="lazy")
