from __future__ import annotations

import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_HISTORY = ROOT / "openapi" / "history"


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts the suite in the background (`cmd &` in a script) ignores Ctrl-C in
    # it, and a child inherits an ignored signal: the tests that stop a server with SIGINT
    # would wait for it in vain. The children get the default again from a handler here.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def spec_history() -> Path:
    """The spec's history, kept in the repository (openapi/history/)."""
    return SPEC_HISTORY
