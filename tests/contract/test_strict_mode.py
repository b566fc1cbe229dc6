"""Strict mode end to end: the client checks every answer of a real server against the spec.

The emulator sends a task status outside the spec's ``StatusResponse`` (the live service does
too: ``Reasoning``, ``Generating`` [seen]). Strict mode must say so once, naming the operation,
the field and the value, while the generation still succeeds; asked for errors, it raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import flux2
from flux2 import _wire
from flux2.conformance import ConformanceError, Flux2ConformanceWarning

KEY = "test-key"
# klein-4b runs 0.26 s in the emulator: a read right after the submission meets the task in
# flight (the emulator guarantees it for the first poll), and the wait ends in a few tenths.
SPEED = 0.1


@pytest.fixture
def emu() -> Iterator[Any]:
    try:
        from flux2.emulator import Emulator
    except ImportError as exc:
        pytest.skip(f"flux2.emulator is not available: {exc}")
    with Emulator(api_key=KEY, speed=SPEED) as server:
        yield server


def _client(emu: Any, **options: Any) -> flux2.Client:
    return flux2.Client(
        api_key=KEY,
        base_url=emu.base_url,
        poll_schedule=flux2.PollSchedule(scale=SPEED),
        **options,
    )


def _generate(client: flux2.Client, prompt: str) -> tuple[Any, list[warnings.WarningMessage]]:
    """Submit, read the task twice while it runs, then wait for the image and fetch it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with client:
            task = client.submit(prompt, model="klein-4b", seed=3)
            early = [client.get_result(task).status for _ in range(2)]
            image = client.wait(task)
            assert image.content
    return (early, image), caught


def _conformance(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, Flux2ConformanceWarning)]


@pytest.mark.parametrize("via", ["argument", "environment"])
def test_an_unknown_status_is_named_once_and_the_call_succeeds(
    emu: Any, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    if via == "environment":
        monkeypatch.setenv("FLUX2_STRICT", "warn")
        client = _client(emu)
    else:
        monkeypatch.delenv("FLUX2_STRICT", raising=False)
        client = _client(emu, strict="warn")
    (early, image), caught = _generate(client, "a fox [[fault:unknown-status=Dreaming]]")
    # The first read always meets the marker's status; the second may find the task done
    # on a loaded machine. Either way the deviation is named once (repeats: test_conformance).
    assert early[0] == "Dreaming"
    assert set(early) <= {"Dreaming", "Ready"}
    messages = _conformance(caught)
    assert len(messages) == 1, messages
    assert messages[0].startswith("GET /v1/get_result (HTTP 200): status 'Dreaming' is not in ")
    assert "StatusResponse" in messages[0]
    assert image.task_id


def test_lenient_mode_checks_nothing(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUX2_STRICT", raising=False)
    (early, _), caught = _generate(_client(emu), "a fox [[fault:unknown-status=Dreaming]]")
    assert early[0] == "Dreaming"
    assert _conformance(caught) == []


def test_a_plain_generation_reports_only_the_live_in_flight_statuses(emu: Any) -> None:
    """Like the live service, the emulator says Reasoning/Generating while a task runs [seen];
    strict mode names each such status once and finds nothing else to report."""
    beyond_spec = {s for s, source in _wire.STATUS_SOURCES.items() if source != "spec"}
    (early, _), caught = _generate(_client(emu, strict="warn"), "a lighthouse at dawn")
    messages = _conformance(caught)
    assert len(messages) == len(set(messages))
    for message in messages:
        value = message.split("status '", 1)[1].split("'", 1)[0]
        assert value in beyond_spec, message
        assert message.startswith(f"GET /v1/get_result (HTTP 200): status '{value}' is not in ")
    assert {s for s in early if s not in ("Pending", "Ready")} <= beyond_spec


def test_error_mode_raises_naming_the_deviation(emu: Any) -> None:
    with _client(emu, strict="error") as client:
        task = client.submit("a fox [[fault:unknown-status=Dreaming]]", model="klein-4b")
        with pytest.raises(ConformanceError) as raised:
            client.get_result(task)
    assert [(d.operation, d.field, d.value) for d in raised.value.deviations] == [
        ("GET /v1/get_result", "status", "Dreaming")
    ]
