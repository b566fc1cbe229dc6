"""``Client`` and ``AsyncClient`` against the emulator's hostile faults, over real sockets.

Each scenario runs with both clients and checks what the user gets (which flux2 error, or an
image after retries), that a submission whose answer was lost or unreadable is uncertain and
never resent, that the key reaches no host but the API's own, and that a download stopped by
a limit or a deadline leaves nothing on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import flux2
from flux2.emulator import Emulator

KEY = "hostile-test-key"
SPEED = 0.002
MODEL = "klein-4b"
# Per request: long enough that only the deadline under test can end a hanging request sooner.
PATIENT = httpx.Timeout(30)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, speed=SPEED, credits=1_000_000.0) as server:
        yield server


class SyncUser:
    """The blocking client, driven the way a user would."""

    def __init__(self, emu: Emulator, options: dict[str, Any]) -> None:
        self.client = emu.client(**options)

    def generate(self, prompt: str, **params: Any) -> flux2.GeneratedImage:
        return self.client.generate(prompt, model=MODEL, **params)

    def submit(self, prompt: str) -> flux2.Task:
        return self.client.submit(prompt, model=MODEL)

    def wait(self, task: flux2.Task, **options: Any) -> flux2.GeneratedImage:
        return self.client.wait(task, **options)

    def save(self, image: flux2.GeneratedImage, path: Path) -> Path:
        return image.save(path)

    def content(self, image: flux2.GeneratedImage) -> bytes:
        return image.content

    def generate_many(self, prompts: list[str]) -> list[flux2.BatchResult]:
        return list(self.client.generate_many(prompts, model=MODEL))

    def close(self) -> None:
        self.client.close()


class AsyncUser:
    """The asyncio client, each call awaited on one event loop."""

    def __init__(self, emu: Emulator, options: dict[str, Any]) -> None:
        self.loop = asyncio.Runner()

        async def make() -> flux2.AsyncClient:
            return emu.async_client(**options)

        self.client = self.loop.run(make())

    def generate(self, prompt: str, **params: Any) -> flux2.GeneratedImage:
        return self.loop.run(self.client.generate(prompt, model=MODEL, **params))

    def submit(self, prompt: str) -> flux2.Task:
        return self.loop.run(self.client.submit(prompt, model=MODEL))

    def wait(self, task: flux2.Task, **options: Any) -> flux2.GeneratedImage:
        return self.loop.run(self.client.wait(task, **options))

    def save(self, image: flux2.GeneratedImage, path: Path) -> Path:
        return self.loop.run(image.asave(path))

    def content(self, image: flux2.GeneratedImage) -> bytes:
        return self.loop.run(image.aread())

    def generate_many(self, prompts: list[str]) -> list[flux2.BatchResult]:
        async def collect() -> list[flux2.BatchResult]:
            return [r async for r in self.client.generate_many(prompts, model=MODEL)]

        return self.loop.run(collect())

    def close(self) -> None:
        self.loop.run(self.client.close())
        self.loop.close()


User = SyncUser | AsyncUser


@pytest.fixture(params=["sync", "async"])
def user(request: pytest.FixtureRequest, emu: Emulator) -> Iterator[Callable[..., User]]:
    """Makes a user of ``Client`` or ``AsyncClient`` (both, by parametrisation) with options."""
    made: list[User] = []
    kind = SyncUser if request.param == "sync" else AsyncUser

    def make(**options: Any) -> User:
        made.append(kind(emu, {"max_retries": 1, "timeout": httpx.Timeout(2), **options}))
        return made[-1]

    yield make
    for each in made:
        each.close()


def prompt_for(request: pytest.FixtureRequest, fault: str) -> str:
    # One prompt per test and client kind: a marker's counts belong to its prompt.
    return f"{request.node.name} [[fault:{fault}]]"


def posts(emu: Emulator, prompt: str) -> int:
    return sum(
        1
        for r in emu.requests
        if r.method == "POST" and isinstance(r.json, dict) and r.json.get("prompt") == prompt
    )


def polls_of(emu: Emulator, task_id: str) -> list[Any]:
    return [r for r in emu.requests if r.origin == "polling" and task_id in r.query]


def assert_key_stayed_home(emu: Emulator) -> None:
    """Every request that carried the key went to the API or polling listener, named by its
    own host; none reached the result host."""
    own = {urlsplit(emu.base_url).netloc, urlsplit(emu.polling_origin).netloc}
    for recorded in emu.requests:
        if recorded.has_key:
            assert recorded.origin in {"api", "polling"}, recorded
            assert recorded.host in own, recorded


def assert_no_key(error: BaseException) -> None:
    """No text reachable from ``error`` (its chain, arguments, attributes, any request or
    headers left in it) holds the key."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen or isinstance(item, type):
            continue
        seen.add(id(item))
        if isinstance(item, (bytes, bytearray)):
            item = item.decode("latin-1")
        if isinstance(item, str):
            assert KEY not in item, type(error).__name__
            continue
        if isinstance(item, (int, float)):
            continue
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
        elif isinstance(item, httpx.Headers):
            stack += list(item.multi_items())
        if isinstance(item, BaseException):
            stack += [item.__cause__, item.__context__, *item.args]
        for name in ("request", "_request", "headers"):
            try:
                stack.append(getattr(item, name, None))
            except RuntimeError:  # httpx: a request that was taken out
                continue
        stack += list(getattr(item, "__dict__", {}).values())


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


