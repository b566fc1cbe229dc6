"""``flux2`` end to end: the command as a subprocess, against the emulator over loopback."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import KEY, ROOT, cli_env, emulator_class, run_cli, start_cli
from PIL import Image

import flux2
from flux2.batch import MANIFEST_NAME, Manifest

JPEG = b"\xff\xd8\xff"
PNG = b"\x89PNG\r\n\x1a\n"


def _no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout


def _submitted_bodies(server: Any, prompt: str) -> list[dict[str, Any]]:
    return [
        r.json
        for r in server.requests
        if r.origin == "api"
        and r.method == "POST"
        and isinstance(r.json, dict)
        and r.json.get("prompt") == prompt
    ]


def _submissions(server: Any, prompt: str) -> int:
    return len(server.submissions(prompt=prompt))


# -- generate -------------------------------------------------------------------------------


def test_generate_saves_the_image_and_says_where_the_seed_and_the_cost(
    emu: Any, tmp_path: Path
) -> None:
    prompt = "a lighthouse at dawn, generate test"
    target = tmp_path / "lighthouse.jpg"
    done = run_cli(
        "generate", prompt, "-m", "klein-4b", "--seed", "7", "-o", str(target), server=emu
    )
    assert done.returncode == 0, done.stderr
    _no_traceback(done)
    assert target.read_bytes().startswith(JPEG)
    with Image.open(target) as image:
        assert image.width > 0
    [task] = emu.submissions(prompt=prompt)
    assert f"Saved {target}" in done.stdout
    assert "seed 7" in done.stdout
    assert f"task {task.id}" in done.stdout
    assert "credits ($" in done.stdout
    # The .jpg of -o asked for a JPEG; nothing else was sent that was not given.
    assert _submitted_bodies(emu, prompt) == [
        {"prompt": prompt, "seed": 7, "output_format": "jpeg"}
    ]


def test_generate_json_prints_exactly_one_object(emu: Any, tmp_path: Path) -> None:
    prompt = "a red fox in fresh snow, json test"
    done = run_cli("generate", prompt, "--model", "flex", "--json", "-o", str(tmp_path), server=emu)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert isinstance(result, dict)
    [task] = emu.submissions(prompt=prompt)
    assert result["task_id"] == task.id
    assert result["model"] == "flex"
    assert result["polling_url"].startswith(str(emu.polling_origin))
    assert isinstance(result["seed"], int)
    assert result["cost"] > 0
    saved = Path(result["path"])
    assert saved.parent == tmp_path.resolve()
    assert saved.name == f"{task.id}.jpg"
    assert saved.read_bytes().startswith(JPEG)


def test_edit_sends_the_input_image_and_the_file_extension_picks_the_format(
    emu: Any, tmp_path: Path
) -> None:
    source = tmp_path / "input.png"
    Image.new("RGB", (96, 64), (20, 120, 220)).save(source)
    prompt = "make the sky orange, edit test"
    target = tmp_path / "edited.png"
    done = run_cli("generate", prompt, "--image", str(source), "-o", str(target), server=emu)
    assert done.returncode == 0, done.stderr
    [body] = _submitted_bodies(emu, prompt)
    assert base64.b64decode(body["input_image"]) == source.read_bytes()
    assert body["output_format"] == "png"
    assert target.read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "max", "--guidance", "3"], "model 'max' has no parameter 'guidance'"),
        (["--steps", "99"], "steps must be an integer from 1 to 50"),
        (["--format", "gif"], "output_format must be one of 'jpeg', 'png', 'webp'"),
        (["--model", "flux-9"], "unknown model 'flux-9'"),
        (["--image", "does-not-exist.png"], "no such file"),
        (["--model", "klein-4b", "--no-upsampling"], "prompt_upsampling"),
        (["-o", "/nonexistent-dir/x.jpg"], "does not exist"),
    ],
)
def test_bad_input_exits_2_before_anything_is_sent(emu: Any, args: list[str], message: str) -> None:
    before = len(emu.requests)
    done = run_cli("generate", "checked before sending", *args, server=emu)
    assert done.returncode == 2, done.stderr
    _no_traceback(done)
    assert message in done.stderr
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) <= 2
    assert len(emu.requests) == before


def test_a_wrong_key_exits_1_and_says_what_to_check(emu: Any) -> None:
    done = run_cli("credits", env=cli_env(emu, BFL_API_KEY="not-the-key"))
    assert done.returncode == 1
    _no_traceback(done)
    assert "--api-key or BFL_API_KEY" in done.stderr
    assert "not-the-key" not in done.stderr


# Every fault kind of the emulator, and what the command must make of it.
FAULTS: list[tuple[str, int, str]] = [
    ("429-storm=2", 0, ""),  # retried, honouring Retry-After
    ("submit-429=always", 1, "too many requests"),
    ("submit-500", 1, "500"),
    ("submit-503", 1, "503"),
    ("poll-503", 0, ""),  # a poll is a read: retried
    ("poll-500=always", 1, "500"),
    ("drop-connection", 1, "billed"),  # the submission may have arrived: never replayed
    ("drop-poll", 0, ""),
    ("slow=0.3", 0, ""),
    ("request-moderated", 1, "Request Moderated"),
    ("content-moderated", 1, "another --seed may pass"),
    ("error", 1, "Error"),
    ("failed", 1, "Failed"),
    ("poll-422-task", 1, "Error"),
    ("not-found", 1, "not found"),
    ("truncated-download", 0, ""),  # retried: the result URL is still valid
    ("drop-download=always", 1, "download"),
    ("download-404=always", 1, "404"),
    ("expired-url", 1, "expire"),
    ("insufficient-credits", 1, "credits"),
]


@pytest.mark.parametrize(("fault", "code", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_every_fault_gives_the_right_exit_code_and_a_readable_message(
    emu: Any, tmp_path: Path, fault: str, code: int, message: str
) -> None:
    prompt = f"a fault test [[fault:{fault}]]"
    done = run_cli("generate", prompt, "-m", "klein-4b", "-o", str(tmp_path), server=emu)
    assert done.returncode == code, (done.stdout, done.stderr)
    _no_traceback(done)
    images = list(tmp_path.glob("*.jpg"))
    if code == 0:
        assert len(images) == 1
        assert images[0].read_bytes().startswith(JPEG)
        return
    assert images == []
    assert not list(tmp_path.glob(".*.part"))
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("flux2: error: ")
    assert len(lines) <= 2, done.stderr
    assert message.lower() in done.stderr.lower()
    assert _submissions(emu, prompt) <= 1  # a failed submission is never sent twice


def test_unknown_in_flight_statuses_are_waited_through(emu: Any, tmp_path: Path) -> None:
    prompt = "an unknown status test [[fault:unknown-status]]"
    done = run_cli("generate", prompt, "-m", "klein-4b", "-o", str(tmp_path), server=emu)
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("*.jpg"))) == 1


def test_a_task_past_its_deadline_says_how_to_fetch_it_later(emu: Any, tmp_path: Path) -> None:
    prompt = "a stuck task [[fault:stuck]]"
    done = run_cli(
        "generate", prompt, "-m", "klein-4b", "--timeout", "0.5", "-o", str(tmp_path), server=emu
    )
    assert done.returncode == 1
    [task] = emu.submissions(prompt=prompt)
    assert f"flux2 result '{emu.polling_origin}" in done.stderr
    assert task.id in done.stderr


def test_ctrl_c_while_waiting_exits_130_and_says_how_to_resume(emu: Any, tmp_path: Path) -> None:
    prompt = "interrupted while waiting [[fault:stuck]]"
    process = start_cli("generate", prompt, "-m", "klein-4b", "-o", str(tmp_path), env=cli_env(emu))
    deadline = time.monotonic() + 30
    while not emu.submissions(prompt=prompt):
        assert time.monotonic() < deadline, "the task was never submitted"
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    [task] = emu.submissions(prompt=prompt)
    # A poll shows that the answer reached the command and it is waiting.
    while not any(r.origin == "polling" and task.id in r.query for r in emu.requests):
        assert time.monotonic() < deadline, "the task was never polled"
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "flux2 result '" in err
    assert emu.submissions(prompt=prompt)[0].id in err


# -- result, credits, models, drift, mock ---------------------------------------------------


def _submit(server: Any, prompt: str) -> flux2.Task:
    with flux2.Client(api_key=KEY, base_url=str(server.base_url)) as client:
        return client.submit(prompt, model="klein-4b", seed=3)


def test_result_fetches_a_task_by_its_polling_url(emu: Any, tmp_path: Path) -> None:
    task = _submit(emu, "fetched later by the result command")
    assert task.polling_url is not None
    done = run_cli("result", task.polling_url, "-o", str(tmp_path / "later.jpg"), server=emu)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "later.jpg").read_bytes().startswith(JPEG)
    assert "seed 3" in done.stdout

    status = run_cli("result", task.polling_url, "--no-wait", "--json", server=emu)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "task_id": task.id,
        "status": "Ready",
        "progress": json.loads(status.stdout)["progress"],
        "seed": 3,
        "error": None,
        "ready": True,
    }


def test_result_of_an_unknown_task_exits_1(emu: Any) -> None:
    url = f"{emu.polling_origin}/v1/get_result?id=00000000-0000-0000-0000-000000000000"
    done = run_cli("result", url, "--timeout", "5", server=emu)
    assert done.returncode == 1
    _no_traceback(done)
    assert "not found" in done.stderr.lower()


def test_credits(emu: Any) -> None:
    done = run_cli("credits", "--json", server=emu)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["credits"] == pytest.approx(emu.credits)
    text = run_cli("credits", server=emu)
    assert text.returncode == 0
    assert text.stdout.startswith(f"{emu.credits:g} credits ($")


def test_models_lists_the_spec_models() -> None:
    done = run_cli("models", "--json", env=cli_env(None))
    assert done.returncode == 0, done.stderr
    names = [m["name"] for m in json.loads(done.stdout)["models"]]
    assert names == list(flux2.registry.all_models())


def test_drift_delegates_to_the_drift_check() -> None:
    pinned = run_cli(
        "drift", "--spec", str(ROOT / "openapi" / "openapi.json"), "--json", env=cli_env(None)
    )
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads(pinned.stdout) == []
    helped = run_cli("drift", "--help", env=cli_env(None))
    assert helped.returncode == 0
    assert "--control" in helped.stdout
    assert "flux2 drift" in helped.stdout
    missing = run_cli("drift", "--spec", "/nonexistent/spec.json", env=cli_env(None))
    assert missing.returncode == 2
    _no_traceback(missing)


def test_mock_generate_works_without_a_key(tmp_path: Path) -> None:
    emulator_class()  # skips when the emulator extra is missing
    done = run_cli(
        "generate",
        "a lighthouse at dawn",
        "--mock",
        "-o",
        "lighthouse.jpg",
        env=cli_env(None, FLUX2_POLL_SCALE="0"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lighthouse.jpg").read_bytes().startswith(JPEG)
    assert "Saved lighthouse.jpg" in done.stdout


def test_mock_serves_until_ctrl_c(tmp_path: Path) -> None:
    emulator_class()
    process = start_cli("mock", "--speed", "0", env=cli_env(None), cwd=tmp_path)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
        answer = httpx.get(f"{url.rstrip('/.,')}/v1/credits", headers={"x-key": "any"}, timeout=10)
        assert answer.status_code == 200
        assert "credits" in answer.json()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0


# -- batch ----------------------------------------------------------------------------------


def _prompts(tag: str, count: int) -> list[str]:
    return [f"{tag} number {i}: a small house by a lake" for i in range(count)]


def _write_batch(path: Path, prompts: list[str]) -> None:
    lines = []
    for i, prompt in enumerate(prompts):
        if i % 3 == 0:
            lines.append(json.dumps({"prompt": prompt, "model": "klein-9b", "seed": i}))
        else:
            lines.append(prompt)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _images(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.suffix == ".jpg")


def test_a_batch_of_60_prompts(emu: Any, tmp_path: Path) -> None:
    prompts = _prompts("batch", 60)
    source = tmp_path / "prompts.txt"
    _write_batch(source, prompts)
    out = tmp_path / "out"
    done = run_cli(
        "batch", str(source), "--out", str(out), "--concurrency", "12", "-m", "klein-4b", server=emu
    )
    assert done.returncode == 0, done.stderr
    _no_traceback(done)
    assert "60 of 60 images" in done.stdout
    assert len(_images(out)) == 60
    for i, prompt in enumerate(prompts):
        [task] = emu.submissions(prompt=prompt)
        assert task.model == ("klein-9b" if i % 3 == 0 else "klein-4b")
        assert (out / f"{task.id}.jpg").is_file()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<img ") == 60

    again = run_cli("batch", str(source), "--out", str(out), "-m", "klein-4b", "--json", server=emu)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["already_done"] == 60
    assert summary["submitted"] == 0
    assert all(_submissions(emu, p) == 1 for p in prompts)


def test_batch_failures_are_reported_per_item_and_not_resubmitted(emu: Any, tmp_path: Path) -> None:
    prompts = [
        "fine one",
        "refused [[fault:request-moderated]]",
        "fine two",
        "broke [[fault:error]]",
    ]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    for _ in range(2):
        done = run_cli("batch", str(source), "--out", str(out), "-m", "klein-4b", server=emu)
        assert done.returncode == 1
        _no_traceback(done)
        assert "2 of 4 item(s) failed" in done.stderr
        assert "Request Moderated" in done.stderr
    assert len(_images(out)) == 2
    assert all(_submissions(emu, p) == 1 for p in prompts)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Request Moderated" in page


def test_bad_batch_input_exits_2_before_anything_is_sent(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text('a fine prompt\n{"prompt": "x", "model": "max", "guidance": 2}\n', "utf-8")
    before = len(emu.requests)
    done = run_cli("batch", str(source), "--out", str(tmp_path / "out"), server=emu)
    assert done.returncode == 2
    assert "line 2" in done.stderr
    assert "guidance" in done.stderr
    assert len(emu.requests) == before
    missing = run_cli("batch", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"), server=emu)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


@pytest.fixture(scope="module")
def slow_emu() -> Any:
    """Tasks that take a while (klein-4b 0.26 s), so a batch can be stopped halfway."""
    with emulator_class()(api_key=KEY, speed=0.1, credits=1_000_000.0) as server:
        yield server


def _stop_halfway(
    server: Any, source: Path, out: Path, sig: signal.Signals, submitted: int
) -> subprocess.Popen[str]:
    process = start_cli(
        "batch",
        str(source),
        "--out",
        str(out),
        "--concurrency",
        "4",
        "-m",
        "klein-4b",
        env=cli_env(server, speed=0.1),
    )
    deadline = time.monotonic() + 60
    manifest = out / MANIFEST_NAME
    while True:
        assert time.monotonic() < deadline, "the batch never got going"
        assert process.poll() is None, process.communicate()
        if manifest.exists() and manifest.read_text("utf-8").count('"submitted"') >= submitted:
            break
        time.sleep(0.01)
    process.send_signal(sig)
    process.communicate(timeout=60)
    return process


def _resume_and_check(server: Any, source: Path, out: Path, prompts: list[str]) -> str:
    done = run_cli(
        "batch", str(source), "--out", str(out), "-m", "klein-4b", env=cli_env(server, speed=0.1)
    )
    _no_traceback(done)
    counts = Counter(task.prompt for task in server.submissions())
    assert all(counts[p] <= 1 for p in prompts), "a prompt was submitted twice"
    states = Manifest(out).states()
    uncertain = [s for s in states.values() if s.phase in ("submitting", "uncertain")]
    assert done.returncode == (1 if uncertain else 0), done.stderr
    images = {p.name for p in _images(out)}
    for state in states.values():
        if state.task is not None:
            assert f"{state.task.id}.jpg" in images
    assert len(images) == len(prompts) - len(uncertain)
    assert not list(out.glob(".*.part"))  # no half-downloaded file is left behind
    return done.stderr


def _plain_batch(tmp_path: Path, tag: str, count: int) -> tuple[list[str], Path, Path]:
    prompts = _prompts(tag, count)
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    return prompts, source, tmp_path / "out"


def test_a_batch_stopped_with_ctrl_c_resumes_without_resubmitting(
    slow_emu: Any, tmp_path: Path
) -> None:
    prompts, source, out = _plain_batch(tmp_path, "sigint", 40)
    stopped = _stop_halfway(slow_emu, source, out, signal.SIGINT, submitted=8)
    assert stopped.returncode == 130
    assert stopped.stderr is not None
    images_before = len(_images(out))
    assert 0 < images_before < len(prompts)
    _resume_and_check(slow_emu, source, out, prompts)
    # Ctrl-C lets submissions in flight finish and records them: every prompt has its image.
    assert all(_submissions(slow_emu, p) == 1 for p in prompts)
    assert len(_images(out)) == len(prompts)


def test_a_batch_killed_outright_resumes_without_resubmitting(
    slow_emu: Any, tmp_path: Path
) -> None:
    prompts, source, out = _plain_batch(tmp_path, "sigkill", 40)
    killed = _stop_halfway(slow_emu, source, out, signal.SIGKILL, submitted=8)
    assert killed.returncode == -signal.SIGKILL
    _resume_and_check(slow_emu, source, out, prompts)


def test_one_run_at_a_time_and_ctrl_c_says_to_resume_with_the_same_command(
    slow_emu: Any, tmp_path: Path
) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(_prompts("message", 30)) + "\n", encoding="utf-8")
    process = start_cli(
        "batch",
        str(source),
        "--out",
        str(tmp_path / "out"),
        "-c",
        "2",
        "-m",
        "klein-4b",
        env=cli_env(slow_emu, speed=0.1),
    )
    manifest = tmp_path / "out" / MANIFEST_NAME
    deadline = time.monotonic() + 60
    while not (manifest.exists() and '"submitted"' in manifest.read_text("utf-8")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # A second run into the same directory would submit what the first has not yet recorded.
    submitted_before = len(slow_emu.submissions())
    second = run_cli(
        "batch",
        str(source),
        "--out",
        str(tmp_path / "out"),
        "-m",
        "klein-4b",
        env=cli_env(slow_emu, speed=0.1),
    )
    assert second.returncode == 2
    assert "another flux2 batch is running" in second.stderr
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "resume with the same command" in err
    submitted = [t.prompt for t in slow_emu.submissions()[submitted_before:]]
    assert len(submitted) == len(set(submitted))
    assert "Traceback" not in err
    assert "Gallery:" in out
