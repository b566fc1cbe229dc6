"""Every fault of the emulator, per request (prompt marker) and server-wide, over plain HTTP."""

from __future__ import annotations

import email.utils
import io
from typing import Any

import httpx
import pytest
from emulator_helpers import IN_FLIGHT, api, poll_until_done, submit
from PIL import Image

from flux2.emulator import FAULT_NAMES, Emulator, FaultError


def post(http: httpx.Client, prompt: str, model: str = "klein-4b") -> httpx.Response:
    return http.post(f"/v1/flux-2-{model}", json={"prompt": prompt})


def ready_sample(http: httpx.Client, prompt: str) -> tuple[str, Any]:
    task = submit(http, prompt)
    return poll_until_done(http, task["polling_url"])[-1]["result"]["sample"], task


# -- submit ---------------------------------------------------------------------------------


def test_a_429_storm_hits_the_first_submits_of_its_prompt_only(bfl_emulator: Emulator) -> None:
    prompt = "stormy fox [[fault:429-storm=2]]"
    with api(bfl_emulator) as http:
        first, second, third = (post(http, prompt) for _ in range(3))
        other = post(http, "a calm fox")
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["retry-after"] == "0"  # 1 s x speed, rounded
    assert other.status_code == 200
    assert len(bfl_emulator.submissions(prompt)) == 1


def test_a_429_storm_lasts_three_submits_by_default(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        codes = [post(http, "fox [[fault:429-storm]]").status_code for _ in range(4)]
    assert codes == [429, 429, 429, 200]


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        ("submit-500", 500, None),
        ("submit-502", 502, None),
        ("submit-503=1,7", 503, "7"),
        ("submit-429=1,12", 429, "12"),
    ],
)
def test_a_status_on_submit_creates_no_task(
    bfl_emulator: Emulator, fault: str, status: int, retry_after: str | None
) -> None:
    prompt = f"fox [[fault:{fault}]]"
    with api(bfl_emulator) as http:
        refused = post(http, prompt)
        again = post(http, prompt)
    assert refused.status_code == status
    assert "detail" in refused.json()
    assert refused.headers.get("retry-after") == retry_after
    assert again.status_code == 200
    assert len(bfl_emulator.submissions(prompt)) == 1
    assert bfl_emulator.credits == pytest.approx(1000 - 1.4)


