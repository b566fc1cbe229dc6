"""Waiting for a task: the schedule, what each status means, deadlines, resuming."""

from __future__ import annotations

import logging
import math

import httpx
import pytest
from flux2_fakes import BASE, FakeBFL, Runner, result_url

import flux2
from flux2 import decisions
from flux2.decisions import EXPECTED_SECONDS, PollSchedule


def simulate(
    schedule: PollSchedule, model: str, duration: float, *, progress: bool
) -> tuple[int, float]:
    """Polls a task that becomes Ready at ``duration`` takes, and how late the client sees it."""
    age = schedule.next_delay(model, 0.0)
    polls = 0
    while True:
        polls += 1
        if age >= duration:
            return polls, age - duration
        assert polls < 1000
        age += schedule.next_delay(model, age, age / duration if progress else None)


def fixed_polls(duration: float, interval: float) -> int:
    return math.ceil(duration / interval)


@pytest.mark.parametrize("model", sorted(EXPECTED_SECONDS))
@pytest.mark.parametrize("progress", [True, False])
def test_the_schedule_beats_fixed_half_second_polling(model: str, progress: bool) -> None:
    """At the live durations (BFL-FACTS.md), at most 40% of fixed 0.5 s polling's requests,
    and the result seen at most one fine interval late (0.2 s when progress is reported)."""
    schedule = PollSchedule()
    fastest, slowest = EXPECTED_SECONDS[model]
    for duration in (fastest, (fastest + slowest) / 2, slowest):
        polls, lag = simulate(schedule, model, duration, progress=progress)
        assert polls <= 0.4 * fixed_polls(duration, 0.5), (duration, polls)
        assert lag <= (0.2 if progress else schedule.max_fine_interval) + 1e-9, (duration, lag)


