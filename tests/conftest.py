from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_HISTORY = ROOT / "openapi" / "history"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def spec_history() -> Path:
    """The spec's history, kept in the repository (openapi/history/)."""
    return SPEC_HISTORY
