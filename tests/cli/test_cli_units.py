"""The command line without a server: argument parsing, exit-code mapping, parameter
translation, and the batch manifest, keys and gallery."""

from __future__ import annotations

import argparse
import html
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import flux2
from flux2 import registry
from flux2.batch import Manifest, make_items, read_items, write_gallery
from flux2.cli import main
from flux2.cli._commands import generation_params, output_target
from flux2.cli._display import BatchProgress, TaskStatus
from flux2.cli._exit import (
    FAILURE,
    INTERRUPTED,
    USAGE,
    CommandFailed,
    Interrupted,
    UsageError,
    classify,
)
from flux2.cli._parser import build_parser


def _api(cls: type[flux2.APIError], status: int, **extra: Any) -> flux2.APIError:
    return cls(f"{status} from POST /v1/flux-2-flex", status_code=status, **extra)


def _task(cls: type[flux2.TaskError]) -> flux2.TaskError:
    return cls(f"task t-1 ended: {cls.__name__}", task_id="t-1", status="Error")


# Every error class the library raises, and the exit code it must give.
EXIT_CODES: list[tuple[BaseException, int]] = [
    (flux2.InputError("steps=99 is not allowed"), USAGE),
    (flux2.UnknownModelError("nope", ["flex", "max"]), USAGE),
    (flux2.UntrustedHostError("refusing to send the key", url="https://x"), USAGE),
    (flux2.UnprocessableEntityError("422", status_code=422, detail=[]), USAGE),
    (_api(flux2.AuthenticationError, 401), FAILURE),
    (_api(flux2.InsufficientCreditsError, 402), FAILURE),
    (_api(flux2.NotFoundError, 404), FAILURE),
    (_api(flux2.RateLimitError, 429, retry_after=1.0), FAILURE),
    (_api(flux2.InternalServerError, 500), FAILURE),
    (_api(flux2.APIResponseValidationError, 200), FAILURE),
    (_api(flux2.DownloadError, 404), FAILURE),
    (_api(flux2.ResultExpiredError, 403), FAILURE),
    (flux2.APIConnectionError("connection refused"), FAILURE),
    (flux2.APITimeoutError("read timed out"), FAILURE),
    (flux2.SubmissionUncertainError("answer lost", model="flex"), FAILURE),
    (_task(flux2.TaskFailedError), FAILURE),
    (_task(flux2.RequestModeratedError), FAILURE),
    (_task(flux2.ContentModeratedError), FAILURE),
    (_task(flux2.TaskNotFoundError), FAILURE),
    (_task(flux2.TaskTimeoutError), FAILURE),
    (UsageError("bad"), USAGE),
    (CommandFailed("3 failed"), FAILURE),
    (Interrupted("stopped"), INTERRUPTED),
    (KeyboardInterrupt(), INTERRUPTED),
    (FileNotFoundError(2, "No such file or directory", "prompts.txt"), USAGE),
    (OSError(28, "No space left on device"), FAILURE),
    (RuntimeError("boom"), FAILURE),
]


@pytest.mark.parametrize(("exc", "code"), EXIT_CODES, ids=lambda v: type(v).__name__)
def test_every_error_maps_to_its_exit_code_and_a_short_message(
    exc: BaseException, code: int
) -> None:
    outcome = classify(exc)
    assert outcome.code == code
    assert outcome.message
    assert "\n" not in outcome.message
    assert outcome.hint is None or "\n" not in outcome.hint


def test_hints_say_what_to_do() -> None:
    assert "--api-key" in (classify(_api(flux2.AuthenticationError, 401)).hint or "")
    assert "seed" in (classify(_task(flux2.ContentModeratedError)).hint or "")
    assert "flux2 result t-1" in (classify(_task(flux2.TaskTimeoutError)).hint or "")
    assert "billed" in (classify(flux2.SubmissionUncertainError("x", model="flex")).hint or "")
    assert "--debug" in (classify(RuntimeError("boom")).hint or "")


