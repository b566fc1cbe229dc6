"""Command options: --retry-failed, item labels, -o/--output, --max-retries, --max-in-flight,
options a command does not use, and what `flux2 result` says about an unknown task id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli

from flux2.cli import main
from flux2.cli._commands import connection
from flux2.cli._exit import USAGE
from flux2.cli._parser import build_parser


def _submissions(server: Any, prompt: str) -> int:
    return len(server.submissions(prompt=prompt))


def test_retry_failed_resends_the_refused_items_never_the_uncertain(
    emu: Any, tmp_path: Path
) -> None:
    prompts = [
        "retry fine",
        "retry moderated [[fault:request-moderated]]",
        "retry lost [[fault:drop-submit=always]]",
    ]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(source), "--output", str(out), "-m", "klein-4b"]
    first = run_cli(*args, server=emu)
    assert first.returncode == 1
    assert "--retry-failed" in first.stderr
    plain = run_cli(*args, server=emu)
    assert plain.returncode == 1
    assert [_submissions(emu, p) for p in prompts] == [1, 1, 1]
    retried = run_cli(*args, "--retry-failed", server=emu)
    assert retried.returncode == 1
    assert [_submissions(emu, p) for p in prompts] == [1, 2, 1]


def test_items_have_the_same_label_in_progress_lines_and_the_summary(
    emu: Any, tmp_path: Path
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("# header\nlabel fine\n\nlabel broke [[fault:error]]\n", encoding="utf-8")
    done = run_cli("batch", str(source), "-o", str(tmp_path / "out"), "-m", "klein-4b", server=emu)
    assert done.returncode == 1
    failed = [line for line in done.stderr.splitlines() if "failed" in line and "line " in line]
    # One progress line ([n/total] ...) and one summary line, both naming the file's line 4.
    assert len(failed) == 2, done.stderr
    assert all("line 4:" in line for line in failed)
    assert "line 2: " in done.stderr  # the image's progress line


def test_result_by_an_unknown_id_says_to_pass_the_polling_url(emu: Any) -> None:
    done = run_cli("result", "00000000-0000-0000-0000-000000000000", "--timeout", "5", server=emu)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "polling URL" in done.stderr


def test_max_retries_is_passed_to_the_client(emu: Any, tmp_path: Path) -> None:
    prompt = "retries once [[fault:submit-429=1]]"
    target = str(tmp_path / "x.jpg")
    none = run_cli(
        "generate", prompt, "-m", "klein-4b", "-o", target, "--max-retries", "0", server=emu
    )
    assert none.returncode == 1
    assert "429" in none.stderr
    again = run_cli("generate", prompt + " again", "-m", "klein-4b", "-o", target, server=emu)
    assert again.returncode == 0, again.stderr


def test_connection_options_become_client_options() -> None:
    args = build_parser().parse_args(
        [
            "batch",
            "p.txt",
            "-o",
            "d",
            "--max-retries",
            "5",
            "--api-key",
            "k",
            "--max-in-flight",
            "30",
        ]
    )
    assert args.output == "d"
    assert args.max_in_flight == 30
    with connection(args) as options:
        assert options["max_retries"] == 5


@pytest.mark.parametrize(
    ("argv", "unused"),
    [
        (["--api-key", "k", "models"], "--api-key"),
        (["--base-url", "http://127.0.0.1:1", "models"], "--base-url"),
        (["--max-retries", "3", "mock"], "--max-retries"),
        (["--base-url", "http://127.0.0.1:1", "mock"], "--base-url"),
        (["models", "--api-key", "k"], "--api-key"),
        (["mock", "--base-url", "http://127.0.0.1:1"], "--base-url"),
    ],
)
def test_options_a_command_does_not_use_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], unused: str
) -> None:
    assert main(argv) == USAGE
    assert unused in capsys.readouterr().err


def test_help_offers_only_the_options_a_command_uses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--help"]) == 0
    models = capsys.readouterr().out
    assert "--api-key" not in models
    assert "--base-url" not in models
    assert main(["mock", "--help"]) == 0
    mock = capsys.readouterr().out
    assert "  --base-url" not in mock
    assert "--api-key" in mock  # the key the emulator accepts
    assert main(["batch", "--help"]) == 0
    batch = capsys.readouterr().out
    for option in ("--output", "--retry-failed", "--max-in-flight", "--max-retries"):
        assert option in batch


def test_only_max_in_flight_raises_the_limit_on_tasks_in_flight(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("in flight one\nin flight two\n", encoding="utf-8")
    args = ["batch", str(source), "-m", "klein-4b", "--concurrency", "30"]
    capped = run_cli(*args, "-o", str(tmp_path / "a"), server=emu)
    assert capped.returncode == 0, capped.stderr
    assert "running 24 at a time" in capped.stderr
    raised = run_cli(*args, "--max-in-flight", "30", "-o", str(tmp_path / "b"), server=emu)
    assert raised.returncode == 0, raised.stderr
    assert "at a time" not in raised.stderr


def test_an_output_name_in_a_format_the_model_cannot_make_is_refused_before_paying(
    emu: Any, tmp_path: Path
) -> None:
    prompt = "a fox for a gif"
    done = run_cli("generate", prompt, "-m", "klein-4b", "-o", str(tmp_path / "x.gif"), server=emu)
    assert done.returncode == USAGE, done.stderr
    assert "asks for a gif file" in done.stderr
    assert "jpeg" in done.stderr
    assert _submissions(emu, prompt) == 0
    assert not list(tmp_path.iterdir())


def test_an_output_directory_named_with_a_slash_is_made_and_gets_the_image(
    emu: Any, tmp_path: Path
) -> None:
    out = tmp_path / "new"
    done = run_cli(
        "generate", "a fox in a new folder", "-m", "klein-4b", "-o", f"{out}/", server=emu
    )
    assert done.returncode == 0, done.stderr
    [saved] = list(out.iterdir())
    assert saved.suffix == ".jpg"
