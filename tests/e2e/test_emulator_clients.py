"""Clients matched to an emulator: ``emu.client()``, ``emu.async_client()``, the ``bfl_client``
fixture, and the hint ``flux2 mock`` gives about its speed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from typing import Any

import pytest
from emulator_helpers import KEY

import flux2
from flux2.cli._commands import POLL_SCALE_ENV
from flux2.emulator import Emulator
from flux2.emulator._server import ANY_KEY


def test_a_client_from_the_emulator_uses_it_at_its_speed(bfl_emulator: Emulator) -> None:
    with bfl_emulator.client() as client:
        assert client.poll_schedule.scale == bfl_emulator.speed
        image = client.generate("a matched fox", model="klein-4b")
    assert image is not None
    [task] = bfl_emulator.submissions("a matched fox")
    assert task.polls >= 1
    assert all(r.key_matches for r in bfl_emulator.requests if r.origin != "delivery")


def test_client_options_win_over_the_emulators(bfl_emulator: Emulator) -> None:
    schedule = flux2.PollSchedule(scale=0.5)
    with bfl_emulator.client(poll_schedule=schedule, timeout=7) as client:
        assert client.poll_schedule is schedule
    assert bfl_emulator.client_options()["base_url"] == bfl_emulator.base_url
    assert bfl_emulator.client_options()["api_key"] == KEY


def test_an_emulator_that_takes_any_key_gets_one(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(api_key=None, speed=0)
    with emu.client() as client:
        client.generate("a fox", model="klein-9b")
    assert emu.client_options()["api_key"] == ANY_KEY
    assert emu.requests[0].key_matches


def test_the_schedule_follows_the_speed_at_the_time_of_the_call(bfl_emulator: Emulator) -> None:
    bfl_emulator.speed = 0.25
    with bfl_emulator.client() as client:
        assert client.poll_schedule.scale == 0.25


def test_an_async_client_from_the_emulator(bfl_emulator: Emulator) -> None:
    async def main() -> Any:
        async with bfl_emulator.async_client() as client:
            assert client.poll_schedule.scale == bfl_emulator.speed
            return await client.generate("an async fox", model="klein-4b")

    asyncio.run(main())
    assert len(bfl_emulator.submissions("an async fox")) == 1


def test_the_bfl_client_fixture(bfl_client: flux2.Client, bfl_emulator: Emulator) -> None:
    assert bfl_client.poll_schedule.scale == bfl_emulator.speed
    bfl_client.generate("a fixture fox", model="klein-4b")
    assert len(bfl_emulator.submissions("a fixture fox")) == 1


@pytest.mark.parametrize(("speed", "hinted"), [("0.01", True), ("1", False)])
def test_flux2_mock_names_the_variable_that_matches_its_speed(speed: str, hinted: bool) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "flux2", "mock", "--speed", speed],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(process.stdout.readline())
            assert lines[-1], lines
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    text = "".join(lines)
    assert (f"{POLL_SCALE_ENV}={speed} " in text) is hinted, text
    assert ("PollSchedule(scale=" in text) is hinted
