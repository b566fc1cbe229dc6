"""One exception tree; one class per meaningful status, carrying what the server said."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest
from flux2_fakes import KEY, FakeBFL, Runner

import flux2
from flux2 import errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, flux2.AuthenticationError),
        (403, flux2.AuthenticationError),
        (402, flux2.InsufficientCreditsError),
        (404, flux2.NotFoundError),
        (422, flux2.UnprocessableEntityError),
        (429, flux2.RateLimitError),
        (500, flux2.InternalServerError),
        (502, flux2.InternalServerError),
        (418, flux2.APIError),
    ],
)
def test_each_status_has_its_class(run: Runner, api: FakeBFL, status: int, cls: type) -> None:
    body: Any = {"detail": "Insufficient credits"} if status != 422 else {"detail": []}
    api.routes[("GET", "https://api.bfl.ai/v1/credits")] = lambda request: httpx.Response(
        status, json=body, headers={"x-request-id": "req-77", "retry-after": "999"}
    )
    with pytest.raises(cls) as caught:
        run("credits")
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.body == body
    assert error.request_id == "req-77"
    assert error.method == "GET"
    assert KEY not in str(error)
    if status != 422:
        assert "Insufficient credits" in str(error)


def test_a_422_carries_the_servers_detail_list(run: Runner, api: FakeBFL) -> None:
    detail = [
        {"loc": ["body", "width"], "msg": "Input should be a multiple of 16", "type": "value_error"}
    ]
    api.submit_replies = [httpx.Response(422, json={"detail": detail})]
    with pytest.raises(flux2.ValidationError) as caught:
        run("submit", "a fox")
    assert caught.value.detail == detail
    assert "width: Input should be a multiple of 16" in str(caught.value)
    assert flux2.ValidationError is flux2.UnprocessableEntityError


def test_401_hints_at_the_key_without_showing_it(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [httpx.Response(401, json={"detail": "Not authenticated"})]
    with pytest.raises(flux2.AuthenticationError, match="BFL_API_KEY") as caught:
        run("submit", "a fox")
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


def test_402_is_insufficient_credits_and_not_retried(run: Runner, api: FakeBFL) -> None:
    api.submit_replies = [httpx.Response(402, json={"detail": "Insufficient credits"})]
    with pytest.raises(flux2.InsufficientCreditsError):
        run("submit", "a fox")
    assert len(api.requests) == 1


def test_the_tree() -> None:
    names = [name for name, obj in vars(errors).items() if inspect.isclass(obj)]
    for name in names:
        cls = getattr(errors, name)
        if issubclass(cls, Exception):
            assert issubclass(cls, flux2.Flux2Error), name
            assert getattr(flux2, name) is cls, f"flux2.{name} is not exported"
    assert issubclass(flux2.InputError, ValueError)
    assert issubclass(flux2.UnknownModelError, flux2.InputError)
    assert issubclass(flux2.TaskTimeoutError, TimeoutError)
    assert issubclass(flux2.APITimeoutError, flux2.APIConnectionError)
    assert issubclass(flux2.ResultExpiredError, flux2.DownloadError)
    assert not issubclass(flux2.SubmissionUncertainError, flux2.APIConnectionError)
    for cls in (
        flux2.TaskFailedError,
        flux2.RequestModeratedError,
        flux2.ContentModeratedError,
        flux2.TaskNotFoundError,
        flux2.TaskTimeoutError,
    ):
        assert issubclass(cls, flux2.TaskError)


def test_the_tree_is_drawn_at_the_top_of_the_module() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        if name != "ValidationError":
            assert name in doc, name
