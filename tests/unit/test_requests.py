"""Building a submission: what the spec allows, what is sent, what is refused before sending."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flux2_fakes import JPEG, PNG, FakeBFL, Runner, json_body

import flux2
from flux2 import registry
from flux2.decisions import MAX_OUTPUT_PIXELS, Flux2Warning, build_request


def body_of(request: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(b"".join(request.body_parts()))
    return parsed


def test_only_the_parameters_the_caller_set_are_sent() -> None:
    request = build_request("a fox", model="flex", seed=7, guidance=None, steps=None)
    assert body_of(request) == {"prompt": "a fox", "seed": 7}


def test_default_model_is_the_registry_default() -> None:
    assert build_request("x").model.name == registry.DEFAULT_MODEL
    import inspect

    for cls in (flux2.Client, flux2.AsyncClient):
        for method in ("generate", "submit"):
            default = inspect.signature(getattr(cls, method)).parameters["model"].default
            assert default == registry.DEFAULT_MODEL


@pytest.mark.parametrize(
    ("given", "expected"),
    [("flex", "flex"), ("flux-2-max", "max"), ("/v1/flux-2-pro", "pro"), ("KLEIN-4B", "klein-4b")],
)
def test_models_by_short_or_endpoint_name(given: str, expected: str) -> None:
    assert build_request("x", model=given).model.name == expected


@pytest.mark.repin
def test_unknown_model_lists_the_valid_ones_and_is_not_a_key_error() -> None:
    with pytest.raises(flux2.UnknownModelError) as caught:
        build_request("x", model="flux-3-ultra")
    error = caught.value
    assert isinstance(error, flux2.InputError)
    assert isinstance(error, ValueError)
    assert not isinstance(error, KeyError)
    for name in registry.all_models():
        assert name in str(error)
    assert error.param == "model"


def test_a_parameter_the_model_lacks_is_refused_naming_where_it_exists() -> None:
    with pytest.raises(flux2.InputError) as caught:
        build_request("x", model="max", guidance=4.0)
    text = str(caught.value)
    assert "'max' has no parameter 'guidance'" in text
    assert "flex" in text  # guidance is a flex parameter
    for option in registry.get_model("max").options:
        assert option in text
    assert caught.value.param == "guidance"


def test_a_misspelt_parameter_gets_a_suggestion() -> None:
    with pytest.raises(flux2.InputError, match="Did you mean 'guidance'"):
        build_request("x", model="flex", guidanse=4.0)


@pytest.mark.parametrize(
    ("model", "name", "value"),
    [
        ("flex", "steps", 51),
        ("flex", "steps", 0),
        ("flex", "guidance", 10.5),
        ("max", "safety_tolerance", 6),
        ("flex", "width", 32),
        ("flex", "steps", "30"),
        ("flex", "steps", 30.0),
        ("flex", "steps", True),
        ("flex", "prompt_upsampling", 1),
        ("flex", "output_format", "gif"),
        ("flex", "seed", 1.5),
        ("flex", "guidance", float("nan")),
        ("flex", "webhook_url", "not a url"),
    ],
)
def test_values_outside_the_spec_are_refused_with_what_is_allowed(
    model: str, name: str, value: Any
) -> None:
    with pytest.raises(flux2.InputError) as caught:
        build_request("x", model=model, **{name: value})
    text = str(caught.value)
    assert f"{name}={value!r}" in text
    assert registry.get_model(model).params[name].describe_allowed() in text
    assert caught.value.param == name


def test_values_inside_the_spec_pass() -> None:
    request = build_request(
        "x", model="flex", steps=50, guidance=4, safety_tolerance=0, output_format="PNG", seed=0
    )
    sent = body_of(request)
    assert sent["output_format"] == "png"  # case folded onto the value the spec lists
    assert sent["guidance"] == 4


def test_prompt_must_be_a_string() -> None:
    with pytest.raises(flux2.InputError, match="prompt"):
        build_request(None)  # type: ignore[arg-type]


def test_output_beyond_four_megapixels_is_an_error() -> None:
    with pytest.raises(flux2.InputError, match="4 MP"):
        build_request("x", width=2048, height=2064)
    build_request("x", width=2048, height=2048)
    assert MAX_OUTPUT_PIXELS == 2048 * 2048


def test_a_size_not_a_multiple_of_16_is_a_warning() -> None:
    with pytest.warns(Flux2Warning, match="multiple of 16"):
        request = build_request("x", width=1000, height=768)
    assert body_of(request)["width"] == 1000  # sent anyway: the spec allows it


def test_webhook_secret_needs_a_webhook_url() -> None:
    with pytest.raises(flux2.InputError, match="webhook_url"):
        build_request("x", webhook_secret="s3cret")


def test_input_images_fill_the_slots_in_order() -> None:
    request = build_request("x", model="flex", images=[PNG, "https://example.com/a.png"])
    sent = body_of(request)
    assert base64.b64decode(sent["input_image"]) == PNG
    assert sent["input_image_2"] == "https://example.com/a.png"
    assert "input_image_3" not in sent


@pytest.mark.parametrize("model", ["flex", "klein-4b"])
def test_more_images_than_the_model_takes_are_refused(model: str) -> None:
    slots = registry.get_model(model).max_images
    with pytest.raises(flux2.InputError, match=f"at most {slots} input images"):
        build_request("x", model=model, images=[PNG] * (slots + 1))
    assert len(build_request("x", model=model, images=[PNG] * slots).images) == slots


def test_image_fields_may_be_given_by_name_but_not_with_images() -> None:
    request = build_request("x", model="flex", input_image=JPEG)
    assert base64.b64decode(body_of(request)["input_image"]) == JPEG
    with pytest.raises(flux2.InputError, match="not both"):
        build_request("x", images=[PNG], input_image=JPEG)
    with pytest.raises(flux2.InputError, match="in order"):
        build_request("x", input_image_2=JPEG)


def test_the_log_summary_hides_secrets_and_image_data() -> None:
    request = build_request(
        "x", images=[PNG], webhook_url="https://hooks.example.com/x", webhook_secret="s3cret"
    )
    summary = repr(request.summary())
    assert "s3cret" not in summary
    assert base64.b64encode(PNG).decode()[:20] not in summary
    assert "s3cret" not in repr(request)


def test_bad_input_sends_nothing(run: Runner, api: FakeBFL, tmp_path: Any) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    attempts: list[dict[str, Any]] = [
        {"model": "nope"},
        {"model": "max", "guidance": 3.0},
        {"steps": 99},
        {"images": [tmp_path / "missing.png"]},
        {"images": [text_file]},
        {"images": [PNG] * 9},
        {"width": 4096, "height": 4096},
    ]
    for kwargs in attempts:
        with pytest.raises(flux2.InputError):
            run("generate", "a fox", **kwargs)
        with pytest.raises(flux2.InputError):
            run("submit", "a fox", **kwargs)
    assert api.requests == []


def test_submit_sends_the_body_and_returns_the_task(run: Runner, api: FakeBFL) -> None:
    task = run("submit", "a fox", model="klein-4b", seed=3, images=[PNG])
    (sent,) = api.submissions()
    assert sent.url.path == "/v1/flux-2-klein-4b"
    assert json_body(sent) == {
        "prompt": "a fox",
        "seed": 3,
        "input_image": base64.b64encode(PNG).decode(),
    }
    assert sent.headers["content-type"] == "application/json"
    assert task.id == "task-1"
    assert task.polling_url == "https://api.eu2.bfl.ai/v1/get_result?id=task-1"
    assert task.model == "klein-4b"
    assert task.cost == 10.0
    assert task.submitted_at == api.clock.now
