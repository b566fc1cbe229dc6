"""Starting and stopping emulators, ``serve()`` for ``flux2 mock``, and the pytest fixtures."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest
from emulator_helpers import KEY, api, submit

from flux2.emulator import Emulator


def test_several_emulators_run_side_by_side_on_their_own_ports() -> None:
    with Emulator(api_key="a", speed=0) as one, Emulator(api_key="b", speed=0) as two:
        origins = {one.base_url, one.polling_origin, one.delivery_origin}
        origins |= {two.base_url, two.polling_origin, two.delivery_origin}
        assert len(origins) == 6
        with api(one, key="a") as first, api(two, key="b") as second:
            submit(first, "a fox")
            assert second.get("/v1/credits").json() == {"credits": 1000.0}
        assert len(one.submissions()) == 1
        assert two.submissions() == []
        assert two.requests[0].path == "/v1/credits"


def test_stop_releases_the_ports_and_can_be_called_again() -> None:
    emulator = Emulator(speed=0).start()
    url = emulator.base_url
    assert httpx.get(f"{url}/v1/credits", headers={"x-key": "k"}).status_code == 200
    emulator.stop()
    emulator.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/credits", headers={"x-key": "k"})
    assert "stopped" in repr(emulator)
    assert len(emulator.requests) == 1  # the record outlives the server


def test_stopping_does_not_wait_for_a_slow_answer() -> None:
    emulator = Emulator(api_key=KEY, speed=0).start()
    outcome: list[Any] = []

    def slow_request() -> None:
        try:
            with api(emulator, timeout=60) as http:
                outcome.append(http.post("/v1/flux-2-flex", json={"prompt": "[[fault:slow=60]]"}))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    while not emulator.requests:
        thread.join(0.01)
    emulator.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert outcome  # answered or cut off, but not left hanging for the full minute


def test_an_emulator_is_used_once_and_only_while_started() -> None:
    emulator = Emulator()
    assert "not started" in repr(emulator)
    with pytest.raises(RuntimeError, match="not started"):
        _ = emulator.base_url
    with emulator, pytest.raises(RuntimeError, match="already started"):
        emulator.start()


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": ""},
        {"speed": -1},
        {"max_in_flight": 0},
        {"result_ttl": -5},
        {"result_size": 0},
        {"history": 0},
        {"history": True},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        Emulator(**options)


def test_the_key_appears_in_no_repr() -> None:
    with Emulator(api_key="secret-key-123", speed=0) as emulator:
        with api(emulator, key="secret-key-123") as http:
            submit(http, "a fox")
        shown = repr(emulator) + repr(emulator.requests) + repr(emulator.tasks)
    assert "secret-key-123" not in shown


def test_an_emulator_starts_from_inside_a_running_event_loop() -> None:
    async def main() -> int:
        with Emulator(api_key=KEY, speed=0) as emulator:
            async with httpx.AsyncClient(headers={"x-key": KEY}) as http:
                answer = await http.get(f"{emulator.base_url}/v1/credits")
        return answer.status_code

    assert asyncio.run(main()) == 200


def test_serve_prints_where_it_listens_and_stops_on_ctrl_c() -> None:
    code = "from flux2.emulator import serve; serve(speed=0, credits=50)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = next(w for w in first.split() if w.startswith("http://127.0.0.1:"))
        lines = [process.stdout.readline() for _ in range(5)]
        assert any("flux2 generate" in line and url in line for line in lines), lines
        answer = httpx.get(f"{url}/v1/credits", headers={"x-key": "anything"}, timeout=10)
        assert answer.json() == {"credits": 50.0}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_the_pytest_plugin_loads_no_server_stack() -> None:
    code = (
        "import sys, flux2.emulator.pytest_plugin, flux2.emulator; "
        "heavy = ('starlette', 'uvicorn', 'PIL', 'jsonschema'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_fixture_gives_a_fresh_fast_emulator(bfl_emulator: Emulator) -> None:
    assert bfl_emulator.api_key == KEY
    assert bfl_emulator.requests == []
    assert bfl_emulator.speed < 0.01
    with api(bfl_emulator) as http:
        assert http.get("/v1/credits").status_code == 200


def test_the_factory_takes_any_option(bfl_emulator_factory: Any) -> None:
    poor = bfl_emulator_factory(credits=2.0, api_key=None)
    assert poor.credits == 2.0
    assert poor.api_key is None
    assert poor.base_url != bfl_emulator_factory().base_url
