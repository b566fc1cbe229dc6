"""Fixtures of the ``flux2`` command's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import KEY, SPEED, emulator_class


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    """One emulator per test module (tests read its records, never reset it)."""
    with emulator_class()(api_key=KEY, speed=SPEED, credits=1_000_000.0) as server:
        yield server
