"""The ``flux2`` command against the emulator's hostile faults: an exit code, one readable
line, no traceback, and nothing written outside the directory given with ``-o``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_helpers import run_cli

JPEG = b"\xff\xd8\xff"


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def generate(emu: Any, tmp_path: Path, fault: str, *extra: str) -> tuple[Any, str, Path]:
    """``flux2 generate`` with ``fault`` into ``tmp_path/deep/out`` (an existing directory)."""
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    prompt = f"{tmp_path.name} [[fault:{fault}]]"
    done = run_cli("generate", prompt, "-m", "klein-4b", "-o", str(out), *extra, server=emu)
    return done, prompt, out


def assert_one_clean_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("flux2: error: ")
    assert len(lines) <= 2, done.stderr
    return done.stderr.lower()


def assert_key_stayed_home(emu: Any) -> None:
    own = {urlsplit(emu.base_url).netloc, urlsplit(emu.polling_origin).netloc}
    for recorded in emu.requests:
        if recorded.has_key:
            assert recorded.origin in {"api", "polling"}
            assert recorded.host in own


@pytest.mark.parametrize("task_id", ["/../../outside/pwned", "a/b/../c", ".."])
def test_a_hostile_task_id_is_written_inside_the_output_directory(
    emu: Any, tmp_path: Path, task_id: str
) -> None:
    done, _, out = generate(emu, tmp_path, f"task-id={task_id}")
    assert done.returncode == 0, done.stderr
    (written,) = files_under(tmp_path)
    assert written.parent == out
    assert written.read_bytes().startswith(JPEG)


def test_a_hostile_task_id_in_a_batch_stays_inside_its_directory(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "prompts.jsonl"
    prompts = [f"{tmp_path.name} batch [[fault:task-id=/../../outside/{n}]]" for n in range(2)]
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    out = tmp_path / "deep" / "out"
    done = run_cli("batch", str(source), "--out", str(out), "-m", "klein-4b", server=emu)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    outside = [p for p in files_under(tmp_path) if out not in p.parents and p != source]
    assert outside == []
    assert len(list(out.glob("*.jpg"))) == 2


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("deep-json-submit", "billed"),
        ("bad-encoding-submit", "billed"),
        ("bad-encoding-poll", "could not be read"),
        ("huge-poll=8MiB", "larger than the limit"),
        ("gzip-bomb=64MiB", "larger than the limit"),
        ("endless-download=always", "larger than the limit"),
    ],
)
def test_a_broken_or_oversized_answer_is_one_line_and_leaves_no_file(
    emu: Any, tmp_path: Path, fault: str, message: str
) -> None:
    done, prompt, _ = generate(emu, tmp_path, fault)
    assert message in assert_one_clean_error(done, 1)
    assert files_under(tmp_path) == []
    assert len(emu.submissions(prompt)) == 1


@pytest.mark.parametrize("fault", ["hang-poll=always", "long-retry-after=30"])
def test_the_wait_deadline_holds_against_a_hostile_poll_host(
    emu: Any, tmp_path: Path, fault: str
) -> None:
    done, prompt, _ = generate(emu, tmp_path, fault, "--timeout", "1")
    assert "did not finish within 1 s" in assert_one_clean_error(done, 1)
    (task,) = emu.submissions(prompt)
    assert f"flux2 result '{emu.polling_origin}" in done.stderr
    assert task.id in done.stderr
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("fault", ["polling-url=lookalike", "polling-url=userinfo"])
def test_a_spoiled_polling_url_gets_no_key(emu: Any, tmp_path: Path, fault: str) -> None:
    done, prompt, _ = generate(emu, tmp_path, fault)
    # Exit 1, not the usage code 2: the URL came from the service, after the task was billed.
    assert "refusing to send the api key" in assert_one_clean_error(done, 1)
    (task,) = emu.submissions(prompt)
    assert f"flux2 result '{task.id}'" in done.stderr
    assert_key_stayed_home(emu)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("fault", ["download-404=always", "poll-500=always"])
def test_any_failure_after_the_submit_says_how_to_fetch_the_task(
    emu: Any, tmp_path: Path, fault: str
) -> None:
    done, prompt, _ = generate(emu, tmp_path, fault)
    assert_one_clean_error(done, 1)
    (task,) = emu.submissions(prompt)
    assert task.id in done.stderr
    assert f"flux2 result '{emu.polling_origin}" in done.stderr


@pytest.mark.parametrize("fault", ["result-url=nul", "polling-url=tab", "task-id=a\x1b[2Jb"])
def test_control_characters_from_the_service_never_reach_the_terminal(
    emu: Any, tmp_path: Path, fault: str
) -> None:
    done, _, _ = generate(emu, tmp_path, fault)
    shown = done.stdout + done.stderr
    assert not any(ch in shown for ch in "\x00\x1b\t"), shown