# -- submissions whose answer is lost or unreadable -------------------------------------------


@pytest.mark.parametrize("fault", ["hang-submit", "bad-encoding-submit", "deep-json-submit"])
@pytest.mark.parametrize("how", ["submit", "generate"])
def test_an_unreadable_submit_answer_is_uncertain_and_never_resent(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User], fault: str, how: str
) -> None:
    prompt = prompt_for(request, fault)
    someone = user(timeout=httpx.Timeout(0.5), max_retries=2)
    with pytest.raises(flux2.SubmissionUncertainError, match="billed") as caught:
        someone.submit(prompt) if how == "submit" else someone.generate(prompt)
    assert_no_key(caught.value)
    assert len(emu.submissions(prompt)) == 1  # the task exists and was billed, once
    assert posts(emu, prompt) == 1  # and was never sent again


# -- poll answers that cannot be read ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("bad-encoding-poll", flux2.APIResponseValidationError),
        ("deep-json-poll", flux2.APIResponseValidationError),
        ("huge-poll=8MiB", flux2.ResponseTooLargeError),
    ],
)
def test_an_unreadable_poll_answer_is_a_flux2_error(
    request: pytest.FixtureRequest,
    emu: Emulator,
    user: Callable[..., User],
    fault: str,
    error: type[flux2.Flux2Error],
) -> None:
    prompt = prompt_for(request, fault)
    with pytest.raises(error) as caught:
        user().generate(prompt)
    assert_no_key(caught.value)
    assert posts(emu, prompt) == 1


def test_a_poll_answered_503_with_a_task_body_keeps_polling(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User]
) -> None:
    # The first poll always sees the task in flight (unknown-status), answered 503.
    prompt = prompt_for(request, "poll-503-task") + " [[fault:unknown-status]]"
    image = user(max_retries=0).generate(prompt)
    (task,) = emu.submissions(prompt)
    assert image.task_id == task.id
    statuses = [r.status for r in polls_of(emu, task.id)]
    assert statuses[0] == 503
    assert len(statuses) >= 2  # the in-flight 503 was followed by another poll


def test_several_503_polls_in_a_row_do_not_end_the_wait(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User]
) -> None:
    someone = user(max_retries=0)
    task = someone.submit(prompt_for(request, "poll-503-task=4") + " [[fault:stuck]]")
    with pytest.raises(flux2.TaskTimeoutError):
        someone.wait(task, timeout=0.5)
    statuses = [r.status for r in polls_of(emu, task.id)]
    assert statuses[:4] == [503] * 4
    assert statuses[4:]
    assert set(statuses[4:]) == {200}


# -- deadlines of a wait ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["hang-poll=always", "trickle-poll=1", "long-retry-after=30"])
def test_a_wait_ends_at_its_deadline_whatever_the_poll_host_does(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User], fault: str
) -> None:
    patient = user(timeout=PATIENT, max_retries=2)
    task = patient.submit(prompt_for(request, fault))
    with pytest.raises(flux2.TaskTimeoutError) as caught:
        patient.wait(task, timeout=1)
    assert caught.value.task_id == task.id
    assert_no_key(caught.value)
    assert polls_of(emu, task.id)  # it did poll: the deadline, not a refusal, ended it


