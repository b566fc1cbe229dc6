"""Retries are money-safe: a submission that may have reached the server is never replayed."""

from __future__ import annotations

import email.utils
import random

import httpx
import pytest
from flux2_fakes import KEY, FakeBFL, Runner

import flux2
from flux2.decisions import RetryPolicy, parse_retry_after


def fail(exc_type: type[httpx.TransportError]) -> httpx.TransportError:
    return exc_type("simulated", request=httpx.Request("POST", "https://api.bfl.ai/"))


def test_429_on_a_submission_is_retried_after_retry_after(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [
        httpx.Response(429, headers={"retry-after": "7"}, json={"detail": "busy"})
    ]
    task = run("submit", "a fox")
    assert task.id == "task-1"
    assert len(api.submissions()) == 2
    assert 7 <= api.clock.sleeps[0] <= 8


def test_retry_after_as_an_http_date(run: Runner, api: FakeBFL) -> None:
    when = email.utils.formatdate(api.clock.now + 12, usegmt=True)
    api.submit_replies = [httpx.Response(429, headers={"retry-after": when})]
    run("submit", "a fox")
    assert 11 <= api.clock.sleeps[0] <= 13.5


def test_a_retry_after_beyond_the_cap_is_left_to_the_caller(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [httpx.Response(429, headers={"retry-after": "3600"})]
    with pytest.raises(flux2.RateLimitError) as caught:
        run("submit", "a fox")
    assert caught.value.retry_after == 3600
    assert caught.value.status_code == 429
    assert len(api.submissions()) == 1
    assert api.clock.sleeps == []


def test_retries_stop_at_max_retries(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [httpx.Response(429)] * 10
    with pytest.raises(flux2.RateLimitError):
        run("submit", "a fox")
    assert len(api.submissions()) == 3  # the default: 2 retries
    run.client = run.client.with_options(max_retries=0)
    api.requests.clear()
    with pytest.raises(flux2.RateLimitError):
        run("submit", "a fox")
    assert len(api.submissions()) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_on_a_submission_is_not_replayed(run: Runner, api: FakeBFL, status: int) -> None:
    api.submit_replies = [httpx.Response(status, json={"detail": "boom"})]
    with pytest.raises(flux2.InternalServerError) as caught:
        run("submit", "a fox")
    assert len(api.submissions()) == 1
    assert "may or may not have created a task" in str(caught.value)


def test_a_gateway_timeout_on_a_submission_is_reported_as_uncertain(
    run: Runner, api: FakeBFL
) -> None:
    api.submit_replies = [httpx.Response(504)]
    with pytest.raises(flux2.SubmissionUncertainError, match="billed"):
        run("submit", "a fox")
    assert len(api.submissions()) == 1


@pytest.mark.parametrize(
    "exc_type",
    [
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.WriteError,
        httpx.WriteTimeout,
    ],
)
def test_a_submission_whose_answer_was_lost_is_never_replayed(
    run: Runner, api: FakeBFL, exc_type: type[httpx.TransportError]
) -> None:
    api.submit_replies = [fail(exc_type)]
    with pytest.raises(flux2.SubmissionUncertainError) as caught:
        run("submit", "a fox", model="max")
    assert len(api.submissions()) == 1
    assert "may have been created and billed" in str(caught.value)
    assert caught.value.model == "max"
    assert not isinstance(caught.value, flux2.APIConnectionError)  # not a "just retry it" error
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_submission_that_never_left_is_retried(
    run: Runner, api: FakeBFL, exc_type: type[httpx.TransportError]
) -> None:
    api.submit_replies = [fail(exc_type)]
    task = run("submit", "a fox")
    assert task.id == "task-1"
    assert len(api.submissions()) == 2


def test_connect_errors_exhausted_on_a_submission_are_connection_errors(
    run: Runner, api: FakeBFL
) -> None:
    api.submit_replies = [fail(httpx.ConnectError)] * 3
    with pytest.raises(flux2.APIConnectionError) as caught:
        run("submit", "a fox")
    assert not isinstance(caught.value, flux2.APITimeoutError)
    assert len(api.submissions()) == 3


def test_reads_are_retried_on_5xx_and_network_errors(run: Runner, api: FakeBFL) -> None:
    replies = iter([httpx.Response(503), fail(httpx.ReadTimeout)])

    def credits(request: httpx.Request) -> httpx.Response:
        reply = next(replies, None)
        if reply is None:
            return httpx.Response(200, json={"credits": 42})
        if isinstance(reply, Exception):
            raise reply
        return reply

    api.routes[("GET", "https://api.bfl.ai/v1/credits")] = credits
    assert run("credits") == 42.0
    assert len(api.requests) == 3


def test_read_timeouts_exhausted_are_timeout_errors(run: Runner, api: FakeBFL) -> None:
    def always(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    api.routes[("GET", "https://api.bfl.ai/v1/credits")] = always
    with pytest.raises(flux2.APITimeoutError, match="timed out"):
        run("credits")
    assert len(api.requests) == 3


def test_a_submit_answer_without_a_task_is_uncertain(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [httpx.Response(200, text="<html>gateway</html>")]
    with pytest.raises(flux2.SubmissionUncertainError, match="may have been created"):
        run("submit", "a fox")
    assert len(api.submissions()) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy()
    rng = random.Random(5)
    for attempt in range(8):
        base = min(0.5 * 2**attempt, 8.0)
        for _ in range(50):
            delay = policy.backoff(attempt, rng)
            assert 0.75 * base <= delay <= 1.25 * base
    assert policy.delay_for_status("POST", 503, 0, None, rng) is None
    assert policy.delay_for_status("GET", 404, 0, None, rng) is None
    assert policy.delay_for_status("POST", 429, 0, None, rng) is not None
    assert policy.delay_for_status("GET", 503, 2, None, rng) is None  # retries used up


def test_retry_after_parsing() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after({"retry-after": "3"}, now) == 3
    assert parse_retry_after({"retry-after": "-3"}, now) == 0
    assert parse_retry_after({"retry-after-ms": "1500"}, now) == 1.5
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now) == pytest.approx(30)
    assert parse_retry_after({"retry-after": "soon"}, now) is None
    assert parse_retry_after({}, now) is None
    # Numbers too large to be a time are unreadable, not an endless wait.
    assert parse_retry_after({"retry-after-ms": "1e400"}, now) is None
    assert parse_retry_after({"retry-after-ms": "inf", "retry-after": "2"}, now) == 2
    assert parse_retry_after({"retry-after": "1e400"}, now) is None