def test_retry_after_can_be_an_http_date(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        refused = post(http, "fox [[fault:submit-429=1,date]]")
    assert email.utils.parsedate_to_datetime(refused.headers["retry-after"]) is not None


def test_always_keeps_refusing(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        codes = {post(http, "fox [[fault:submit-500=always]]").status_code for _ in range(5)}
    assert codes == {500}


@pytest.mark.parametrize("name", ["drop-submit", "drop-connection", "lost-response"])
def test_a_dropped_submit_is_created_and_billed_but_never_answered(
    bfl_emulator: Emulator, name: str
) -> None:
    prompt = f"lost fox [[fault:{name}]]"
    with api(bfl_emulator) as http, pytest.raises(httpx.RemoteProtocolError):
        post(http, prompt)
    (task,) = bfl_emulator.submissions(prompt)
    assert bfl_emulator.credits == pytest.approx(1000 - task.cost)
    (record,) = [r for r in bfl_emulator.requests if r.method == "POST"]
    assert record.status is None
    with api(bfl_emulator) as http:
        again = post(http, prompt)  # only the first one is dropped
    assert again.status_code == 200


def test_insufficient_credits(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        refused = post(http, "poor fox [[fault:insufficient-credits]]")
    assert refused.status_code == 402
    assert refused.json() == {"detail": "Insufficient credits"}
    assert bfl_emulator.submissions() == []


def test_slow_answers_outlast_a_short_read_timeout(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator, timeout=httpx.Timeout(5, read=0.05)) as hasty:
        with pytest.raises(httpx.ReadTimeout):
            post(hasty, "slow fox [[fault:slow=0.5]]")
        post(hasty, "a quick fox")  # only that prompt is slow
    with api(bfl_emulator, timeout=httpx.Timeout(5, read=0.05)) as hasty:
        task = submit(hasty, "slowly polled fox [[fault:slow-poll=0.5]]")
        with pytest.raises(httpx.ReadTimeout):
            hasty.get(task["polling_url"])


# -- polling --------------------------------------------------------------------------------


def test_poll_statuses_and_drops_affect_that_task_only(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "fox [[fault:poll-503=2]] [[fault:drop-poll]]")
        other = submit(http, "another fox")
        first, second = http.get(task["polling_url"]), http.get(task["polling_url"])
        assert http.get(other["polling_url"]).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(task["polling_url"])
        final = poll_until_done(http, task["polling_url"])[-1]
    assert [first.status_code, second.status_code] == [503, 503]
    assert first.headers["retry-after"] == "0"
    assert final["status"] == "Ready"


@pytest.mark.parametrize(
    ("fault", "status", "details"),
    [
        ("request-moderated", "Request Moderated", None),
        ("content-moderated=Filter", "Content Moderated", {"Moderation Reasons": ["Filter"]}),
        ("error=boom", "Error", {"error": "boom"}),
        ("failed", "Failed", {"error": "Generation failed"}),
    ],
)
def test_task_outcomes(bfl_emulator: Emulator, fault: str, status: str, details: Any) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, f"fox [[fault:{fault}]]")
        body = poll_until_done(http, task["polling_url"])[-1]
    assert body["status"] == status
    assert body["result"] is None
    if fault == "request-moderated":
        (reason,) = body["details"]["Moderation Reasons"]
        assert reason
    else:
        assert body["details"] == details


def test_a_request_is_moderated_at_once(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=1)  # max would take 38 s
    with api(emu) as http:
        task = submit(http, "fox [[fault:request-moderated]]", model="max")
        assert http.get(task["polling_url"]).json()["status"] == "Request Moderated"


def test_an_error_in_the_older_result_shape(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "fox [[fault:error-in-result=old style]]")
        body = poll_until_done(http, task["polling_url"])[-1]
    assert (body["status"], body["result"], body["details"]) == (
        "Error",
        {"error": "old style"},
        None,
    )


def test_a_finished_task_polled_with_422_whose_body_is_the_task(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "fox [[fault:poll-422-task]]")
        bodies = poll_until_done(http, task["polling_url"])
        again = http.get(task["polling_url"])
    assert again.status_code == 422
    assert bodies[-1] == again.json()
    assert again.json()["id"] == task["id"]
    assert again.json()["status"] == "Error"
    assert again.json()["details"] == {"error": "Invalid or corrupted image input"}


def test_a_corrupted_input_image_fails_the_way_live_does(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "an edit", input_image="bm90IGFuIGltYWdl")  # "not an image"
        poll_until_done(http, task["polling_url"])
        answer = http.get(task["polling_url"])
    assert answer.status_code == 422
    assert answer.json()["details"]["error"] == "Invalid or corrupted image input"


def test_an_unknown_in_flight_status_is_seen_at_the_first_poll(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0)
    with api(emu) as http:
        plain = submit(http, "fox [[fault:unknown-status]]")
        named = submit(http, "fox [[fault:unknown-status=Thinking]]")
        first = http.get(plain["polling_url"]).json()
        second = http.get(plain["polling_url"]).json()
        other = http.get(named["polling_url"]).json()
    assert first["status"] == "Dreaming"
    assert first["status"] not in IN_FLIGHT
    assert second["status"] == "Ready"
    assert other["status"] == "Thinking"


def test_a_stuck_task_never_ends_and_keeps_its_slot(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0, max_in_flight=1)
    with api(emu) as http:
        task = submit(http, "fox [[fault:stuck]]")
        statuses = {http.get(task["polling_url"]).json()["status"] for _ in range(5)}
        refused = post(http, "another fox")
    assert statuses == {"Pending"}
    assert refused.status_code == 429
    assert emu.submissions()[0].status == "Pending"


def test_not_found(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "fox [[fault:not-found]]")
        answer = http.get(task["polling_url"])
    assert answer.status_code == 200
    assert answer.json()["status"] == "Task not found"


# -- downloads ------------------------------------------------------------------------------


def test_an_expired_url_is_403_from_the_result_host(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        sample, _ = ready_sample(http, "fox [[fault:expired-url]]")
    answer = httpx.get(sample)
    assert answer.status_code == 403
    assert "AuthenticationFailed" in answer.text


def test_a_truncated_download_announces_more_than_it_sends(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        sample, _ = ready_sample(http, "fox [[fault:truncated-download]]")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(sample)
    whole = httpx.get(sample)  # the next download is whole
    assert whole.status_code == 200
    Image.open(io.BytesIO(whole.content)).verify()


def test_download_statuses_and_drops(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        sample, _ = ready_sample(http, "fox [[fault:download-404=2]] [[fault:drop-download]]")
    codes = [httpx.get(sample).status_code for _ in range(2)]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(sample)
    assert codes == [404, 404]
    assert httpx.get(sample).status_code == 200


# -- server-wide ----------------------------------------------------------------------------


def test_server_wide_faults_are_shared_by_all_requests(bfl_emulator: Emulator) -> None:
    bfl_emulator.set_faults("submit-500=2", "content-moderated")
    assert bfl_emulator.faults == ("submit-500=2", "content-moderated")
    with api(bfl_emulator) as http:
        codes = [post(http, f"fox {i}").status_code for i in range(3)]
        task = submit(http, "a moderated fox")
        assert poll_until_done(http, task["polling_url"])[-1]["status"] == "Content Moderated"
        bfl_emulator.set_faults()
        later = submit(http, "a later fox")
        assert poll_until_done(http, later["polling_url"])[-1]["status"] == "Ready"
    assert codes == [500, 500, 200]
    assert bfl_emulator.faults == ()


def test_faults_given_at_construction(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(faults="poll-503=1;expired-url")
    with api(emu) as http:
        task = submit(http, "a fox")
        assert http.get(task["polling_url"]).status_code == 503
        sample = poll_until_done(http, task["polling_url"])[-1]["result"]["sample"]
    assert httpx.get(sample).status_code == 403


def test_server_wide_drop_and_not_found(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        task = submit(http, "a fox")
        bfl_emulator.set_faults("drop-poll=always")
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(task["polling_url"])
        bfl_emulator.set_faults("not-found")
        assert http.get(task["polling_url"]).json()["status"] == "Task not found"
        bfl_emulator.set_faults("drop-submit")
        with pytest.raises(httpx.RemoteProtocolError):
            post(http, "a lost fox")
    assert len(bfl_emulator.submissions()) == 2


def test_unknown_faults_are_refused_naming_the_known_ones(bfl_emulator: Emulator) -> None:
    with pytest.raises(FaultError, match="known faults: 429-storm"):
        bfl_emulator.set_faults("no-such-fault")
    with pytest.raises(FaultError, match="count"):
        bfl_emulator.set_faults("submit-500=-1")
    with pytest.raises(FaultError, match="no argument"):
        bfl_emulator.set_faults("stuck=3")
    with pytest.raises(FaultError):
        Emulator(faults=["slow=forever"])
    assert {"429-storm", "submit-CODE", "drop-connection", "truncated-download"} <= set(FAULT_NAMES)


def test_every_fault_name_is_documented() -> None:
    import flux2.emulator

    doc = flux2.emulator.__doc__ or ""
    for name in FAULT_NAMES:
        assert f"``{name}" in doc, name