def test_task_errors_name_their_task() -> None:
    exc = flux2.TaskFailedError("the task failed", task_id="abc-123")
    assert "abc-123" in classify(exc).message


def _parse(*argv: str) -> argparse.Namespace:
    args, rest = build_parser().parse_known_args(list(argv))
    assert rest == []
    return args


def test_global_options_work_before_and_after_the_command() -> None:
    before = _parse("--api-key", "k1", "--base-url", "http://127.0.0.1:1", "credits")
    after = _parse("credits", "--api-key", "k1", "--base-url", "http://127.0.0.1:1")
    for args in (before, after):
        assert args.api_key == "k1"
        assert args.base_url == "http://127.0.0.1:1"
    assert _parse("models").api_key is None
    assert _parse("--debug", "models").debug
    assert _parse("models", "--debug").debug


def test_generate_options_become_library_keywords() -> None:
    args = _parse(
        "generate",
        "a fox",
        "--model",
        "flex",
        "--width",
        "512",
        "--height",
        "768",
        "--seed",
        "7",
        "--format",
        "png",
        "--guidance",
        "3.5",
        "--steps",
        "20",
        "--safety-tolerance",
        "4",
        "--param",
        "webhook_url=https://example.com/hook",
        "--param",
        "prompt_upsampling=false",
        "-i",
        "a.png",
        "--image",
        "https://example.com/b.jpg",
    )
    assert args.prompt == "a fox"
    assert args.image == ["a.png", "https://example.com/b.jpg"]
    assert generation_params(args) == {
        "model": "flex",
        "width": 512,
        "height": 768,
        "seed": 7,
        "output_format": "png",
        "guidance": 3.5,
        "steps": 20,
        "safety_tolerance": 4,
        "webhook_url": "https://example.com/hook",
        "prompt_upsampling": False,
    }


def test_a_malformed_param_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="NAME=VALUE"):
        generation_params(_parse("generate", "x", "--param", "novalue"))


def test_output_extension_picks_the_format(tmp_path: Path) -> None:
    params: dict[str, Any] = {}
    assert output_target(str(tmp_path / "out.png"), params) == tmp_path / "out.png"
    assert params == {"output_format": "png"}
    params = {"output_format": "jpeg"}
    with pytest.raises(UsageError, match="png"):
        output_target(str(tmp_path / "out.png"), params)
    params = {}
    output_target(str(tmp_path / "noext"), params)
    assert params == {}


def test_an_unwritable_output_is_refused_before_sending(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        output_target(str(tmp_path / "missing" / "x.jpg"), {})


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["generate"],
        ["generate", "x", "--width", "wide"],
        ["batch", "prompts.txt"],
        ["models", "--bogus"],
        ["credits", "extra-arg"],
    ],
)
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == USAGE
    assert "error" in err
    assert "Traceback" not in err


