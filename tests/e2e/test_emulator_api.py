"""The emulator over plain HTTP: auth, validation, regional polling, statuses, pricing,
credits, the in-flight limit, result expiry, recording, and following the spec."""

from __future__ import annotations

import base64
import calendar
import copy
import io
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from emulator_helpers import IN_FLIGHT, KEY, api, poll_until_done, submit
from PIL import Image

from flux2._spec import pinned_spec
from flux2.emulator import Emulator
from flux2.emulator._policy import cost, duration
from flux2.registry import all_models

# -- auth -----------------------------------------------------------------------------------


def test_the_api_and_polling_origins_need_the_key(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator, key=None) as anonymous, api(bfl_emulator, key="wrong") as wrong:
        for client in (anonymous, wrong):
            refused = client.post("/v1/flux-2-klein-4b", json={"prompt": "a fox"})
            assert refused.status_code == 403
            assert refused.json()["detail"].startswith("Not authenticated")
            assert client.get("/v1/credits").status_code == 403
    assert bfl_emulator.submissions() == []
    with api(bfl_emulator) as http:
        task = submit(http, "a fox")
    assert httpx.get(task["polling_url"]).status_code == 403
    assert httpx.get(task["polling_url"], headers={"x-key": "wrong"}).status_code == 403


def test_the_key_is_checked_before_the_body(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator, key=None) as anonymous:
        assert anonymous.post("/v1/flux-2-klein-4b", json={"steps": 1}).status_code == 403


def test_without_a_configured_key_any_non_empty_key_is_accepted(
    bfl_emulator_factory: Any,
) -> None:
    emu = bfl_emulator_factory(api_key=None)
    with api(emu, key="whatever") as http:
        assert http.get("/v1/credits").status_code == 200
    with api(emu, key="") as empty:
        assert empty.get("/v1/credits").status_code == 403
    assert [r.key_matches for r in emu.requests] == [True, False]


