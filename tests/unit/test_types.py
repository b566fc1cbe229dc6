"""The public value types and reading wire bodies into them."""

from __future__ import annotations

import json

import pytest

import flux2
from flux2._convert import WireError, result_from_body, task_from_submit


def test_a_task_survives_a_round_trip_through_json() -> None:
    task = flux2.Task(
        "t1", "https://api.eu2.bfl.ai/v1/get_result?id=t1", model="max", cost=16, submitted_at=5
    )
    restored = flux2.Task.from_dict(json.loads(json.dumps(task.to_dict())))
    assert restored == task
    assert restored.cost == 16.0
    assert "webhook_url" not in task.to_dict()  # unset fields are left out
    assert flux2.Task.from_dict({**task.to_dict(), "extra": 1}) == task


def test_a_task_from_its_polling_url() -> None:
    task = flux2.Task.from_polling_url("https://api.us2.bfl.ai/v1/get_result?id=abc-1", model="pro")
    assert (task.id, task.model, task.polling_url) == (
        "abc-1",
        "pro",
        "https://api.us2.bfl.ai/v1/get_result?id=abc-1",
    )
    with pytest.raises(flux2.InputError, match="no task id"):
        flux2.Task.from_polling_url("https://api.us2.bfl.ai/v1/get_result")
    with pytest.raises(flux2.InputError):
        flux2.Task("")


def test_the_webhook_submit_answer_has_no_polling_url() -> None:
    task = task_from_submit(
        {"id": "t", "status": "Pending", "webhook_url": "https://h.example.com", "cost": 3},
        model="flex",
        submitted_at=1.0,
    )
    assert (task.polling_url, task.webhook_url, task.cost) == (None, "https://h.example.com", 3.0)


def test_wrongly_typed_fields_are_treated_as_absent() -> None:
    task = task_from_submit(
        {"id": "t", "polling_url": "https://api.bfl.ai/x?id=t", "cost": "ten"},
        model="flex",
        submitted_at=1.0,
    )
    assert task.cost is None
    with pytest.raises(WireError, match="neither polling_url nor webhook_url"):
        task_from_submit({"id": "t"}, model="flex", submitted_at=1.0)


def test_a_result_body_is_read_leniently() -> None:
    body = {
        "id": "t",
        "status": "Reasoning",
        "progress": 0.25,
        "details": None,
        "preview": {"sample": "x"},
        "result": None,
        "unknown": [1],
    }
    result = result_from_body(body)
    assert (result.status, result.progress, result.state) == (
        "Reasoning",
        0.25,
        flux2.TaskState.IN_FLIGHT,
    )
    assert result.raw == body
    ready = result_from_body(
        {
            "id": "t",
            "status": "Ready",
            "result": {
                "sample": "https://d.bfl.ai/s.jpeg?sig=1",
                "prompt": "p",
                "seed": 7.0,
                "start_time": 1,
                "end_time": 9.5,
                "duration": 8.5,
            },
        }
    )
    assert (ready.seed, ready.end_time, ready.duration, ready.ready) == (7, 9.5, 8.5, True)
    old_style = result_from_body({"id": "t", "status": "Error", "result": {"error": "old"}})
    assert old_style.error == "old"
    with pytest.raises(WireError):
        result_from_body({"id": "t"})


def test_a_result_prints_as_a_progress_line() -> None:
    assert str(flux2.TaskResult("t", "Pending", progress=0.4)) == "task t: Pending 40%"
    assert str(flux2.TaskResult("t", "Error", error="boom")) == "task t: Error (boom)"
    assert "sig=1" not in repr(flux2.TaskResult("t", "Ready", url="https://d.bfl.ai/x?sig=1"))


def test_answers_are_read_by_many_threads_at_once_in_a_fresh_process() -> None:
    # The first answers of a blocking batch are read by its worker threads together, each of
    # which may be the first to need the generated models.
    import subprocess
    import sys

    code = """
import threading
from flux2 import _convert
barrier = threading.Barrier(16)
errors = []
def read(n):
    barrier.wait()
    try:
        if n % 3 == 0:
            _convert.result_from_body({"id": "t", "status": "Pending"}, task_id="t")
        elif n % 3 == 1:
            _convert.task_from_submit(
                {"id": "t", "polling_url": "https://api.bfl.ai/v1/get_result?id=t"},
                model="flex", submitted_at=0.0,
            )
        else:
            _convert.credits_from_body({"credits": 1.0})
    except BaseException as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=read, args=(n,)) for n in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(
    "data",
    [
        None,
        [1],
        "abc",
        {"id": 5},
        {"id": ""},
        {"id": "a", "cost": "x"},
        {"id": "a", "cost": 1 * 10**400},
        {"id": "a", "cost": float("nan")},
        {"id": "a", "cost": float("inf")},
        {"id": "a", "cost": True},
        {"id": "a", "submitted_at": [1]},
        {"id": "a", "polling_url": 5},
        {"id": "a", "model": {"x": 1}},
    ],
)
def test_a_task_from_anything_but_what_to_dict_wrote_is_an_input_error(data: object) -> None:
    with pytest.raises(flux2.InputError):
        flux2.Task.from_dict(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [5, None, b"https://api.bfl.ai/v1/get_result?id=a", ["x"]])
def test_a_polling_url_that_is_not_a_string_is_an_input_error(url: object) -> None:
    with pytest.raises(flux2.InputError, match="must be a string"):
        flux2.Task.from_polling_url(url)  # type: ignore[arg-type]