def test_no_key_is_bad_usage_and_suggests_mock(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    code, out, err = _run(capsys, "credits")
    assert code == USAGE
    assert out == ""
    assert "BFL_API_KEY" in err
    assert "--mock" in err
    assert len(err.strip().splitlines()) == 2


def test_json_errors_are_one_json_object(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    code, out, _ = _run(capsys, "credits", "--json")
    assert code == USAGE
    error = json.loads(out)["error"]
    assert error["exit_code"] == USAGE
    assert "BFL_API_KEY" in error["message"]


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    assert "generate" in out
    assert "batch" in out
    code, out, _ = _run(capsys, "--version")
    assert code == 0
    assert flux2.__version__ in out


@pytest.mark.repin
def test_models_lists_every_model_with_ranges_from_the_spec(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "models")
    assert code == 0
    for model in registry.all_models().values():
        assert f"{model.name}  ({model.endpoint})" in out
    steps = registry.get_model("flex").params["steps"]
    assert steps.describe_allowed() in out

    code, out, _ = _run(capsys, "models", "flex", "--json")
    assert code == 0
    [flex] = json.loads(out)["models"]
    assert flex["name"] == "flex"
    assert flex["parameters"]["steps"]["maximum"] == steps.maximum
    assert flex["max_input_images"] == registry.get_model("flex").max_images


def test_an_unknown_model_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "models", "flux-9")
    assert code == USAGE
    assert "flex" in err
    assert "klein-4b" in err


# -- batch input, keys, manifest, gallery ---------------------------------------------------


def test_batch_files_mix_prompts_and_json_lines(tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text(
        "# a comment\n"
        "a red fox\n"
        "\n"
        '{"prompt": "a blue bird", "model": "klein-4b", "seed": 3}\n'
        "  a green frog  \n",
        encoding="utf-8",
    )
    items = read_items(source, {"model": "flex", "width": 512})
    assert [item.line for item in items] == [2, 4, 5]
    assert [item.index for item in items] == [0, 1, 2]
    assert items[0].params == {"model": "flex", "width": 512, "prompt": "a red fox"}
    assert items[1].params == {
        "model": "klein-4b",
        "width": 512,
        "prompt": "a blue bird",
        "seed": 3,
    }
    assert items[2].prompt == "a green frog"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('a fox\n{"prompt": "x", \n', "prompts.txt:2: invalid JSON"),
        ("[1, 2]\n", None),  # not an object: read as a prompt, which is allowed
        ('{"seed": 3}\n', "line 1: a batch item needs a non-empty 'prompt'"),
        ("# only a comment\n\n", "no prompts"),
    ],
)
def test_bad_batch_files_name_the_line(tmp_path: Path, content: str, message: str | None) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text(content, encoding="utf-8")
    if message is None:
        assert read_items(source)[0].prompt == content.strip()
        return
    with pytest.raises(flux2.InputError, match=message.replace("(", r"\(")):
        read_items(source)


def test_keys_follow_content_not_position() -> None:
    first = make_items(["a", "b", "a"])
    moved = make_items(["c", "a", "b", "a"])
    assert len({item.key for item in first}) == 3  # a repeated prompt is a second item
    assert {item.key for item in first} <= {item.key for item in moved}
    edited = make_items([{"prompt": "a", "seed": 2}])
    assert edited[0].key not in {item.key for item in first}
    reordered = make_items([{"seed": 2, "prompt": "a"}])
    assert reordered[0].key == edited[0].key


