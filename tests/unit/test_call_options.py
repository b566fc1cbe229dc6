"""The options of a call (deadlines, counts, callbacks) and the settings objects a client is
given are checked before anything is sent, by both clients: a wrong one found out after the
submission would fail a task that is already billed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux2_fakes import KEY, REGION, FakeBFL, Runner

import flux2
from flux2._model_name import short_model_name

TASK = flux2.Task("t-1", polling_url=f"{REGION}/v1/get_result?id=t-1")

BAD_DEADLINES: list[tuple[Any, str]] = [
    ("5", "timeout must be a positive, finite number of seconds"),
    (math.nan, "timeout must be a positive, finite"),
    (math.inf, "timeout must be a positive, finite"),
    (-1, "timeout must be a positive"),
    (0, "timeout must be a positive"),
    (True, "timeout must be a positive"),
]


@pytest.mark.parametrize(("timeout", "message"), BAD_DEADLINES)
def test_a_wrong_deadline_of_generate_is_refused_before_sending(
    run: Runner, timeout: Any, message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        run("generate", "a fox", timeout=timeout)
    assert run.api.requests == []


@pytest.mark.parametrize(("timeout", "message"), BAD_DEADLINES)
def test_a_wrong_deadline_of_wait_is_refused_before_sending(
    run: Runner, timeout: Any, message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        run("wait", TASK, timeout=timeout)
    assert run.api.requests == []


@pytest.mark.parametrize("method", ["generate", "wait"])
@pytest.mark.parametrize("on_progress", [5, "print", [print]])
def test_a_progress_callback_that_cannot_be_called_is_refused_before_sending(
    run: Runner, method: str, on_progress: Any
) -> None:
    target = "a fox" if method == "generate" else TASK
    with pytest.raises(flux2.InputError, match="on_progress must be a function or None"):
        run(method, target, on_progress=on_progress)
    assert run.api.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": -1}, "concurrency must be an integer from 1 to"),
        ({"concurrency": 0}, "concurrency must be an integer from 1 to"),
        ({"concurrency": "2"}, "concurrency must be an integer"),
        ({"concurrency": 2.0}, "concurrency must be an integer"),
        ({"timeout": "5"}, "timeout must be a positive, finite"),
        ({"on_submitted": 5}, "on_submitted must be a function or None"),
    ],
)
def test_a_wrong_batch_option_is_refused_before_sending(
    run: Runner, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        run("generate_many", ["a fox", "a hare"], **options)
    assert run.api.requests == []


@pytest.mark.parametrize("items", [5, "a fox", b"a fox", {"prompt": "a fox"}, TASK, None])
def test_batch_items_that_are_not_a_collection_are_refused_before_sending(
    run: Runner, items: Any
) -> None:
    with pytest.raises(flux2.InputError, match="generate_many\\(\\) takes a list"):
        run("generate_many", items)
    assert run.api.requests == []


def test_good_call_options_still_send(run: Runner) -> None:
    run("generate", "a fox", timeout=30, on_progress=lambda result: None)
    results = run("generate_many", ["a hare"], concurrency=1, timeout=30.5)
    assert [r.ok for r in results] == [True]
    assert len(run.api.submissions()) == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("wrong", ["sync", "async", "number"])
def test_an_http_client_of_the_wrong_type_is_refused(kind: str, wrong: str) -> None:
    make: Any = flux2.Client if kind == "sync" else flux2.AsyncClient
    if wrong == kind:
        return
    given: Any = {"sync": httpx.Client, "async": httpx.AsyncClient}.get(wrong, lambda: 5)()
    expected = "httpx.Client" if kind == "sync" else "httpx.AsyncClient"
    with pytest.raises(flux2.InputError, match=f"http_client must be an {expected} or None"):
        make(api_key=KEY, http_client=given)


def test_the_right_http_client_is_used(api: FakeBFL) -> None:
    with httpx.Client(transport=api.transport()) as http:
        flux2.Client(api_key=KEY, http_client=http).submit("a fox")
    assert len(api.submissions()) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scale": math.nan}, "PollSchedule.scale must be a finite number >= 0"),
        ({"scale": -1}, "PollSchedule.scale must be a finite number >= 0"),
        ({"min_interval": math.inf}, "PollSchedule.min_interval must be a finite"),
        ({"max_gap": "1"}, "PollSchedule.max_gap must be a finite number >= 0, got a str"),
        ({"aim": 1.0}, "PollSchedule.aim must be a number between 0 and 1"),
        ({"may_be_done": 0}, "PollSchedule.may_be_done must be a number between 0 and 1"),
        ({"memory": 0}, "PollSchedule.memory must be an integer >= 1"),
        ({"request_worth": -0.1}, "PollSchedule.request_worth must be a finite number >= 0"),
        ({"probe_first": 0}, "PollSchedule.probe_first must be a finite number >= 0.001"),
        ({"prior_spread": 0}, "PollSchedule.prior_spread must be a finite number >= 0.001"),
        ({"run_spread": 1e-300}, "PollSchedule.run_spread must be a finite number >= 0.001"),
        ({"memory": 2.5}, "PollSchedule.memory must be an integer >= 1"),
        ({"expected": {"flex": (0, 1)}}, r"PollSchedule.expected\['flex'\]"),
        ({"expected": {"flex": (9, 6.7)}}, "0 < fastest <= slowest"),
        ({"expected": {"flex": (math.nan, 1)}}, r"PollSchedule.expected\['flex'\]"),
        ({"expected": 5}, "PollSchedule.expected must be a mapping"),
    ],
)
def test_a_poll_schedule_with_a_wrong_figure_is_refused(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(flux2.InputError, match=message):
        flux2.PollSchedule(**fields)


def test_good_poll_schedules_are_accepted() -> None:
    flux2.PollSchedule()
    flux2.PollSchedule(scale=0)
    flux2.PollSchedule(scale=0.01, expected={"flex": (6.7, 9.0)}, memory=3)


@pytest.mark.parametrize(
    "name", ["flex", "flux-2-flex", "/v1/flux-2-flex", " Flex ", "FLUX-2-FLEX"]
)
def test_model_names_normalise_alike(name: str) -> None:
    assert short_model_name(name) == "flex"
    assert flux2.registry.get_model(name).name == "flex"
    assert flux2.PollSchedule().window(name) == flux2.PollSchedule().window("flex")


@pytest.mark.parametrize(
    "url",
    ["https://delivery.example/a\x00b.png", "https://delivery.example/a\tb.png", "https://[::1/x"],
)
def test_a_result_url_that_is_no_url_is_an_input_error(
    run: Runner, tmp_path: Path, url: str
) -> None:
    with pytest.raises(flux2.InputError, match="not a usable result URL"):
        run("download", url, tmp_path)
    assert run.api.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("method", ["wait", "get_result"])
def test_a_polling_url_that_cannot_be_parsed_is_an_input_error(run: Runner, method: str) -> None:
    with pytest.raises(flux2.InputError, match="no task id in polling URL"):
        run(method, "https://[::1/v1/get_result?id=t-1")
    assert run.api.requests == []