@pytest.mark.parametrize("model", sorted(EXPECTED_SECONDS))
@pytest.mark.parametrize("progress", [True, False])
def test_runs_outside_the_seen_range_still_cost_a_third_of_fixed_polling(
    model: str, progress: bool
) -> None:
    """Runs from 10% faster than the fastest seen to 10% slower than the slowest: at most 35%
    of fixed 0.5 s polling's requests, seen a median 0.05 s late with progress reports."""
    schedule = PollSchedule()
    fastest, slowest = EXPECTED_SECONDS[model]
    low, high = 0.9 * fastest, 1.1 * slowest
    durations = [low + (high - low) * i / 20 for i in range(21)]
    runs = [simulate(schedule, model, d, progress=progress) for d in durations]
    fixed = sum(fixed_polls(d, 0.5) for d in durations)
    assert sum(polls for polls, _ in runs) <= 0.35 * fixed
    lags = sorted(lag for _, lag in runs)
    assert lags[len(lags) // 2] <= (schedule.finish_margin if progress else 0.4) + 1e-9


def test_no_polls_while_a_task_is_surely_not_done() -> None:
    schedule = PollSchedule()
    lead = schedule.window_lead
    assert 0.8 <= lead < 1
    assert schedule.next_delay("klein-4b", 0) == pytest.approx(lead * 2.6)
    assert schedule.next_delay("flex", 0) == pytest.approx(lead * 6.7)
    assert schedule.next_delay("klein-9b-preview", 0) == pytest.approx(lead * 2.4)
    assert schedule.next_delay("flux-2-flex", 0) == pytest.approx(lead * 6.7)


def test_long_tasks_are_probed_early_for_instant_failures() -> None:
    schedule = PollSchedule()
    ages = [0.0]
    while ages[-1] < 30:
        ages.append(ages[-1] + schedule.next_delay("max", ages[-1]))
    assert ages[1:4] == pytest.approx([2.0, 6.0, 18.0])
    assert ages[4] == pytest.approx(schedule.window_lead * 36)


def test_late_tasks_are_polled_less_and_less_up_to_a_cap() -> None:
    schedule = PollSchedule()
    late = 1.25 * 9.0
    delays = [schedule.next_delay("flex", late + extra) for extra in (0, 4, 8, 30, 300)]
    assert delays == sorted(delays)
    assert delays[-1] == schedule.max_interval
    polls, lag = simulate(schedule, "flex", 60.0, progress=False)
    assert lag <= schedule.max_interval
    assert polls < fixed_polls(60.0, 1.0) / 2


def test_a_model_without_figures_is_polled_relative_to_its_age() -> None:
    schedule = PollSchedule()
    assert schedule.next_delay("flux-2-ultra-new", 1) == 0.5
    assert schedule.next_delay("flux-2-ultra-new", 20) == pytest.approx(3.0)
    assert schedule.next_delay(None, 1000) == schedule.max_interval


def test_scale_shrinks_every_figure() -> None:
    full, tiny = PollSchedule(), PollSchedule(scale=0.01)
    for age in (0.0, 1.0, 5.0, 6.5, 8.0, 30.0):
        assert tiny.next_delay("flex", age * 0.01) == pytest.approx(
            full.next_delay("flex", age) * 0.01
        )


def test_scale_zero_never_pauses() -> None:
    schedule = PollSchedule(scale=0)
    assert schedule.first_delay("max", 0) == 0
    assert schedule.next_delay("max", 0.001, 0.5) == 0


def test_wait_reports_progress_and_returns_the_image(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        {"status": "Pending", "progress": 0.2},
        {"status": "Generating", "progress": 0.7},
        {"status": "Ready"},
    ]
    seen: list[flux2.TaskResult] = []
    task = run("submit", "a fox", model="klein-4b")
    image = run("wait", task, on_progress=seen.append)
    assert [(r.status, r.progress) for r in seen] == [
        ("Pending", 0.2),
        ("Generating", 0.7),
        ("Ready", None),
    ]
    assert image.task_id == task.id
    assert image.seed == 42
    assert image.prompt == "upsampled prompt"
    assert image.cost == 10.0
    assert image.url == result_url(task.id)
    assert image.model == "klein-4b"
    # The first poll waits until the task may be done; none before.
    assert api.times[1] - api.times[0] == pytest.approx(PollSchedule().window_lead * 2.6)


def test_an_unknown_status_counts_as_in_flight_with_one_warning(
    run: Runner, api: FakeBFL, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions.status, "_warned_statuses", set())
    api.polls = [{"status": "Dreaming"}, {"status": "Dreaming"}, {"status": "Ready"}]
    with caplog.at_level(logging.WARNING, logger="flux2"):
        run("generate", "a fox")
        run("generate", "another fox")
    warnings = [r for r in caplog.records if "Dreaming" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not once per poll or per task
    assert len(api.polls_made()) == 6


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("Error", flux2.TaskFailedError),
        ("Failed", flux2.TaskFailedError),
        ("Request Moderated", flux2.RequestModeratedError),
        ("Content Moderated", flux2.ContentModeratedError),
        ("Task not found", flux2.TaskNotFoundError),
    ],
)
def test_terminal_statuses_end_the_wait_at_once(
    run: Runner, api: FakeBFL, status: str, error: type[flux2.TaskError]
) -> None:
    api.polls = [
        {"status": "Pending"},
        {"status": status, "details": {"error": "the reason"}},
        {"status": "Ready"},
    ]
    with pytest.raises(error) as caught:
        run("generate", "a fox")
    assert caught.value.task_id == "task-1"
    assert caught.value.status == status
    assert caught.value.details == {"error": "the reason"}
    assert "the reason" in str(caught.value)
    assert len(api.polls_made()) == 2


def test_a_422_poll_whose_body_is_a_task_is_read_as_that_task(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        httpx.Response(
            422,
            json={"status": "Error", "details": {"error": "Invalid or corrupted image input"}},
        )
    ]
    with pytest.raises(flux2.TaskFailedError, match="Invalid or corrupted image input") as caught:
        run("generate", "a fox")
    assert caught.value.task_id == "task-1"
    assert len(api.polls_made()) == 1


def test_a_422_poll_with_a_validation_body_is_a_validation_error(run: Runner, api: FakeBFL) -> None:
    detail = [{"loc": ["query", "id"], "msg": "field required", "type": "missing"}]
    api.polls = [httpx.Response(422, json={"detail": detail})]
    with pytest.raises(flux2.UnprocessableEntityError) as caught:
        run("generate", "a fox")
    assert caught.value.detail == detail
    assert "id: field required" in str(caught.value)


def test_a_503_poll_with_a_task_body_is_read_and_its_retry_after_honoured(
    run: Runner, api: FakeBFL
) -> None:
    api.polls = [
        httpx.Response(
            503, headers={"retry-after": "9"}, json={"id": "task-1", "status": "Pending"}
        ),
        {"status": "Ready"},
    ]
    run("generate", "a fox", model="klein-4b")
    poll_times = [
        t for t, r in zip(api.times, api.requests, strict=True) if r.url.path.endswith("get_result")
    ]
    assert poll_times[1] - poll_times[0] >= 9
    assert len(api.polls_made()) == 2


