"""Faults over a real socket: each ends in the right error, and nothing is submitted twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flux2
from flux2.emulator import Emulator

KEY = "test-key"
SPEED = 0.002


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with Emulator(api_key=KEY, speed=SPEED) as server:
        yield server


@pytest.fixture
def client(emu: Any) -> Iterator[flux2.Client]:
    with flux2.Client(
        api_key=KEY,
        base_url=emu.base_url,
        poll_schedule=flux2.PollSchedule(scale=SPEED),
        timeout=httpx.Timeout(0.5),
    ) as made:
        yield made


def posts(emu: Any, prompt: str) -> int:
    return sum(
        1
        for r in emu.requests
        if r.method == "POST" and isinstance(r.json, dict) and r.json.get("prompt") == prompt
    )


def test_a_429_storm_is_ridden_out_with_one_task(emu: Any, client: flux2.Client) -> None:
    prompt = "storm fox [[fault:429-storm=2]]"
    image = client.generate(prompt, model="klein-4b")
    assert posts(emu, prompt) == 3
    assert [t.id for t in emu.submissions(prompt)] == [image.task_id]


def test_a_500_on_submit_is_not_replayed(emu: Any, client: flux2.Client) -> None:
    prompt = "broken fox [[fault:submit-500]]"
    with pytest.raises(flux2.InternalServerError):
        client.submit(prompt)
    assert posts(emu, prompt) == 1


def test_a_lost_submit_answer_is_never_replayed(emu: Any, client: flux2.Client) -> None:
    prompt = "lost fox [[fault:drop-submit]]"
    with pytest.raises(flux2.SubmissionUncertainError, match="billed"):
        client.generate(prompt, model="klein-4b")
    assert posts(emu, prompt) == 1
    assert len(emu.submissions(prompt)) == 1  # it was created: exactly once


def test_a_503_on_a_poll_is_retried(emu: Any, client: flux2.Client) -> None:
    assert client.generate("patient fox [[fault:poll-503]]", model="klein-4b").task_id


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("request-moderated", flux2.RequestModeratedError),
        ("content-moderated", flux2.ContentModeratedError),
        ("error", flux2.TaskFailedError),
        ("failed", flux2.TaskFailedError),
        ("poll-422-task", flux2.TaskFailedError),
    ],
)
def test_task_outcomes(emu: Any, client: flux2.Client, fault: str, error: type) -> None:
    prompt = f"outcome fox [[fault:{fault}]]"
    with pytest.raises(error) as caught:
        client.generate(prompt, model="klein-4b")
    (task,) = emu.submissions(prompt)
    assert caught.value.task_id == task.id


def test_an_unknown_status_is_waited_through(
    emu: Any, client: flux2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flux2"):
        image = client.generate("dreaming fox [[fault:unknown-status]]", model="max")
    assert image.task_id


def test_a_truncated_download_leaves_no_file(client: flux2.Client, tmp_path: Path) -> None:
    hasty = client.with_options(max_retries=0)
    image = hasty.generate("short fox [[fault:truncated-download]]", model="klein-4b")
    with pytest.raises(flux2.DownloadError, match="incomplete"):
        image.save(tmp_path / "fox.jpg")
    assert list(tmp_path.iterdir()) == []


def test_an_expired_result_url_says_so(client: flux2.Client, tmp_path: Path) -> None:
    image = client.generate("old fox [[fault:expired-url]]", model="klein-4b")
    with pytest.raises(flux2.ResultExpiredError, match="expired"):
        image.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_insufficient_credits(emu: Any, client: flux2.Client) -> None:
    prompt = "poor fox [[fault:insufficient-credits]]"
    with pytest.raises(flux2.InsufficientCreditsError):
        client.submit(prompt)
    assert posts(emu, prompt) == 1


def test_a_stuck_task_hits_the_deadline(client: flux2.Client) -> None:
    task = client.submit("stuck fox [[fault:stuck]]", model="klein-4b")
    with pytest.raises(flux2.TaskTimeoutError) as caught:
        client.wait(task, timeout=0.3)
    assert caught.value.task_id == task.id


def test_the_async_client_reports_the_same(emu: Any) -> None:
    async def main() -> None:
        async with flux2.AsyncClient(
            api_key=KEY,
            base_url=emu.base_url,
            poll_schedule=flux2.PollSchedule(scale=SPEED),
            timeout=httpx.Timeout(0.5),
        ) as client:
            with pytest.raises(flux2.SubmissionUncertainError):
                await client.submit("async lost fox [[fault:drop-submit]]")
            with pytest.raises(flux2.ContentModeratedError):
                await client.generate("async fox [[fault:content-moderated]]", model="klein-4b")

    asyncio.run(main())
    assert posts(emu, "async lost fox [[fault:drop-submit]]") == 1


def patient_client(emu: Any, **options: Any) -> flux2.Client:
    # Each request alone may take 30 s: only the deadlines under test can end it sooner.
    return flux2.Client(
        api_key=KEY,
        base_url=emu.base_url,
        poll_schedule=flux2.PollSchedule(scale=SPEED),
        timeout=httpx.Timeout(30),
        **options,
    )


def test_a_slow_poll_host_does_not_outlast_the_waits_deadline(emu: Any) -> None:
    with patient_client(emu) as patient:
        task = patient.submit("slowly polled fox [[fault:slow-poll=20]]", model="klein-4b")
        with pytest.raises(flux2.TaskTimeoutError):
            patient.wait(task, timeout=1)


def test_a_slow_download_ends_at_the_download_deadline(emu: Any, tmp_path: Path) -> None:
    with patient_client(emu, download_timeout=1) as patient:
        image = patient.generate(
            "slowly delivered fox [[fault:slow-download=20]]", model="klein-4b"
        )
        with pytest.raises(flux2.APITimeoutError):
            image.save(tmp_path)
    assert list(tmp_path.iterdir()) == []
