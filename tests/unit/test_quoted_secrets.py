"""A server that quotes the key, a webhook secret or a signed URL back: no flux2 exception
(message, arguments, body, details, notes) holds it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from flux2_fakes import KEY, SIG, FakeBFL, Runner, result_url

import flux2
from flux2._logging import remember_secret

WEBHOOK_SECRET = "whsec-quoted-back-0123"


def strings(root: object) -> Iterator[str]:
    """Every string reachable from an exception: cause, context, arguments, notes, attributes
    and containers (bytes read as latin-1)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            yield item
        elif isinstance(item, bytes | bytearray):
            yield bytes(item).decode("latin-1")
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
        elif isinstance(item, httpx.Headers):
            stack += [*item.keys(), *item.values()]
        elif item is not None and not isinstance(item, int | float):
            if isinstance(item, BaseException):
                stack += [item.__cause__, item.__context__, *item.args, str(item), repr(item)]
                stack += getattr(item, "__notes__", [])
            stack += list(getattr(item, "__dict__", {}).values())


def assert_nothing_quoted(error: BaseException) -> None:
    for text in strings(error):
        for secret in (KEY, SIG, WEBHOOK_SECRET):
            assert secret not in text, (type(error).__name__, text[:200])


QUOTED = f"Invalid API key {KEY}, see {result_url('x')} secret {WEBHOOK_SECRET}"


@pytest.mark.parametrize("status", [401, 403, 422, 429, 500])
def test_an_error_answer_quoting_the_key_leaves_it_out_of_the_exception(
    run: Runner, api: FakeBFL, status: int
) -> None:
    remember_secret(WEBHOOK_SECRET)  # as a request carrying it would
    body = {"detail": QUOTED, "echo": {"x-key": KEY, "list": [QUOTED]}}
    api.submit_replies = [httpx.Response(status, json=body)] * 5
    with pytest.raises(flux2.Flux2Error) as caught:
        run("generate", "a fox", model="klein-4b")
    assert "Invalid API key ***" in str(caught.value) or status in {500, 429}
    assert_nothing_quoted(caught.value)


def test_a_failed_task_quoting_the_key_leaves_it_out_of_the_exception(
    run: Runner, api: FakeBFL
) -> None:
    api.polls = [{"status": "Error", "details": {"error": QUOTED, "nested": [QUOTED]}}]
    with pytest.raises(flux2.TaskFailedError) as caught:
        run("generate", "a fox", model="klein-4b")
    assert "Invalid API key ***" in str(caught.value)
    assert_nothing_quoted(caught.value)


def test_every_api_and_task_error_redacts_what_the_server_quoted() -> None:
    # Made anywhere in flux2 (an unreadable answer, a task that failed), the error itself
    # removes what the server quoted back, so no construction site can forget it.
    remember_secret(KEY)
    quoted = f"key {KEY} at https://delivery.example/x?se=1&sig={SIG}"
    deep: object = quoted
    for _ in range(500):
        deep = [deep]
    errors: list[BaseException] = [
        flux2.APIResponseValidationError(quoted, status_code=200, body={"detail": quoted}),
        flux2.APIResponseValidationError("deep", status_code=200, body=deep),
        flux2.TaskFailedError(quoted, task_id="t", status=quoted, details={"error": quoted}),
    ]
    for error in errors:
        found = "\n".join(strings(error))
        assert KEY not in found
        assert SIG not in found
