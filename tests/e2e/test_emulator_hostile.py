"""The emulator's hostile faults, each served as documented, over plain HTTP (httpx, no flux2).

These are the answers a client's limits, deadlines and error tree are tested against: hanging,
trickling, endless, gzip-bombed, badly encoded, deeply nested and huge answers, 503 polls with
a task body, long Retry-After, and task ids and URLs that try to escape or mislead.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emulator_helpers import IN_FLIGHT, api, poll_until_done, submit

from flux2.emulator import Emulator, FaultError, parse_fault

JPEG_MAGIC = b"\xff\xd8\xff"


def ready(http: httpx.Client, prompt: str, **params: Any) -> tuple[dict[str, Any], str]:
    task = submit(http, prompt, **params)
    body = poll_until_done(http, task["polling_url"])[-1]
    assert body["status"] == "Ready", body
    return task, body["result"]["sample"]


# -- requests that are never answered ---------------------------------------------------------


def test_a_hanging_poll_is_never_answered_and_the_next_poll_is(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a quiet fox [[fault:hang-poll]]")
        with pytest.raises(httpx.ReadTimeout):
            http.get(task["polling_url"], timeout=httpx.Timeout(10, read=0.3))
        assert poll_until_done(http, task["polling_url"])[-1]["status"] == "Ready"


def test_a_hanging_submit_has_created_and_billed_its_task(bfl_emulator: Emulator) -> None:
    prompt = "a silent fox [[fault:hang-submit]]"
    with api(bfl_emulator) as http, pytest.raises(httpx.ReadTimeout):
        http.post(
            "/v1/flux-2-klein-4b", json={"prompt": prompt}, timeout=httpx.Timeout(10, read=0.3)
        )
    assert len(bfl_emulator.submissions(prompt)) == 1
    assert bfl_emulator.credits == pytest.approx(1000 - 1.4)


def test_a_hanging_download_is_never_answered(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        _, sample = ready(http, "a fox [[fault:hang-download]]")
        with pytest.raises(httpx.ReadTimeout):
            http.get(sample, timeout=httpx.Timeout(10, read=0.3))
        assert http.get(sample).content.startswith(JPEG_MAGIC)


def test_the_emulator_stops_while_a_request_hangs(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(faults=["hang-poll=always"])
    with api(emu) as http:
        task = submit(http, "a fox")
        with pytest.raises(httpx.ReadTimeout):
            http.get(task["polling_url"], timeout=httpx.Timeout(10, read=0.2))
    emu.stop()
    assert emu.requests[-1].status is None


# -- answers that cannot be read --------------------------------------------------------------


def test_a_badly_encoded_submit_answer_cannot_be_decoded_but_was_billed(
    bfl_emulator: Emulator,
) -> None:
    prompt = "a fox [[fault:bad-encoding-submit]]"
    with api(bfl_emulator) as http:
        with http.stream("POST", "/v1/flux-2-klein-4b", json={"prompt": prompt}) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-encoding"] == "gzip"
            with pytest.raises(httpx.DecodingError):
                answer.read()
        again = http.post("/v1/flux-2-klein-4b", json={"prompt": prompt})
    assert again.status_code == 200
    assert len(bfl_emulator.submissions(prompt)) == 2


@pytest.mark.parametrize("stage", ["poll", "download"])
def test_a_badly_encoded_poll_or_download_cannot_be_decoded(
    bfl_emulator: Emulator, stage: str
) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, f"a fox [[fault:bad-encoding-{stage}]]")
        url = task["polling_url"]
        if stage == "download":
            url = poll_until_done(http, url)[-1]["result"]["sample"]
        with pytest.raises(httpx.DecodingError):
            http.get(url)
        assert http.get(url).status_code == 200  # one request by default


@pytest.mark.parametrize("stage", ["submit", "poll"])
def test_a_deeply_nested_answer_defeats_a_recursive_json_reader(
    bfl_emulator: Emulator, stage: str
) -> None:
    prompt = f"a fox [[fault:deep-json-{stage}]]"
    with api(bfl_emulator) as http:
        answer = http.post("/v1/flux-2-klein-4b", json={"prompt": prompt})
        if stage == "poll":
            answer = http.get(answer.json()["polling_url"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.content.count(b"[") >= 100_000
    with pytest.raises(RecursionError):
        json.loads(answer.content)
    head = answer.content[: answer.content.index(b',"nested":')] + b"}"
    fields = json.loads(head)
    [task] = bfl_emulator.submissions(prompt)
    assert fields["id"] == task.id
    assert (
        ("polling_url" in fields)
        if stage == "submit"
        else (fields["status"] in IN_FLIGHT | {"Ready"})
    )


# -- answers without end ----------------------------------------------------------------------


def test_an_endless_download_never_ends_and_announces_no_length(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        _, sample = ready(http, "a fox [[fault:endless-download]]")
        read = 0
        with http.stream("GET", sample) as answer:
            assert "content-length" not in answer.headers
            for chunk in answer.iter_bytes():
                if read == 0:
                    assert chunk.startswith(JPEG_MAGIC)
                read += len(chunk)
                if read > 8 * 1024 * 1024:
                    break
        assert read > 8 * 1024 * 1024
        # One download by default; the emulator goes on serving after the client left.
        assert http.get(sample).content.startswith(JPEG_MAGIC)


def test_a_gzip_bomb_is_small_on_the_wire_and_huge_decoded(bfl_emulator: Emulator) -> None:
    size = 64 * 1000 * 1000
    with api(bfl_emulator) as http:
        _, sample = ready(http, "a fox [[fault:gzip-bomb=64MB]]")
        unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
        wire, decoded, first = 0, 0, b""
        with http.stream("GET", sample) as answer:
            assert answer.headers["content-encoding"] == "gzip"
            for raw in answer.iter_raw():
                wire += len(raw)
                pending = raw
                while pending:
                    out = unpack.decompress(pending, 1 << 20)
                    first = first or out
                    decoded += len(out)
                    pending = unpack.unconsumed_tail
    assert decoded == size
    assert wire < size // 200
    assert first.startswith(JPEG_MAGIC)


def test_a_huge_poll_answer_has_the_size_asked_for(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a fox [[fault:huge-poll=5MB]]")
        answer = http.get(task["polling_url"])
    assert answer.headers["content-length"] == "5000000"
    assert len(answer.content) == 5_000_000
    body = answer.json()
    assert body["id"] == task["id"]
    assert body["status"] in IN_FLIGHT | {"Ready"}
    assert set(body["padding"]) == {"x"}


def test_the_default_huge_poll_answer_is_300_mib() -> None:
    assert parse_fault("huge-poll").amount == 300 * 1024**2
    assert parse_fault("gzip-bomb").amount == 1024**3


@pytest.mark.parametrize("stage", ["poll", "download"])
def test_a_trickled_answer_comes_in_small_pieces_and_whole(
    bfl_emulator: Emulator, stage: str
) -> None:
    rate = 200 if stage == "poll" else 400_000
    with api(bfl_emulator) as http:
        task = submit(http, f"a fox [[fault:trickle-{stage}={rate}]]")
        url = task["polling_url"]
        if stage == "download":
            url = poll_until_done(http, url)[-1]["result"]["sample"]
        pieces = []
        with http.stream("GET", url) as answer:
            length = int(answer.headers["content-length"])
            pieces = list(answer.iter_raw())
    data = b"".join(pieces)
    assert len(data) == length
    assert len(pieces) > 1
    assert max(len(p) for p in pieces) <= rate  # at most a second's worth at once
    if stage == "poll":
        assert json.loads(data)["id"] == task["id"]
    else:
        assert data.startswith(JPEG_MAGIC)


# -- waits the service asks for -----------------------------------------------------------------


def test_a_poll_answered_503_with_a_task_body_several_times_in_a_row(
    bfl_emulator: Emulator,
) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a fox [[fault:poll-503-task]]")
        answers = [http.get(task["polling_url"]) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 503, 503, 200]
    for answer in answers[:3]:
        assert answer.headers["retry-after"] == "0"  # 1 s x speed, rounded
        assert answer.json()["id"] == task["id"]
        assert answer.json()["status"] in IN_FLIGHT | {"Ready"}


def test_a_poll_503_with_a_task_body_takes_its_retry_after(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a fox [[fault:poll-503-task=2,30]]")
        codes = [http.get(task["polling_url"]) for _ in range(3)]
    assert [(a.status_code, a.headers.get("retry-after")) for a in codes] == [
        (503, "30"),
        (503, "30"),
        (200, None),
    ]


@pytest.mark.parametrize(
    ("fault", "header"), [("long-retry-after", "3600"), ("long-retry-after=86400", "86400")]
)
def test_a_long_retry_after_holds_while_in_force(
    bfl_emulator: Emulator, fault: str, header: str
) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, f"a fox [[fault:{fault}]]")
        answers = [http.get(task["polling_url"]) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == header
        assert "detail" in answer.json()


def test_long_retry_afters_on_submit_are_status_faults(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        refused = http.post(
            "/v1/flux-2-klein-4b", json={"prompt": "fox [[fault:submit-429=1,7200]]"}
        )
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "7200")


# -- names and URLs that mislead --------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["/../../outside/pwned", "a/b/../c", "..", "x\\..\\y"])
def test_a_hostile_task_id_is_served_as_given(bfl_emulator: Emulator, task_id: str) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, f"a fox [[fault:task-id={task_id}]]")
        assert task["id"] == task_id
        assert parse_qs(urlsplit(task["polling_url"]).query)["id"] == [task_id]
        body = poll_until_done(http, task["polling_url"])[-1]
        assert body["id"] == task_id
        image = http.get(body["result"]["sample"])
    assert image.status_code == 200, image.text
    assert image.content.startswith(JPEG_MAGIC)
    assert task_id in bfl_emulator.tasks


def test_a_task_id_fault_needs_the_id() -> None:
    with pytest.raises(FaultError, match="task-id"):
        parse_fault("task-id")


@pytest.mark.parametrize(("trick", "char"), [("tab", "\t"), ("nul", "\0")])
def test_polling_and_result_urls_can_carry_control_characters(
    bfl_emulator: Emulator, trick: str, char: str
) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, f"a fox [[fault:polling-url={trick}]] [[fault:result-url={trick}]]")
        assert char in task["polling_url"]
        clean = task["polling_url"].replace(char, "")
        sample = poll_until_done(http, clean)[-1]["result"]["sample"]
    assert char in sample
    assert urlsplit(sample).hostname == urlsplit(bfl_emulator.delivery_origin).hostname


def test_a_lookalike_polling_url_names_a_foreign_host(bfl_emulator: Emulator) -> None:
    origin = urlsplit(bfl_emulator.polling_origin)
    with api(bfl_emulator) as http:
        task = submit(http, "a fox [[fault:polling-url=lookalike]]")
    url = urlsplit(task["polling_url"])
    assert url.hostname == f"{origin.hostname}.evil.invalid"
    assert url.port == origin.port
    assert url.path == "/v1/get_result"


def test_a_userinfo_url_reaches_the_real_host(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a fox [[fault:polling-url=userinfo]] [[fault:result-url=userinfo]]")
        url = urlsplit(task["polling_url"])
        assert (url.username, url.password) == ("flux2", "pwned")
        assert url.hostname == urlsplit(bfl_emulator.polling_origin).hostname
        sample = poll_until_done(http, task["polling_url"])[-1]["result"]["sample"]
        assert urlsplit(sample).username == "flux2"
        assert http.get(sample).content.startswith(JPEG_MAGIC)


def test_a_lookalike_result_url(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        _, sample = ready(http, "a fox [[fault:result-url=lookalike]]")
    assert urlsplit(sample).hostname.endswith(".evil.invalid")


@pytest.mark.parametrize(
    "bad",
    ["polling-url=ftp", "result-url", "trickle-poll=fast", "trickle-poll=0", "gzip-bomb=lots"],
)
def test_hostile_faults_with_bad_arguments_are_refused(bad: str) -> None:
    with pytest.raises(FaultError):
        parse_fault(bad)


# -- server-wide ------------------------------------------------------------------------------


def test_hostile_faults_apply_server_wide(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(faults=["poll-503-task=2", "task-id=a/b/../c"])
    with api(emu) as http:
        task = submit(http, "a fox")
        codes = [http.get(task["polling_url"]).status_code for _ in range(3)]
    assert task["id"] == "a/b/../c"
    assert codes == [503, 503, 200]
    assert emu.faults == ("poll-503-task=2", "task-id=a/b/../c")
    emu.set_faults("trickle-poll=100", "huge-poll=1MB", "long-retry-after=60", "gzip-bomb=2MB")
    assert emu.faults == (
        "trickle-poll=100",
        "huge-poll=1000000",
        "long-retry-after=60",
        "gzip-bomb=2000000",
    )
