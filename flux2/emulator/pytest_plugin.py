"""pytest fixtures for testing code that calls the BFL API, against :mod:`flux2.emulator`.

Registered as a ``pytest11`` entry point, so installing flux2 makes them available::

    def test_generate(bfl_emulator):
        client = flux2.Client(api_key=bfl_emulator.api_key, base_url=bfl_emulator.base_url)
        client.generate("a fox", model="klein-4b")
        assert len(bfl_emulator.submissions()) == 1

    def test_two_accounts(bfl_emulator_factory):
        poor = bfl_emulator_factory(credits=1.0)
        ...

    def test_with_a_ready_client(bfl_client, bfl_emulator):
        image = bfl_client.generate("a fox", model="klein-4b")  # polls at the emulator's speed
        assert bfl_emulator.submissions()[0].prompt == "a fox"

The emulator (and its extra) is imported only when a fixture is used, so the plugin costs
nothing in test runs that do not use it, and works where the extra is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    import flux2
    from flux2.emulator import Emulator

__all__ = [
    "FIXTURE_API_KEY",
    "FIXTURE_SPEED",
    "bfl_client",
    "bfl_emulator",
    "bfl_emulator_factory",
]

FIXTURE_API_KEY: Final = "test-key"
"""The key the fixtures' emulators accept (``bfl_emulator.api_key``)."""
FIXTURE_SPEED: Final = 0.002
"""Simulated time per real second in the fixtures: max (38 s live) is ready in 76 ms."""


def _emulator_class() -> type[Emulator]:
    try:
        from flux2.emulator import Emulator
    except ImportError as exc:
        pytest.fail(
            f"the bfl_emulator fixtures need flux2's 'emulator' extra: {exc}", pytrace=False
        )
    return Emulator


@pytest.fixture
def bfl_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with any options (``Emulator``'s keywords); each is stopped after the
    test. Defaults: ``api_key="test-key"``, ``speed=0.002``."""
    emulator_class = _emulator_class()
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        options.setdefault("api_key", FIXTURE_API_KEY)
        options.setdefault("speed", FIXTURE_SPEED)
        emulator = emulator_class(**options)
        emulator.start()
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            emulator.stop()


@pytest.fixture
def bfl_emulator(bfl_emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh, started emulator for one test: key ``"test-key"``, tasks done in milliseconds."""
    return bfl_emulator_factory()


@pytest.fixture
def bfl_client(bfl_emulator: Emulator) -> Iterator[flux2.Client]:
    """A :class:`flux2.Client` for ``bfl_emulator`` (``bfl_emulator.client()``): its base URL
    and key, polling at its speed. Closed after the test."""
    with bfl_emulator.client() as client:
        yield client
