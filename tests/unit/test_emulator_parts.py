"""The emulator's parts without a server: faults and markers, pricing and sizes, the task
timeline, padded result files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from flux2._spec import pinned_spec
from flux2.emulator._creation import tricked
from flux2.emulator._endpoints import submit_endpoints
from flux2.emulator._faults import (
    ALWAYS,
    FaultError,
    FaultSet,
    parse_fault,
    parse_faults,
    parse_markers,
    parse_size,
)
from flux2.emulator._images import padded, render
from flux2.emulator._policy import cost, duration, megapixels, output_size, requested_pixels
from flux2.emulator._tasks import EmulatedTask
from flux2.registry import all_models

# -- faults ---------------------------------------------------------------------------------


def test_status_faults_carry_stage_code_count_and_retry_after() -> None:
    fault = parse_fault("poll-503=4,9")
    assert (fault.stage, fault.status, fault.count, fault.retry_after) == ("poll", 503, 4, "9")
    assert fault.spec == "poll-503=4,9"
    assert parse_fault("download-404=always").count == ALWAYS
    assert parse_fault("submit-500").count == 1


def test_aliases_resolve_to_one_name() -> None:
    assert parse_fault("429-storm").name == "submit-429"
    assert parse_fault("429-storm").count == 3
    assert parse_fault("drop-connection").name == "drop-submit"
    assert parse_fault("LOST-RESPONSE").name == "drop-submit"


def test_uncounted_faults_hold_and_take_their_argument() -> None:
    assert parse_fault("slow=0.25").seconds == 0.25
    assert parse_fault("slow").seconds == 1.0
    assert parse_fault("error=it broke").text == "it broke"
    assert parse_fault("stuck").count == ALWAYS
    assert not parse_fault("stuck").counted
    assert parse_fault("drop-poll=2").counted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown emulator fault"),
        ("submit-500=0", "at least 1"),
        ("submit-500=many", "whole number"),
        ("submit-429=1,soon", "Retry-After"),
        ("slow=-1", "from 0 to 3600"),
        ("slow=later", "seconds"),
        ("not-found=x", "no argument"),
        ("submit-200", "unknown emulator fault"),
    ],
)
def test_bad_faults_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_fault(text)


def test_server_wide_faults_from_strings_and_lists() -> None:
    assert [f.name for f in parse_faults("slow=1; stuck")] == ["slow", "stuck"]
    assert [f.name for f in parse_faults(["error", "poll-500;drop-poll"])] == [
        "error",
        "poll-500",
        "drop-poll",
    ]
    assert parse_faults(None) == ()


def test_a_fault_set_counts_down_and_keeps_uncounted_faults() -> None:
    faults = FaultSet(parse_faults("submit-429=2;drop-submit;slow=0.5;slow-poll=0.25;stuck"))
    assert [faults.take_status("submit") is not None for _ in range(3)] == [True, True, False]
    assert faults.take_status("poll") is None
    assert faults.take("drop-submit") is not None
    assert faults.take("drop-submit") is None
    assert faults.get("stuck") is not None
    assert faults.get("drop-submit") is None
    assert faults.delay("poll") == 0.75
    assert faults.delay("submit") == 0.5
    assert [f.name for f in faults.outcome()] == ["stuck"]
    assert not FaultSet()


def test_markers_are_found_and_taken_out_of_the_drawn_text() -> None:
    markers = parse_markers("a fox [[fault:error=bad]] at dawn [[size=2MB]] [[fault:slow]]")
    assert [f.name for f in markers.faults] == ["error", "slow"]
    assert markers.size == 2_000_000
    assert markers.text == "a fox at dawn"
    assert parse_markers("plain").faults == ()
    with pytest.raises(FaultError):
        parse_markers("[[fault:bogus]]")


@pytest.mark.parametrize(
    ("text", "size"),
    [("50MB", 50_000_000), ("512KiB", 524_288), ("1.5m", 1_500_000), ("100", 100)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "0", "5TB", "9GB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(FaultError, match="size"):
        parse_size(text)


# -- policy ---------------------------------------------------------------------------------


def test_durations_follow_the_live_figures_and_previews_their_base() -> None:
    assert duration("klein-4b") == 2.6
    assert duration("klein-9b-preview") == duration("klein-9b")
    assert duration("max") > duration("pro") > duration("flex") > duration("klein-4b")
    assert duration("some-future-model") > 0


def test_price_per_megapixel() -> None:
    assert cost("klein-4b", 1.0, 0.0) == 1.4
    assert cost("pro", 2.0, 0.0) == 3.0 + 1.5
    assert cost("flex", 1.0, 1.0) == 10.0  # the input is charged at the further-MP rate
    assert cost("max-preview", 1.0, 0.0) == cost("max", 1.0, 0.0)
    assert megapixels(1024, 1024) == 1.0


@pytest.mark.parametrize(
    ("asked", "source", "size"),
    [
        ((None, None), None, (1024, 1024)),
        ((1000, 250), None, (992, 240)),
        ((4096, 4096), None, (2048, 2048)),
        ((512, None), (2000, 1000), (512, 256)),
        ((None, None), (300, 200), (288, 192)),
        ((64, 64), None, (64, 64)),
    ],
)
def test_output_size(
    asked: tuple[int | None, int | None], source: tuple[int, int] | None, size: tuple[int, int]
) -> None:
    assert output_size(*asked, source) == size


# -- the task timeline ----------------------------------------------------------------------


def _task(**fields: object) -> EmulatedTask:
    base: dict[str, object] = {
        "id": "t",
        "model": "flex",
        "prompt": "p",
        "params": {"prompt": "p"},
        "created": 1000.0,
        "duration": 10.0,
        "width": 64,
        "height": 64,
        "seed": 1,
        "output_format": "jpeg",
        "cost": 1.0,
        "input_mp": 0.0,
        "output_mp": 0.0,
        "used_prompt": "p",
    }
    return EmulatedTask(**{**base, **fields})  # type: ignore[arg-type]


def test_a_task_is_queued_then_generating_then_done() -> None:
    task = _task()
    views = [task.view(1000.0 + t) for t in (0, 1, 2, 5, 9.99, 10, 100)]
    assert [v.status for v in views] == ["Pending"] * 2 + ["Generating"] * 3 + ["Ready"] * 2
    progress = [v.progress for v in views[:5]]
    assert progress == sorted(progress)
    assert progress[0] == 0.0
    assert 0.9 < (progress[-1] or 0) < 1
    assert views[-1].terminal
    assert task.in_flight(1005.0)
    assert not task.in_flight(1010.0)


def test_outcomes_stuck_tasks_and_unknown_statuses() -> None:
    assert _task(outcome="Content Moderated").view(1010.0).status == "Content Moderated"
    moderated = _task(outcome="Request Moderated")
    assert moderated.view(1000.0).status == "Request Moderated"  # at once
    stuck = _task(stuck=True)
    assert stuck.view(10**9).status == "Pending"
    assert stuck.in_flight(10**9)
    dreaming = _task(in_flight_status="Dreaming", duration=0.0)
    assert dreaming.view(1000.0, first_poll=True).status == "Dreaming"
    assert dreaming.view(1000.0).status == "Ready"


# -- pictures -------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
def test_padded_files_have_the_asked_size_and_decode(output_format: str) -> None:
    data = render("a fox", 1, 96, 64, output_format=output_format)
    body = padded(data, output_format, 300_000)
    whole = b"".join(body.iter_range())
    assert len(whole) == body.size == 300_000
    with Image.open(io.BytesIO(whole)) as image:
        image.load()
        assert image.size == (96, 64)
    assert b"".join(body.iter_range(1000, 2000)) == whole[1000:2000]
    assert b"".join(body.iter_range(299_990)) == whole[299_990:]


def test_padding_smaller_than_the_picture_leaves_it_whole() -> None:
    data = render("a fox", 1, 96, 64, output_format="png")
    body = padded(data, "png", 10)
    with Image.open(io.BytesIO(b"".join(body.iter_range()))) as image:
        image.load()


# -- hostile faults ---------------------------------------------------------------------------


def test_hostile_faults_parse_and_write_back() -> None:
    assert parse_fault("poll-503-task").count == 3
    busy = parse_fault("poll-503-task=2,40")
    assert (busy.count, busy.retry_after, busy.spec) == (2, "40", "poll-503-task=2,40")
    assert parse_fault("trickle-download=512").amount == 512
    assert parse_fault("trickle-poll").amount == 1
    assert parse_fault("huge-poll=2MiB").amount == 2 * 1024**2
    assert parse_fault("long-retry-after").spec == "long-retry-after=3600"
    assert parse_fault("long-retry-after=date").retry_after == "date"
    assert parse_fault("task-id=/../../outside/pwned").text == "/../../outside/pwned"
    assert parse_fault("hang-poll=always").count == ALWAYS
    assert parse_fault("polling-url=userinfo").spec == "polling-url=userinfo"


def test_tricked_urls() -> None:
    url = "http://127.0.0.1:4000/v1/get_result?id=abc"
    assert tricked(url, "tab") == "http://127.0.0.1:4000/v1/get_result\t?id=abc"
    assert tricked(url, "nul") == "http://127.0.0.1:4000/v1/get_result\0?id=abc"
    assert tricked(url, "lookalike") == "http://127.0.0.1.evil.invalid:4000/v1/get_result?id=abc"
    assert tricked(url, "userinfo") == "http://flux2:pwned@127.0.0.1:4000/v1/get_result?id=abc"


# -- endpoints and limits ---------------------------------------------------------------------


def test_every_submit_endpoint_of_the_spec_is_found_with_its_defaults() -> None:
    found = submit_endpoints(pinned_spec())
    operations = {path for path, item in pinned_spec()["paths"].items() if "post" in item}
    assert set(found) <= operations
    assert {m.path for m in all_models().values()} <= set(found)
    assert all(e.name for e in found.values())
    for endpoint in found.values():
        schema = pinned_spec()["components"]["schemas"][endpoint.request_schema]
        assert set(endpoint.properties) == set(schema["properties"])
        for slot in endpoint.image_fields:
            assert slot in schema["properties"]


def test_operations_without_a_polling_url_are_not_submit_endpoints() -> None:
    spec = pinned_spec()
    for path, item in spec["paths"].items():
        if "post" in item and "AsyncResponse" not in str(item["post"]["responses"]):
            assert path not in submit_endpoints(spec)


@pytest.mark.parametrize(
    ("width", "height", "pixels"),
    [(None, None, 0), (2048, 2048, 4 * 1024**2), (3000, None, 9_000_000), (None, 70, 4900)],
)
def test_requested_pixels_count_a_missing_side_as_the_other(
    width: int | None, height: int | None, pixels: int
) -> None:
    assert requested_pixels(width, height) == pixels