def test_a_retry_after_beyond_any_reason_is_raised_with_it(
    request: pytest.FixtureRequest, user: Callable[..., User]
) -> None:
    with pytest.raises(flux2.InternalServerError) as caught:
        user().generate(prompt_for(request, "long-retry-after"), timeout=30)
    assert caught.value.status_code == 503


# -- downloads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("endless-download=always", flux2.ResponseTooLargeError),
        ("gzip-bomb=64MiB", flux2.ResponseTooLargeError),
        ("trickle-download=1", flux2.TransferTimeoutError),
        ("hang-download=always", flux2.TransferTimeoutError),
        ("bad-encoding-download=always", flux2.DownloadError),
    ],
)
def test_a_download_past_a_limit_leaves_nothing_on_disk(
    request: pytest.FixtureRequest,
    user: Callable[..., User],
    tmp_path: Path,
    fault: str,
    error: type[flux2.Flux2Error],
) -> None:
    # A short deadline only where the deadline is under test: a limit of size must not race it.
    deadline = 0.5 if error is flux2.TransferTimeoutError else 300.0
    someone = user(timeout=PATIENT, download_timeout=deadline)
    image = someone.generate(prompt_for(request, fault))
    out = tmp_path / "out"
    with pytest.raises(error) as caught:
        someone.save(image, out)
    assert_no_key(caught.value)
    with pytest.raises(error):
        someone.content(image)
    assert files_under(tmp_path) == []


# -- names and URLs from the service ----------------------------------------------------------


@pytest.mark.parametrize("task_id", ["/../../outside/pwned", "a/b/../c", "..", "con"])
def test_a_hostile_task_id_never_writes_outside_the_directory(
    request: pytest.FixtureRequest, user: Callable[..., User], tmp_path: Path, task_id: str
) -> None:
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    someone = user()
    image = someone.generate(prompt_for(request, f"task-id={task_id}"))
    assert image.task_id == task_id
    saved = someone.save(image, out)
    assert files_under(tmp_path) == [saved]
    assert saved.parent == out
    assert saved.read_bytes().startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize("trick", ["tab", "nul", "lookalike", "userinfo"])
def test_a_spoiled_polling_url_is_refused_before_the_key_leaves(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User], trick: str
) -> None:
    prompt = prompt_for(request, f"polling-url={trick}")
    with pytest.raises(flux2.UntrustedHostError) as caught:
        user().generate(prompt)
    assert_no_key(caught.value)
    (task,) = emu.submissions(prompt)
    assert polls_of(emu, task.id) == []
    assert_key_stayed_home(emu)


@pytest.mark.parametrize("trick", ["tab", "nul", "lookalike", "userinfo"])
def test_a_spoiled_result_url_is_refused_and_leaves_nothing(
    request: pytest.FixtureRequest,
    emu: Emulator,
    user: Callable[..., User],
    tmp_path: Path,
    trick: str,
) -> None:
    someone = user()
    image = someone.generate(prompt_for(request, f"result-url={trick}"))
    with pytest.raises(flux2.UntrustedHostError):
        someone.save(image, tmp_path)
    assert files_under(tmp_path) == []
    assert_key_stayed_home(emu)


# -- a batch goes on ---------------------------------------------------------------------------


def test_hostile_answers_fail_only_their_own_batch_item(
    request: pytest.FixtureRequest, emu: Emulator, user: Callable[..., User]
) -> None:
    faults = ["deep-json-submit", "bad-encoding-poll", "huge-poll=8MiB", "polling-url=nul"]
    prompts = [prompt_for(request, fault) for fault in faults] + [f"{request.node.name} calm"]
    results = sorted(user().generate_many(prompts), key=lambda r: r.index)
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert isinstance(results[0].error, flux2.SubmissionUncertainError)
    assert all(isinstance(r.error, flux2.Flux2Error) for r in results[:4])
    assert [posts(emu, p) for p in prompts] == [1] * 5
    assert_key_stayed_home(emu)
