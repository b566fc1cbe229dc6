"""Fixtures of the library's unit tests (doubles live in flux2_fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flux2_fakes import FakeBFL, Runner


@pytest.fixture
def api() -> FakeBFL:
    return FakeBFL()


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest, api: FakeBFL) -> Iterator[Runner]:
    """The same calls against a Client and an AsyncClient (the parity seam)."""
    runner = Runner(request.param, api)
    yield runner
    runner.close()