def test_a_503_poll_without_a_task_is_retried(run: Runner, api: FakeBFL) -> None:
    api.polls = [httpx.Response(503), {"status": "Ready"}]
    run("generate", "a fox")
    assert len(api.polls_made()) == 2


def test_the_wait_has_an_overall_deadline(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending", "progress": 0.1}]
    task = run("submit", "a fox", model="flex")
    start = api.clock.now
    with pytest.raises(flux2.TaskTimeoutError) as caught:
        run("wait", task, timeout=45)
    assert api.clock.now - start == pytest.approx(45)
    assert caught.value.task_id == task.id
    assert caught.value.status == "Pending"
    assert isinstance(caught.value, TimeoutError)
    assert "wait for it again" in str(caught.value)
    assert len(api.polls_made()) < 45 / 0.5 * 0.4


def test_the_client_default_deadline_applies(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending"}]
    run.client = run.client.with_options(wait_timeout=20)
    start = api.clock.now
    with pytest.raises(flux2.TaskTimeoutError):
        run("generate", "a fox")
    assert api.clock.now - start == pytest.approx(20)


def test_retry_after_on_a_poll_answer_is_honoured(run: Runner, api: FakeBFL) -> None:
    api.polls = [
        httpx.Response(
            200, headers={"retry-after": "4"}, json={"id": "task-1", "status": "Pending"}
        ),
        {"status": "Ready"},
    ]
    run("generate", "a fox", model="klein-4b")
    polls = [
        t for t, r in zip(api.times, api.requests, strict=True) if r.url.path.endswith("get_result")
    ]
    assert polls[1] - polls[0] >= 4


def test_a_resumed_task_is_polled_at_once(run: Runner, api: FakeBFL) -> None:
    task = flux2.Task("task-9", "https://api.eu2.bfl.ai/v1/get_result?id=task-9", model="max")
    image = run("wait", task)
    assert api.clock.sleeps == []
    assert image.task_id == "task-9"
    assert api.polls_made()[0].url.host == "api.eu2.bfl.ai"


def test_a_task_persisted_earlier_is_polled_at_once(run: Runner, api: FakeBFL) -> None:
    task = flux2.Task.from_dict(
        {
            "id": "task-4",
            "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=task-4",
            "model": "max",
            "submitted_at": api.clock.now - 3600,
        }
    )
    run("wait", task)
    assert api.clock.sleeps == []


def test_wait_takes_a_polling_url_or_an_id(run: Runner, api: FakeBFL) -> None:
    assert run("wait", "https://api.eu2.bfl.ai/v1/get_result?id=task-7").task_id == "task-7"
    assert run("wait", "task-8").task_id == "task-8"
    assert str(api.polls_made()[-1].url) == f"{BASE}/v1/get_result?id=task-8"


def test_get_result_reads_once(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending", "progress": 0.5}]
    result = run(
        "get_result", flux2.Task("task-3", "https://api.eu2.bfl.ai/v1/get_result?id=task-3")
    )
    assert (result.id, result.status, result.progress, result.done) == (
        "task-3",
        "Pending",
        0.5,
        False,
    )
    assert len(api.requests) == 1


def test_a_task_ready_without_a_sample_is_a_response_error(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Ready", "result": {"seed": 1}}]
    with pytest.raises(flux2.APIResponseValidationError, match="no sample URL"):
        run("generate", "a fox")


def test_an_http_404_on_a_poll_is_not_found(run: Runner, api: FakeBFL) -> None:
    api.polls = [httpx.Response(404, json={"detail": "Not Found"})]
    with pytest.raises(flux2.NotFoundError):
        run("generate", "a fox")
    assert len(api.polls_made()) == 1


def test_a_webhook_task_is_polled_by_id_on_the_base_url(run: Runner, api: FakeBFL) -> None:
    task = run("submit", "a fox", webhook_url="https://hooks.example.com/bfl", webhook_secret="s")
    assert task.polling_url is None
    assert task.webhook_url == "https://hooks.example.com/bfl"
    image = run("wait", task)
    assert str(api.polls_made()[0].url) == f"{BASE}/v1/get_result?id={task.id}"
    assert image.task_id == task.id


def test_generate_refuses_a_webhook(run: Runner, api: FakeBFL) -> None:
    with pytest.raises(flux2.InputError, match="submit"):
        run("generate", "a fox", webhook_url="https://hooks.example.com/bfl")
    assert api.requests == []
