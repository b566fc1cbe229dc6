"""Task ids come from the service: an id made to climb out of the directory, or holding a NUL,
still saves the paid-for image inside the directory the user gave, under a safe name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from flux2_fakes import PNG, REGION, FakeBFL, Runner, result_url

import flux2
from flux2._paths import safe_file_name
from flux2.cli import main

HOSTILE_IDS = ["/../../outside/pwned", "a/b/../c", "..", "task\x00.png", "../../../escaped"]


def _serve_hostile_id(api: FakeBFL, task_id: str) -> None:
    def submit(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "id": task_id,
                "polling_url": f"{REGION}/v1/get_result?id={quote(task_id, safe='')}",
                "cost": 10.0,
            },
        )

    api.submit_replies = [submit]
    api.polls = [{"status": "Ready", "result": {"sample": result_url("clean"), "seed": 1}}]


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("task_id", HOSTILE_IDS, ids=repr)
@pytest.mark.parametrize("how", ["save", "download", "download-result"])
def test_a_hostile_task_id_is_saved_inside_the_directory_under_a_safe_name(
    run: Runner, tmp_path: Path, task_id: str, how: str
) -> None:
    _serve_hostile_id(run.api, task_id)
    out = tmp_path / "deep" / "er" / "out"
    out.mkdir(parents=True)
    image = run("generate", "a fox")
    assert image.task_id == task_id
    if how == "save":
        written = run.save(image, out)
    elif how == "download":
        written = run("download", image, str(out) + "/")
    else:
        written = run("download", image.result, out)
    assert written.parent == out
    assert written.name == safe_file_name(task_id) + ".png"
    assert written.read_bytes() == PNG
    assert _files_under(tmp_path) == [written]  # nothing outside, no temporary file left


def test_two_hostile_ids_that_clean_to_the_same_text_get_different_files(
    run: Runner, tmp_path: Path
) -> None:
    names = set()
    for task_id in ["a/b", "a_b", "a\x00b"]:
        _serve_hostile_id(run.api, task_id)
        names.add(run.save(run("generate", "x"), tmp_path).name)
    assert len(names) == 3


def test_a_result_url_names_the_file_safely(run: Runner, tmp_path: Path) -> None:
    url = "https://delivery-eu1.bfl.ai/..%2F..%2Fescape/%2E%2E?sig=abc"
    written = run("download", url, tmp_path)
    assert written.parent == tmp_path
    assert _files_under(tmp_path) == [written]


@pytest.mark.parametrize("path", [5, None, b"\x00"], ids=repr)
def test_a_download_path_of_the_wrong_type_is_an_input_error(run: Runner, path: Any) -> None:
    with pytest.raises(flux2.InputError, match="path"):
        run("download", result_url("task-1"), path)
    assert run.api.requests == []


@pytest.mark.parametrize("task_id", HOSTILE_IDS, ids=repr)
def test_the_generate_command_saves_a_hostile_id_inside_its_output_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    task_id: str,
) -> None:
    api = FakeBFL()
    _serve_hostile_id(api, task_id)

    def client(**options: Any) -> flux2.Client:
        made = flux2.Client(http_client=httpx.Client(transport=api.transport()), **options)
        return made._set_clock(api.clock)

    monkeypatch.setattr("flux2.cli._commands.Client", client)
    monkeypatch.setenv("BFL_API_KEY", "sk-test")
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    out = tmp_path / "a" / "out"
    out.mkdir(parents=True)
    code = main(["generate", "a fox", "--json", "-o", f"{out}/"])
    assert code == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    written = Path(printed["path"])
    assert written.parent == out.resolve()
    assert written.name == safe_file_name(task_id) + ".png"
    assert _files_under(tmp_path) == [out / written.name]
