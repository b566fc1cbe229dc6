"""Unknown task statuses: each reported once, only so many, and never verbatim."""

from __future__ import annotations

import logging

import pytest
from flux2_fakes import FakeBFL, Runner

from flux2 import decisions
from flux2._wire import TaskState
from flux2.decisions import status as status_module


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_module, "_warned_statuses", set())


def test_thousands_of_distinct_statuses_give_a_bounded_set_and_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limit = status_module.MAX_REPORTED_STATUSES
    with caplog.at_level(logging.WARNING, logger="flux2"):
        for n in range(5000):
            assert decisions.task_state(f"Dreaming {n} " + "z" * n) is TaskState.IN_FLIGHT
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == limit + 1
    assert "further unknown statuses will not be reported" in messages[-1]
    assert len(status_module._warned_statuses) == limit + 1
    assert all(len(key) <= 65 for key in status_module._warned_statuses)


def test_a_status_is_reported_once_and_cut_and_escaped(caplog: pytest.LogCaptureFixture) -> None:
    hostile = "\x1b[2J\r\nINFO fake line " + "A" * 10_000
    with caplog.at_level(logging.WARNING, logger="flux2"):
        for _ in range(100):
            decisions.task_state(hostile)
    (record,) = caplog.records
    message = record.getMessage()
    assert "\x1b" not in message
    assert "\n" not in message
    assert f"cut from {len(hostile)} characters" in message
    assert len(message) < 300


def test_known_statuses_take_no_room() -> None:
    for known in ("Pending", "Ready", "Error", "Task not found"):
        decisions.task_state(known)
    assert status_module._warned_statuses == set()


def test_a_wait_through_endless_new_statuses_stays_bounded(
    run: Runner, api: FakeBFL, caplog: pytest.LogCaptureFixture
) -> None:
    api.polls = [{"status": f"Phase-{n}"} for n in range(300)] + [{"status": "Ready"}]
    with caplog.at_level(logging.WARNING, logger="flux2"):
        run("generate", "a fox", timeout=10**6)
    assert len(caplog.records) == status_module.MAX_REPORTED_STATUSES + 1