def test_the_manifest_survives_a_torn_last_line(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    manifest.append("submitting", "k1", 0, params={"prompt": "a"})
    manifest.append(
        "submitted", "k1", 0, task={"id": "t1", "polling_url": "https://api.bfl.ai/p?id=t1"}
    )
    manifest.close()
    with (tmp_path / "manifest.jsonl").open("a", encoding="utf-8") as torn:
        torn.write('{"event": "done", "key": "k1", "ind')
    again = Manifest(tmp_path)
    states = again.states()
    assert states["k1"].phase == "submitted"
    assert states["k1"].task is not None
    assert states["k1"].task.polling_url == "https://api.bfl.ai/p?id=t1"
    again.append("done", "k1", 0, file="t1.jpg", seed=5)
    again.close()
    assert Manifest(tmp_path).states()["k1"].phase == "done"
    lines = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["event"] == "done"


def test_manifest_phases(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    for key in ("new-rejected", "lost", "uncertain", "final", "retry"):
        manifest.append("submitting", key, 0, params={"prompt": key})
    manifest.append("rejected", "new-rejected", 0, error="402")
    manifest.append("uncertain", "uncertain", 0, error="answer lost")
    for key in ("final", "retry"):
        manifest.append("submitted", key, 0, task={"id": key})
    manifest.append("failed", "final", 0, error="moderated", final=True)
    manifest.append("failed", "retry", 0, error="connection reset", final=False)
    manifest.close()
    phases = {key: state.phase for key, state in Manifest(tmp_path).states().items()}
    assert phases == {
        "new-rejected": "rejected",
        "lost": "submitting",
        "uncertain": "uncertain",
        "final": "failed",
        "retry": "submitted",
    }


def test_the_gallery_escapes_prompts_and_file_names(tmp_path: Path) -> None:
    prompt = '<script>alert("x")</script> & a "quoted" <b>fox</b>'
    (tmp_path / "t 1&2.jpg").write_bytes(b"\xff\xd8\xff")
    manifest = Manifest(tmp_path)
    manifest.append("submitting", "k", 0, params={"prompt": prompt, "model": "flex"})
    manifest.append("submitted", "k", 0, task={"id": "t1", "model": "flex", "cost": 10})
    manifest.append("done", "k", 0, file="t 1&2.jpg", seed=42)
    manifest.append("submitting", "m", 1, params={"prompt": "<i>moderated</i>"})
    manifest.append("submitted", "m", 1, task={"id": "t2"})
    manifest.append("failed", "m", 1, error="Request Moderated <by policy>", final=True)
    manifest.close()
    page = write_gallery(tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "<b>fox</b>" not in page
    assert "<i>moderated</i>" not in page
    assert html.escape(prompt, quote=True) in page
    assert 'src="t%201%262.jpg"' in page
    assert "seed 42" in page
    assert "model flex" in page
    assert "cost 10 credits" in page
    assert "Request Moderated &lt;by policy&gt;" in page


# -- live display ---------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _ready(progress: float | None, status: str = "Pending") -> flux2.TaskResult:
    return flux2.TaskResult(id="t-1", status=status, progress=progress)


def test_no_live_status_off_a_terminal() -> None:
    stream = io.StringIO()
    with TaskStatus("flex", live=True, stream=stream) as status:
        status.submitted("t-1", 10.0)
        status(_ready(0.5))
    assert stream.getvalue() == ""


def test_a_plain_status_line_on_a_terminal_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # import fails: no rich
    stream = _Terminal()
    with TaskStatus("flex", live=True, stream=stream) as status:
        status.submitted("t-1", 10.0)
        status(_ready(0.5))
        status(_ready(None, "Ready"))
    text = stream.getvalue()
    assert "\rflex: task t-1 submitted (10 credits)" in text
    assert "\rflex: Pending 50%" in text
    assert "\rflex: Ready" in text
    assert text.endswith("\r")  # the status line is wiped at the end


def test_odd_progress_readings_are_shown_within_0_to_100_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    stream = _Terminal()
    with TaskStatus("flex", live=True, stream=stream) as status:
        status(_ready(-0.4, "Generating"))
        status(_ready(7.0, "Generating"))
    text = stream.getvalue()
    assert "\rflex: Generating 0%" in text
    assert "\rflex: Generating 100%" in text
    assert "-40%" not in text
    assert "700%" not in text


def test_batch_progress_logs_one_line_per_item_off_a_terminal(tmp_path: Path) -> None:
    from flux2.batch import BatchEvent, ItemState

    items = make_items(["a", "b"], lines=[1, 2])
    stream = io.StringIO()
    with BatchProgress(live=True, stream=stream) as progress:
        progress(BatchEvent("planned", total=2))
        done = ItemState(items[0].key, 0, phase="done", file="t1.jpg")
        progress(BatchEvent("done", items[0], done))
        failed = ItemState(items[1].key, 1, phase="failed", error="Request Moderated")
        progress(BatchEvent("failed", items[1], failed))
    assert stream.getvalue().splitlines() == [
        "[1/2] done      line 1: t1.jpg",
        "[2/2] failed    line 2: Request Moderated",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mock", "--fault", "bogus"], "unknown emulator fault 'bogus'"),
        (["mock", "--speed", "-1"], "speed"),
    ],
)
def test_mock_refuses_bad_settings(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == USAGE
    assert message in err