def test_the_delivery_origin_needs_no_key_and_records_one_sent(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        ready = poll_until_done(http, submit(http, "a fox")["polling_url"])[-1]
    sample = ready["result"]["sample"]
    assert sample.startswith(f"{bfl_emulator.delivery_origin}/")
    assert httpx.get(sample).status_code == 200
    assert httpx.get(sample, headers={"x-key": KEY}).status_code == 200
    delivered = [r for r in bfl_emulator.requests if r.origin == "delivery"]
    assert [(r.has_key, r.key_matches) for r in delivered] == [(False, False), (True, True)]


# -- validation -----------------------------------------------------------------------------


def test_invalid_bodies_get_fastapi_shaped_422s(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        missing = http.post("/v1/flux-2-flex", json={"seed": 1})
        bounds = http.post(
            "/v1/flux-2-flex",
            json={"prompt": "a fox", "steps": 99, "output_format": "gif", "guidance": "x"},
        )
        not_json = http.post(
            "/v1/flux-2-flex", content=b"{nope", headers={"content-type": "application/json"}
        )
        no_body = http.post("/v1/flux-2-flex")
        a_list = http.post("/v1/flux-2-flex", json=["a fox"])
    assert missing.status_code == 422
    expected = {"type": "missing", "loc": ["body", "prompt"], "msg": "Field required"}
    assert missing.json()["detail"] == [{**expected, "input": {"seed": 1}}]
    details = {tuple(d["loc"]): d for d in bounds.json()["detail"]}
    assert set(details) == {("body", "steps"), ("body", "output_format"), ("body", "guidance")}
    assert details[("body", "steps")]["type"] == "less_than_equal"
    assert details[("body", "steps")]["ctx"] == {"le": 50}
    assert details[("body", "output_format")]["msg"] == "Input should be 'jpeg', 'png' or 'webp'"
    assert details[("body", "guidance")]["type"] == "float_type"
    assert not_json.json()["detail"][0]["type"] == "json_invalid"
    assert no_body.json()["detail"][0]["loc"] == ["body"]
    assert a_list.json()["detail"][0]["type"] == "model_attributes_type"
    for answer in (missing, bounds, not_json, no_body, a_list):
        assert answer.status_code == 422
        for detail in answer.json()["detail"]:
            assert {"type", "loc", "msg"} <= set(detail)
    assert bfl_emulator.submissions() == []
    assert bfl_emulator.credits == 1000.0


def test_a_parameter_of_another_model_is_ignored_and_recorded(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        # klein has no guidance or steps: unknown fields are dropped silently, as live.
        task = submit(http, "a fox", model="klein-4b", guidance=3.5, steps=4, colour="red")
    (made,) = bfl_emulator.submissions()
    assert made.id == task["id"]
    assert made.unknown_fields == ("guidance", "steps", "colour")
    assert made.params["colour"] == "red"
    (request,) = [r for r in bfl_emulator.requests if r.method == "POST"]
    assert request.json == {"prompt": "a fox", "guidance": 3.5, "steps": 4, "colour": "red"}


def test_a_malformed_fault_marker_is_refused_with_a_422(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        answer = http.post("/v1/flux-2-flex", json={"prompt": "x [[fault:no-such-fault]]"})
    assert answer.status_code == 422
    (detail,) = answer.json()["detail"]
    assert detail["loc"] == ["body", "prompt"]
    assert "no-such-fault" in detail["msg"]
    assert "429-storm" in detail["msg"]  # the known faults are listed


# -- endpoints ------------------------------------------------------------------------------


def test_every_flux2_model_of_the_spec_is_served(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0)
    names = list(all_models())
    assert {"klein-9b-preview", "pro-preview"} <= set(names)
    with api(emu) as http:
        for name in names:
            task = submit(http, f"a fox by {name}", model=name)
            ready = poll_until_done(http, task["polling_url"])[-1]
            assert ready["status"] == "Ready", (name, ready)
        assert http.post("/v1/flux-3-nothing", json={"prompt": "a fox"}).status_code == 404
        assert http.post("/v1/delete_finetune", json={"finetune_id": "x"}).status_code == 404
        assert http.get("/v1/flux-2-flex").status_code == 405
        assert http.post("/v1/get_result").status_code == 405
    assert [t.model for t in emu.submissions()] == names


def test_only_the_api_origin_takes_submits_and_credits(bfl_emulator: Emulator) -> None:
    with httpx.Client(base_url=bfl_emulator.polling_origin, headers={"x-key": KEY}) as regional:
        assert regional.post("/v1/flux-2-flex", json={"prompt": "a fox"}).status_code == 404
        assert regional.get("/v1/credits").status_code == 404
    assert httpx.get(f"{bfl_emulator.delivery_origin}/v1/credits").status_code == 404


def test_tasks_live_on_the_polling_origin_and_the_api_origin_answers_404(
    bfl_emulator: Emulator,
) -> None:
    api_port = urlsplit(bfl_emulator.base_url).port
    with api(bfl_emulator) as http:
        task = submit(http, "a regional fox")
        polling = urlsplit(task["polling_url"])
        assert f"{polling.scheme}://{polling.netloc}" == bfl_emulator.polling_origin
        assert polling.port != api_port
        assert polling.path == "/v1/get_result"
        assert parse_qs(polling.query) == {"id": [task["id"]]}
        global_host = http.get("/v1/get_result", params={"id": task["id"]})
        assert global_host.status_code == 404
        assert global_host.json()["status"] == "Task not found"
        assert http.get(task["polling_url"]).status_code == 200
        unknown = http.get(f"{bfl_emulator.polling_origin}/v1/get_result?id=no-such-task")
        assert unknown.status_code == 200
        assert unknown.json()["status"] == "Task not found"
        no_id = http.get(f"{bfl_emulator.polling_origin}/v1/get_result")
        assert no_id.status_code == 422
        assert no_id.json()["detail"][0]["loc"] == ["query", "id"]


# -- statuses -------------------------------------------------------------------------------


def test_a_task_goes_pending_generating_ready_with_rising_progress(
    bfl_emulator_factory: Any,
) -> None:
    # klein-4b: 2.6 s, the first 0.39 s Pending: room for a first poll on a busy machine.
    emu = bfl_emulator_factory(speed=1)
    with api(emu) as http:
        task = submit(http, "a patient fox", seed=11)
        bodies = poll_until_done(http, task["polling_url"])
    statuses = [b["status"] for b in bodies]
    assert statuses[0] == "Pending"
    assert "Generating" in statuses
    assert statuses[-1] == "Ready"
    assert set(statuses[:-1]) <= IN_FLIGHT
    progress = [b["progress"] for b in bodies[:-1]]
    assert progress == sorted(progress)
    assert all(0 <= p < 1 for p in progress)
    ready = bodies[-1]
    assert set(ready) == {"id", "status", "result", "progress", "details", "preview"}
    result = ready["result"]
    assert set(result) == {"sample", "prompt", "seed", "start_time", "end_time", "duration"}
    assert result["seed"] == 11
    assert result["prompt"] == "a patient fox"  # klein does not upsample
    assert result["start_time"] < result["end_time"] <= time.time()
    assert result["duration"] == pytest.approx(result["end_time"] - result["start_time"], abs=1e-3)
    assert result["end_time"] - emu.submissions()[0].created == pytest.approx(
        duration("klein-4b") * emu.speed, abs=0.01
    )


def test_speed_zero_is_ready_at_the_first_poll(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0)
    with api(emu) as http:
        task = submit(http, "an instant fox", model="max")
        assert http.get(task["polling_url"]).json()["status"] == "Ready"
    assert emu.submissions()[0].status == "Ready"


def test_models_that_upsample_report_the_prompt_they_used(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0)
    with api(emu) as http:
        flex = poll_until_done(http, submit(http, "a fox", model="flex")["polling_url"])[-1]
        plain = submit(http, "a fox", model="flex", prompt_upsampling=False)
        off = poll_until_done(http, plain["polling_url"])[-1]
        pro = poll_until_done(http, submit(http, "a fox", model="pro")["polling_url"])[-1]
    assert flex["result"]["prompt"].startswith("a fox, ")
    assert off["result"]["prompt"] == "a fox"
    assert pro["result"]["prompt"] != "a fox"


# -- pricing and credits --------------------------------------------------------------------


@pytest.mark.parametrize("model", ["klein-4b", "klein-9b", "flex", "pro", "max"])
def test_submit_answers_carry_the_documented_price(bfl_emulator: Emulator, model: str) -> None:
    with api(bfl_emulator) as http:
        one_mp = submit(http, "a fox", model=model, width=1024, height=1024)
        two_mp = submit(http, "a fox", model=model, width=2048, height=1024)
    assert (one_mp["output_mp"], one_mp["input_mp"]) == (1.0, 0.0)
    assert one_mp["cost"] == cost(model, 1.0, 0.0)
    assert two_mp["output_mp"] == 2.0
    assert two_mp["cost"] > one_mp["cost"]
    assert bfl_emulator.credits == pytest.approx(1000.0 - one_mp["cost"] - two_mp["cost"])


def test_klein_4b_at_one_megapixel_costs_what_live_echoes(bfl_emulator: Emulator) -> None:
    with api(bfl_emulator) as http:
        assert submit(http, "a fox", model="klein-4b")["cost"] == 1.4  # [seen] live echo


def test_input_images_are_charged_and_set_the_size(bfl_emulator: Emulator) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (2048, 1024), (40, 90, 200)).save(picture, "PNG")
    encoded = base64.b64encode(picture.getvalue()).decode()
    with api(bfl_emulator) as http:
        edit = submit(http, "the same, at night", model="flex", input_image=encoded)
        plain = submit(http, "the same, at night", model="flex")
    assert edit["input_mp"] == 2.0
    assert edit["output_mp"] == 2.0  # follows the input image
    assert edit["cost"] == cost("flex", 2.0, 2.0)
    assert edit["cost"] > plain["cost"]


def test_credits_go_down_and_run_out_with_a_402(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(credits=3.0)
    with api(emu) as http:
        assert http.get("/v1/credits").json() == {"credits": 3.0}
        submit(http, "first fox")  # 1.4
        submit(http, "second fox")  # 1.4
        assert http.get("/v1/credits").json()["credits"] == pytest.approx(0.2)
        refused = http.post("/v1/flux-2-klein-4b", json={"prompt": "third fox"})
    assert refused.status_code == 402
    assert refused.json() == {"detail": "Insufficient credits"}
    assert [t.prompt for t in emu.submissions()] == ["first fox", "second fox"]
    assert emu.credits == pytest.approx(0.2)
    emu.credits = 100.0
    with api(emu) as http:
        submit(http, "third fox")


# -- in-flight limit ------------------------------------------------------------------------


def test_more_tasks_in_flight_than_allowed_get_429_with_retry_after(
    bfl_emulator_factory: Any,
) -> None:
    emu = bfl_emulator_factory(speed=1, max_in_flight=2)
    with api(emu) as http:
        submit(http, "fox one", model="max")
        submit(http, "fox two", model="max")
        refused = http.post("/v1/flux-2-max", json={"prompt": "fox three"})
    assert refused.status_code == 429
    assert 30 <= int(refused.headers["retry-after"]) <= 38  # until the first one ends
    assert [t.prompt for t in emu.submissions()] == ["fox one", "fox two"]
    assert refused.json()["detail"]


def test_a_finished_task_frees_its_slot(bfl_emulator_factory: Any) -> None:
    # klein-4b takes 1.3 s: the second submit comes before it ends, even on a busy machine.
    emu = bfl_emulator_factory(speed=0.5, max_in_flight=1)
    with api(emu) as http:
        first = submit(http, "fox one")
        assert http.post("/v1/flux-2-klein-4b", json={"prompt": "fox two"}).status_code == 429
        assert poll_until_done(http, first["polling_url"])[-1]["status"] == "Ready"
        submit(http, "fox two")
    assert len(emu.submissions()) == 2


def test_stuck_tasks_hold_their_slots_while_finished_ones_free_theirs(
    bfl_emulator_factory: Any,
) -> None:
    emu = bfl_emulator_factory(speed=0, max_in_flight=2)
    with api(emu) as http:
        submit(http, "stuck fox [[fault:stuck]]")
        for i in range(5):  # each ends at once, and frees its slot for the next
            poll_until_done(http, submit(http, f"quick fox {i}")["polling_url"])
        submit(http, "another stuck fox [[fault:stuck]]")
        refused = http.post("/v1/flux-2-klein-4b", json={"prompt": "one too many"})
    assert refused.status_code == 429
    assert len(emu.submissions()) == 7


def test_the_default_limit_is_24(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=1)
    with api(emu) as http:
        for i in range(24):
            submit(http, f"fox {i}", model="max")
        assert http.post("/v1/flux-2-max", json={"prompt": "fox 25"}).status_code == 429


# -- result URLs ----------------------------------------------------------------------------


def test_result_urls_are_signed_and_expire(bfl_emulator_factory: Any) -> None:
    emu = bfl_emulator_factory(speed=0, result_ttl=0.5)
    with api(emu) as http:
        ready = poll_until_done(http, submit(http, "a fleeting fox")["polling_url"])[-1]
    sample = ready["result"]["sample"]
    query = parse_qs(urlsplit(sample).query)
    assert {"se", "sig", "sp", "sv", "sr"} <= set(query)
    tampered = sample.replace("sig=", "sig=x")
    forged = httpx.get(tampered)
    assert forged.status_code == 403
    assert "<Code>AuthenticationFailed</Code>" in forged.text
    # se is whole seconds, never before end + ttl: wait until it has passed.
    expires = calendar.timegm(time.strptime(query["se"][0], "%Y-%m-%dT%H:%M:%SZ"))
    while time.time() < expires + 0.05:
        time.sleep(0.05)
    expired = httpx.get(sample)
    assert expired.status_code == 403
    assert expired.headers["content-type"].startswith("application/xml")
    assert "Signature not valid in the specified time frame" in expired.text


def test_a_result_that_does_not_exist_is_404_from_the_result_host(bfl_emulator: Emulator) -> None:
    missing = httpx.get(f"{bfl_emulator.delivery_origin}/results/nope/sample.jpeg?se=x&sig=y")
    assert missing.status_code == 404
    assert "<Code>BlobNotFound</Code>" in missing.text


# -- recording ------------------------------------------------------------------------------


def test_every_request_is_recorded_with_host_key_body_and_answer(bfl_emulator: Emulator) -> None:
    before = time.time()
    with api(bfl_emulator) as http:
        task = submit(http, "a recorded fox", seed=5)
        poll_until_done(http, task["polling_url"])
    post, *polls = bfl_emulator.requests
    assert post.origin == "api"
    assert (post.method, post.path, post.query) == ("POST", "/v1/flux-2-klein-4b", "")
    assert post.host == urlsplit(bfl_emulator.base_url).netloc
    assert (post.has_key, post.key_matches) == (True, True)
    assert post.json == {"prompt": "a recorded fox", "seed": 5}
    assert post.status == 200
    assert before <= post.time <= time.time()
    assert post.headers["x-key"] == "***"
    assert {p.origin for p in polls} == {"polling"}
    assert polls[0].query == f"id={task['id']}"
    assert "test-key" not in repr(bfl_emulator.requests)


# -- the spec -------------------------------------------------------------------------------


def test_a_model_added_to_the_spec_is_served_without_code_changes(
    bfl_emulator_factory: Any,
) -> None:
    spec = copy.deepcopy(pinned_spec())
    spec["paths"]["/v1/flux-2-nova"] = copy.deepcopy(spec["paths"]["/v1/flux-2-klein-4b"])
    schema = spec["components"]["schemas"]["Flux2KleinInputs"]
    schema["properties"]["sparkle"] = {"type": "integer", "minimum": 1, "maximum": 3}
    emu = bfl_emulator_factory(spec=spec, speed=0)
    with api(emu) as http:
        task = submit(http, "a new fox", model="nova", sparkle=2)
        assert poll_until_done(http, task["polling_url"])[-1]["status"] == "Ready"
        bad = http.post("/v1/flux-2-nova", json={"prompt": "a new fox", "sparkle": 9})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "sparkle"]
    assert emu.submissions()[0].model == "nova"
    assert emu.submissions()[0].unknown_fields == ()


# -- history --------------------------------------------------------------------------------


def test_a_long_session_remembers_only_its_last_requests_and_tasks(
    bfl_emulator_factory: Any,
) -> None:
    emu = bfl_emulator_factory(speed=0, history=4)
    with api(emu) as http:
        stuck = submit(http, "stuck fox [[fault:stuck]]")
        done = []
        for i in range(6):
            done.append(submit(http, f"quick fox {i}"))
            assert poll_until_done(http, done[-1]["polling_url"])[-1]["status"] == "Ready"
        # The oldest finished tasks are forgotten; one still in flight is kept, however old.
        assert [t.prompt for t in emu.submissions()] == [
            "stuck fox [[fault:stuck]]",
            "quick fox 3",
            "quick fox 4",
            "quick fox 5",
        ]
        forgotten = http.get(done[0]["polling_url"])
        assert forgotten.json()["status"] == "Task not found"
        assert http.get(stuck["polling_url"]).json()["status"] == "Pending"
        assert len(emu.requests) == 4
        assert emu.requests[-1].path == "/v1/get_result"


def test_the_default_history_keeps_ten_thousand(bfl_emulator: Any) -> None:
    with api(bfl_emulator) as http:
        submit(http, "fox")
    assert bfl_emulator._service.requests.maxlen == 10_000
    assert bfl_emulator._service.webhooks.maxlen == 10_000


def test_a_submit_body_is_held_once_by_its_record_and_its_task(bfl_emulator: Any) -> None:
    # An input image of many megabytes is kept once, however many records point at it; a
    # prompt without fault markers leaves nothing behind.
    with api(bfl_emulator) as http:
        submit(http, "a fox", input_image="aGVsbG8=" * 4)
    (record,) = [r for r in bfl_emulator.requests if r.method == "POST"]
    (task,) = bfl_emulator.submissions()
    assert record.json is task.params
    assert bfl_emulator._service._prompt_faults == {}
