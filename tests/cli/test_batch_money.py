"""The batch's money rules over real sockets: what is on disk when a submission reaches the
emulator, what a resumed run sends again, the account's cap on tasks in flight, and what the
files a batch writes may never hold."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import KEY, SPEED, cli_env, emulator_class, run_cli

import flux2
from flux2.batch import MANIFEST_NAME, Manifest, arun_batch, make_items


class _Watching(httpx.AsyncBaseTransport):
    """Sends every request to the emulator; before a submission goes out, notes the last
    manifest record of the item it carries."""

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.seen: dict[str, str | None] = {}
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            prompt = json.loads(await request.aread())["prompt"]
            self.seen[prompt] = self._last_event(prompt)
        return await self._inner.handle_async_request(request)

    def _last_event(self, prompt: str) -> str | None:
        if not self.manifest.exists():
            return None
        records = [json.loads(line) for line in self.manifest.read_text("utf-8").splitlines()]
        keys = {r["key"] for r in records if r.get("params", {}).get("prompt") == prompt}
        mine = [r["event"] for r in records if r["key"] in keys]
        return mine[-1] if mine else None

    async def aclose(self) -> None:
        await self._inner.aclose()


def _run(emu: Any, prompts: list[str], out: Path, **options: Any) -> Any:
    transport = options.pop("transport", None) or httpx.AsyncHTTPTransport()

    async def main() -> Any:
        async with httpx.AsyncClient(transport=transport) as http:
            client = flux2.AsyncClient(
                api_key=KEY,
                base_url=emu.base_url,
                poll_schedule=flux2.PollSchedule(scale=SPEED),
                http_client=http,
            )
            try:
                items = make_items(prompts, {"model": "klein-4b"})
                return await arun_batch(client, items, out, **options)
            finally:
                await client.close()

    return asyncio.run(main())


def test_the_submitting_record_is_on_disk_before_the_submission_leaves(
    emu: Any, tmp_path: Path
) -> None:
    prompts = [f"recorded first {n}" for n in range(6)]
    watching = _Watching(tmp_path / "out" / MANIFEST_NAME)
    summary = _run(emu, prompts, tmp_path / "out", transport=watching, concurrency=3)
    assert summary.ok
    assert watching.seen == dict.fromkeys(prompts, "submitting")
    assert all(len(emu.submissions(prompt=p)) == 1 for p in prompts)


def _seed(out: Path, prompts: list[str], histories: list[list[str]]) -> None:
    manifest = Manifest(out)
    for item, history in zip(make_items(prompts, {"model": "klein-4b"}), histories, strict=True):
        for event in history:
            fields: dict[str, Any] = {"params": dict(item.params)}
            if event == "submitted":
                fields = {"task": {"id": f"gone-{item.index}"}}
            elif event == "failed":
                fields = {"error": "Request Moderated", "final": True}
            manifest.append(event, item.key, item.index, **fields)
    manifest.close()


def test_a_resumed_run_resends_only_what_provably_created_no_task(emu: Any, tmp_path: Path) -> None:
    prompts = ["resume in flight", "resume uncertain", "resume rejected", "resume failed"]
    out = tmp_path / "out"
    _seed(
        out,
        prompts,
        [
            ["submitting"],
            ["submitting", "uncertain"],
            ["submitting", "rejected"],
            ["submitting", "submitted", "failed"],
        ],
    )

    def sent() -> list[int]:
        return [len(emu.submissions(prompt=p)) for p in prompts]

    summary = _run(emu, prompts, out)
    assert sent() == [0, 0, 1, 0]
    assert {s.prompt for s in summary.uncertain} == {"resume in flight", "resume uncertain"}
    assert [s.prompt for s in summary.failed] == ["resume failed"]

    _run(emu, prompts, out, retry_failed=True)
    assert sent() == [0, 0, 1, 1]  # never the uncertain ones

    again = _run(emu, prompts, out, resubmit_uncertain=True)
    assert sent() == [1, 1, 1, 1]
    assert again.ok


@pytest.mark.parametrize(
    ("fault", "phase"),
    [
        ("submit-500", "uncertain"),
        ("submit-502", "uncertain"),
        ("submit-504", "uncertain"),
        ("drop-submit", "uncertain"),
        ("submit-422", "rejected"),
        ("insufficient-credits", "rejected"),
    ],
)
def test_only_a_refusal_counts_as_rejected(
    emu: Any, tmp_path: Path, fault: str, phase: str
) -> None:
    prompt = f"money {fault} [[fault:{fault}=always]]"
    out = tmp_path / "out"
    first = _run(emu, [prompt, f"money fine beside {fault}"], out)
    assert first.images == 1
    [state] = first.uncertain + first.failed
    assert state.phase == phase
    before = len(emu.submissions(prompt=prompt)) + _refused(emu, prompt)
    _run(emu, [prompt], out)
    after = len(emu.submissions(prompt=prompt)) + _refused(emu, prompt)
    assert after - before == (1 if phase == "rejected" else 0)


def _refused(emu: Any, prompt: str) -> int:
    return sum(
        1
        for r in emu.requests
        if r.method == "POST"
        and isinstance(r.json, dict)
        and r.json.get("prompt") == prompt
        and r.status != 200
    )


def test_concurrency_above_the_account_cap_is_lowered_with_a_notice(tmp_path: Path) -> None:
    prompts = [f"capped {n}" for n in range(60)]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    # Slow enough that 60 submissions at once would meet the emulator's 24-task cap.
    with emulator_class()(api_key=KEY, speed=0.1, credits=1_000_000.0) as server:
        done = run_cli(
            "batch",
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--concurrency",
            "60",
            "-m",
            "klein-4b",
            env=cli_env(server, speed=0.1),
        )
        statuses = [r.status for r in server.requests if r.method == "POST"]
    assert done.returncode == 0, done.stderr
    assert "running 24 at a time" in done.stderr
    assert statuses == [200] * 60  # not one 429


def test_no_file_a_batch_writes_holds_a_secret(emu: Any, tmp_path: Path) -> None:
    secret = "whsec-0123456789-do-not-write"
    hook = "http://127.0.0.1:9/hook"
    lines = [
        json.dumps({"prompt": "secret one", "webhook_url": hook, "webhook_secret": secret}),
        "secret two",
        "secret expired [[fault:expired-url]]",
        "secret moderated [[fault:request-moderated]]",
    ]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    done = run_cli("batch", str(source), "-o", str(out), "-m", "klein-4b", server=emu)
    assert done.returncode == 1, done.stderr  # two items have no image
    signatures = {
        m.group(1)
        for r in emu.requests
        if r.origin == "delivery"
        for m in re.finditer(r"sig=([^&]+)", r.query)
    }
    assert signatures, "no signed result URL was fetched"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {MANIFEST_NAME, "index.html"}
    for path in written:
        data = path.read_bytes()
        for forbidden in (secret, KEY, *signatures):
            assert forbidden.encode() not in data, (path.name, forbidden)
        assert not re.search(rb"sig=(?!\*\*\*)", data), path.name


def test_the_manifest_and_the_gallery_scrub_what_an_error_message_carries(
    tmp_path: Path,
) -> None:
    from flux2.batch import write_gallery

    secret = "whsec-in-a-message"
    signed = "https://delivery.example/r/t1/sample.jpeg?se=2026-01-01&sig=SIGNATURE1"
    manifest = Manifest(tmp_path, secrets=[secret])
    manifest.append("submitting", "k", 0, params={"prompt": "p", "webhook_secret": secret})
    manifest.append("failed", "k", 0, error=f"GET {signed} failed (sent {secret})", final=True)
    manifest.close()
    text = (tmp_path / MANIFEST_NAME).read_text("utf-8")
    assert secret not in text
    assert "SIGNATURE1" not in text
    # A manifest written by hand (or by an older flux2) does not reach the page either.
    with (tmp_path / MANIFEST_NAME).open("a", encoding="utf-8") as raw:
        record = {"event": "failed", "key": "m", "index": 1, "error": f"{signed} &sig=LOOSE2"}
        raw.write(json.dumps(record) + "\n")
    page = write_gallery(tmp_path).read_text("utf-8")
    assert "SIGNATURE1" not in page
    assert "LOOSE2" not in page
