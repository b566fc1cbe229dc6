"""Hostile and broken answers: only flux2's own errors leave a call, no secret is reachable from
them, sizes and deadlines hold, a submission that may have been billed is reported as such."""

from __future__ import annotations

import gzip
import itertools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux2_fakes import KEY, PNG, REGION, SIG, FakeBFL, Runner, result_url, streamed

import flux2

DEEP = b"[" * 200_000 + b"]" * 200_000
JSON = {"content-type": "application/json"}


def deep_json(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=DEEP, headers=JSON)


def broken_gzip(request: httpx.Request) -> httpx.Response:
    return streamed(200, [b"this is not gzip"], headers={**JSON, "content-encoding": "gzip"})


def boom(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("something nobody expected")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- only flux2 errors leave a public call --------------------------------------------------


@pytest.mark.parametrize("answer", [deep_json, broken_gzip], ids=["deep-json", "broken-gzip"])
def test_an_unreadable_poll_answer_is_a_flux2_error(
    run: Runner, api: FakeBFL, answer: Callable[[httpx.Request], httpx.Response]
) -> None:
    api.polls = [answer]
    with pytest.raises(flux2.APIResponseValidationError, match="could not be read"):
        run("generate", "a fox")


@pytest.mark.parametrize(
    "answer", [deep_json, broken_gzip, boom], ids=["deep-json", "broken-gzip", "unexpected"]
)
def test_a_submission_whose_answer_cannot_be_read_is_uncertain(
    run: Runner, api: FakeBFL, answer: Callable[[httpx.Request], httpx.Response]
) -> None:
    api.submit_replies = [answer]
    with pytest.raises(flux2.SubmissionUncertainError, match="may have been created and billed"):
        run("submit", "a fox")
    assert len(api.submissions()) == 1


def huge_cost(request: httpx.Request) -> httpx.Response:
    body = b'{"id": "t-7", "polling_url": "%s/v1/get_result?id=t-7", "cost": 1%s}' % (
        REGION.encode(),
        b"0" * 400,
    )
    return httpx.Response(200, content=body, headers=JSON)


def test_a_billed_answer_that_is_no_task_is_uncertain_and_names_the_task(
    run: Runner, api: FakeBFL
) -> None:
    api.submit_replies = [huge_cost]
    with pytest.raises(flux2.SubmissionUncertainError, match="OverflowError") as caught:
        run("submit", "a fox")
    assert "'t-7'" in str(caught.value)
    assert f"{REGION}/v1/get_result?id=t-7" in str(caught.value)


def test_a_strict_warning_made_an_error_on_a_billed_answer_is_uncertain(
    run: Runner, api: FakeBFL
) -> None:
    run.client = run.client.with_options(strict=True)
    reply = {"id": "t-8", "polling_url": f"{REGION}/v1/get_result?id=t-8", "cost": "abc"}
    api.submit_replies = [httpx.Response(200, json=reply)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", flux2.conformance.Flux2ConformanceWarning)
        with pytest.raises(flux2.SubmissionUncertainError, match="'t-8'"):
            run("submit", "a fox")
    assert len(api.submissions()) == 1


@pytest.mark.parametrize("bad", ["\t", "\x00", "\n", " ", "\x7f"])
def test_a_polling_url_with_a_control_character_is_refused_before_any_request(
    run: Runner, api: FakeBFL, bad: str
) -> None:
    task = flux2.Task("t-1", polling_url=f"{REGION}/v1/get_result?id=t-1{bad}x")
    with pytest.raises(flux2.UntrustedHostError):
        run("wait", task)
    with pytest.raises(flux2.UntrustedHostError):
        run("get_result", task)
    assert api.requests == []


@pytest.mark.parametrize("bad", ["\t", "\x00"])
def test_a_result_url_with_a_control_character_is_refused(
    run: Runner, api: FakeBFL, tmp_path: Path, bad: str
) -> None:
    api.polls = [{"status": "Ready", "result": {"sample": result_url("t") + bad}}]
    image = run("generate", "a fox")
    with pytest.raises(flux2.UntrustedHostError):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []
    assert not api.to("delivery-eu1.bfl.ai")


def test_anything_unexpected_becomes_an_unexpected_error(run: Runner, api: FakeBFL) -> None:
    api.routes[("GET", "https://api.bfl.ai/v1/credits")] = boom
    with pytest.raises(flux2.UnexpectedError, match="RuntimeError: something nobody expected"):
        run("credits")


def test_a_broken_encoding_on_a_download_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    api.delivery_replies = [broken_gzip]
    image = run("generate", "a fox")
    with pytest.raises(flux2.DownloadError, match="could not be read"):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []


def test_a_batch_item_with_an_unreadable_answer_does_not_stop_the_others(
    run: Runner, api: FakeBFL
) -> None:
    api.submit_replies = [deep_json]
    results = sorted(run("generate_many", ["one", "two", "three"]), key=lambda r: r.index)
    errors = [r.error for r in results if r.error is not None]
    assert len(errors) == 1
    assert isinstance(errors[0], flux2.SubmissionUncertainError)
    assert sum(r.ok for r in results) == 2


# --- no secret is reachable from an exception -----------------------------------------------


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from an exception through its cause, context, arguments,
    attributes (``request``/``response`` properties included) and containers."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (type, type(reachable), type(gzip))):
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, (str, bytes, bytearray, int, float, bool)) or item is None:
            continue
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
            continue
        if isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
            continue
        if isinstance(item, httpx.Headers):
            stack += [*item.keys(), *item.values()]
            continue
        if isinstance(item, BaseException):
            stack += [item.__cause__, item.__context__, *item.args]
        for name in ("request", "response", "url", "headers", "content", "stream", "_request"):
            try:
                stack.append(getattr(item, name))
            except Exception:
                continue
        stack += list(getattr(item, "__dict__", {}).values())
        for cls in type(item).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(item, name):
                    stack.append(getattr(item, name))


def assert_no_secret(error: BaseException) -> None:
    for item in reachable(error):
        text = item.decode("latin-1") if isinstance(item, (bytes, bytearray)) else item
        if isinstance(text, str):
            assert KEY not in text, (type(error).__name__, type(item))
            assert SIG not in text, (type(error).__name__, type(item))


def lost(exc_type: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        raise exc_type("lost", request=request)

    return reply


SCENARIOS: dict[str, Callable[[FakeBFL], None]] = {
    "401": lambda api: api.submit_replies.append(httpx.Response(401, json={"detail": "no"})),
    "connect-error": lambda api: api.submit_replies.extend([lost(httpx.ConnectError)] * 3),
    "lost-answer": lambda api: api.submit_replies.append(lost(httpx.ReadError)),
    "poll-timeout": lambda api: api.polls.append(lost(httpx.ReadTimeout)),
    "deep-json": lambda api: api.polls.append(deep_json),
    "unexpected": lambda api: api.polls.append(boom),
    "task-failed": lambda api: api.polls.append({"status": "Error", "details": {"error": "x"}}),
    "download-403": lambda api: api.delivery_replies.extend([httpx.Response(403)]),
    "download-cut": lambda api: api.delivery_replies.extend(
        [httpx.Response(200, content=PNG[:9], headers={"content-length": "999"})] * 3
    ),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_object_reachable_from_an_error_holds_the_key_or_a_signature(
    run: Runner, api: FakeBFL, tmp_path: Path, scenario: str
) -> None:
    SCENARIOS[scenario](api)

    def generate_and_save() -> None:
        run.save(run("generate", "a fox"), tmp_path)

    with pytest.raises(flux2.Flux2Error) as caught:
        generate_and_save()
    assert_no_secret(caught.value)


def test_the_walk_finds_a_key_left_in_a_cause() -> None:
    request = httpx.Request("GET", "https://api.bfl.ai/v1/credits", headers={"x-key": KEY})
    error = flux2.APIConnectionError("failed")
    error.__cause__ = httpx.ConnectError("no", request=request)
    with pytest.raises(AssertionError):
        assert_no_secret(error)


# --- size limits ----------------------------------------------------------------------------


def test_a_download_over_the_limit_stops_and_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    api.image = PNG + bytes(5000)
    image = run("generate", "a fox")
    small = run.client.with_options(max_download_bytes=1000)
    image = run("wait", flux2.Task(image.task_id, polling_url=image.task.polling_url))
    image = flux2.GeneratedImage(image.task, image.result, downloader=small._downloader)
    with pytest.raises(flux2.ResponseTooLargeError) as caught:
        run.save(image, tmp_path)
    assert caught.value.limit == 1000
    assert leftovers(tmp_path) == []


def test_a_gzip_bomb_is_stopped_by_its_decoded_size(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    bomb = gzip.compress(PNG + bytes(8 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    api.delivery_replies = [
        lambda request: streamed(200, [bomb], headers={"content-encoding": "gzip"})
    ]
    run.client = run.client.with_options(max_download_bytes=1024 * 1024)
    image = run("generate", "a fox")
    with pytest.raises(flux2.ResponseTooLargeError):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []


def test_an_api_answer_over_the_limit_is_refused(run: Runner, api: FakeBFL) -> None:
    huge = b'{"status": "Pending", "pad": "' + b"x" * 20_000 + b'"}'
    run.client = run.client.with_options(max_response_bytes=10_000)
    api.polls = [lambda request: streamed(200, itertools.repeat(huge, 1), headers=JSON)]
    with pytest.raises(flux2.ResponseTooLargeError):
        run("generate", "a fox")
    api.submit_replies = [lambda request: httpx.Response(200, content=huge, headers=JSON)]
    with pytest.raises(flux2.SubmissionUncertainError):
        run("submit", "a fox")


def test_limits_are_settings_with_documented_defaults(api: FakeBFL) -> None:
    client = flux2.Client(api_key=KEY)
    assert client.max_download_bytes == 32 * 1024 * 1024
    assert client.max_response_bytes == 4 * 1024 * 1024
    assert client.download_timeout == 300
    changed = client.with_options(max_download_bytes=5, download_timeout=2.5)
    assert (changed.max_download_bytes, changed.download_timeout) == (5, 2.5)
    assert client.max_download_bytes == 32 * 1024 * 1024
    for bad in ({"max_download_bytes": 0}, {"max_response_bytes": "1"}, {"download_timeout": 0}):
        with pytest.raises(flux2.InputError):
            flux2.Client(api_key=KEY, **bad)  # type: ignore[arg-type]


# --- deadlines ------------------------------------------------------------------------------


def test_every_poll_is_bounded_by_the_waits_deadline(run: Runner, api: FakeBFL) -> None:
    api.ready_after(2)
    deadline = api.clock.now + 30
    run("generate", "a fox", timeout=30)
    polls = [
        (t, r) for t, r in zip(api.times, api.requests, strict=True) if "get_result" in str(r.url)
    ]
    assert len(polls) == 3
    for arrived, request in polls:
        timeouts = request.extensions["timeout"]
        assert all(value is not None and value <= deadline - arrived for value in timeouts.values())


def test_a_long_retry_after_does_not_sleep_past_the_deadline(run: Runner, api: FakeBFL) -> None:
    api.polls = [httpx.Response(503, headers={"retry-after": "50"})]
    started = api.clock.now
    with pytest.raises(flux2.Flux2Error):
        run("generate", "a fox", timeout=10)
    assert api.clock.now - started <= 10


def test_a_trickling_poll_answer_ends_at_the_waits_deadline(run: Runner, api: FakeBFL) -> None:
    def tick() -> None:
        api.clock.now += 1.0

    api.polls = [lambda request: streamed(200, itertools.repeat(b" "), on_chunk=tick)]
    with pytest.raises(flux2.TaskTimeoutError):
        run("generate", "a fox", timeout=20)


def test_a_trickling_download_ends_at_its_deadline_and_leaves_no_file(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    def tick() -> None:
        api.clock.now += 1.0

    api.delivery_replies = [
        lambda request: streamed(200, itertools.chain([PNG], itertools.repeat(b"x")), on_chunk=tick)
    ]
    image = run("generate", "a fox")
    with pytest.raises(flux2.TransferTimeoutError, match="download_timeout"):
        run.save(image, tmp_path)
    assert leftovers(tmp_path) == []


# --- money: polling goes on, callbacks do not orphan tasks, slots are shared ----------------


def test_a_poll_answered_503_with_a_task_body_keeps_polling(run: Runner, api: FakeBFL) -> None:
    busy = httpx.Response(503, json={"id": "x", "status": "Pending"})
    api.polls = [busy, busy, busy, busy, {"status": "Ready"}]
    image = run("generate", "a fox")
    assert image.task_id == "task-1"
    assert len(api.polls_made()) == 5
    assert len(api.submissions()) == 1


def test_an_on_submitted_that_raises_does_not_orphan_the_task(run: Runner, api: FakeBFL) -> None:
    api.ready_after(2)

    def careless(index: int, task: flux2.Task) -> None:
        raise TypeError("write() argument must be str, not dict")

    results = run("generate_many", ["a", "b"], on_submitted=careless)
    assert len(results) == 2
    for result in results:
        assert result.image is not None  # waited for all the same
        assert isinstance(result.error, flux2.CallbackError)
        assert isinstance(result.error.__cause__, TypeError)
        assert result.error.task == result.task
    assert len(api.submissions()) == 2


def test_an_on_progress_that_raises_does_not_orphan_the_task(run: Runner, api: FakeBFL) -> None:
    api.ready_after(3)
    calls: list[Any] = []

    def careless(result: flux2.TaskResult) -> None:
        calls.append(result)
        raise ValueError("oops")

    with pytest.raises(flux2.CallbackError) as caught:
        run("generate", "a fox", on_progress=careless)
    assert len(calls) == 1  # not called again
    assert len(api.polls_made()) == 4  # but the task was waited for to the end
    assert caught.value.task.id == "task-1"
    assert isinstance(caught.value.__cause__, ValueError)
    assert run("wait", caught.value.task).task_id == "task-1"


def test_a_task_that_fails_after_a_callback_raised_reports_both(run: Runner, api: FakeBFL) -> None:
    api.polls = [{"status": "Pending"}, {"status": "Error", "details": {"error": "broken"}}]

    def careless(*args: object) -> None:
        raise ValueError("oops")

    with pytest.raises(flux2.TaskFailedError) as caught:
        run("generate", "a fox", on_progress=careless)
    assert "on_progress had raised ValueError: oops" in caught.value.__notes__
    [result] = run("generate_many", ["b"], on_submitted=careless)
    assert isinstance(result.error, flux2.TaskFailedError)
    assert "on_submitted had raised ValueError: oops" in result.error.__notes__


def test_saving_where_nothing_can_be_written_is_a_flux2_error(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    image = run("generate", "a fox")
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(flux2.UnexpectedError, match="writing the result failed"):
        run.save(image, blocker / "inside" / "fox.png")
    # Once the bytes are in memory, saving writes them without a download: the same rule holds.
    assert (run.run(image.aread()) if run.kind == "async" else image.read()) == PNG
    with pytest.raises(flux2.UnexpectedError, match="writing the result failed"):
        run.save(image, blocker / "inside" / "fox.png")
    with pytest.raises(flux2.InputError, match="path must be"):
        run.save(image, 5)


# --- a URL the service sent is the service's fault, one the caller gave is bad input ---------


def redirect_to(location: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(302, headers=[(b"location", location)])


def test_a_redirect_to_an_unusable_url_is_a_response_error(run: Runner, api: FakeBFL) -> None:
    api.polls = [redirect_to(b"data:text/plain,hi")]
    with pytest.raises(flux2.APIResponseValidationError, match="the service sent a URL"):
        run("generate", "a fox")


def test_a_polling_url_on_a_lookalike_host_gets_no_key(run: Runner, api: FakeBFL) -> None:
    # Fullwidth letters: under bfl.ai as text, but a different string from what is connected to.
    api.polling_base = "https://\uff21PI.bfl.ai"
    with pytest.raises(flux2.UntrustedHostError, match="refusing to send the API key"):
        run("generate", "a fox")
    assert len(api.submissions()) == 1
    assert [r for r in api.requests if r.method == "GET"] == []


def test_an_unusable_url_the_caller_gives_is_bad_input(
    run: Runner, api: FakeBFL, tmp_path: Path
) -> None:
    with pytest.raises(flux2.InputError, match="not a usable polling URL"):
        run("wait", flux2.Task("t-1", polling_url="https://xn--.bfl.ai/v1/get_result?id=t-1"))
    with pytest.raises(flux2.InputError, match="not a usable polling URL"):
        run("get_result", "https://xn--.bfl.ai/v1/get_result?id=t-1")
    with pytest.raises(flux2.InputError, match="not a usable result URL"):
        run("download", "https://a..b/x.png", tmp_path)
    assert api.requests == []
