"""Replaying a manifest someone edited, or a crash cut short: an unreadable record counts as
absent and stops nothing, and an item whose submission may have created a task is never sent
again on a plain resume, whatever records follow. Counted in submissions the emulator saw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KEY, SPEED, run_cli

import flux2
from flux2.batch import MANIFEST_NAME, arun_batch, make_items

DEFAULTS = {"model": "klein-4b"}


def _seed(out: Path, prompts: list[str], histories: list[list[dict[str, Any]]]) -> None:
    """Write each item's ``history`` (records without key and index) as ``manifest.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ['"a record that is no object"', "[1, 2]", json.dumps({"key": 5, "event": "done"})]
    for item, history in zip(make_items(prompts, DEFAULTS), histories, strict=True):
        for record in history:
            fields = {"params": dict(item.params)} if record["event"] == "submitting" else {}
            lines.append(json.dumps({"key": item.key, "index": item.index, **fields, **record}))
    (out / MANIFEST_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _library_run(emu: Any, prompts: list[str], out: Path, **options: Any) -> Any:
    async def main() -> Any:
        async with flux2.AsyncClient(
            api_key=KEY, base_url=emu.base_url, poll_schedule=flux2.PollSchedule(scale=SPEED)
        ) as client:
            return await arun_batch(client, make_items(prompts, DEFAULTS), out, **options)

    return asyncio.run(main())


def _cli_run(emu: Any, prompts: list[str], out: Path, *flags: str) -> Any:
    source = out.parent / "prompts.txt"
    source.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    done = run_cli("batch", str(source), "-o", str(out), "-m", "klein-4b", *flags, server=emu)
    assert "Traceback" not in done.stderr, done.stderr
    return done


SUBMITTING = {"event": "submitting"}
REJECTED = {"event": "rejected", "error": "402"}
UNCERTAIN = {"event": "uncertain", "error": "502"}


def _submitted(task: Any) -> dict[str, Any]:
    return {"event": "submitted", "task": task}


def _done(file: Any) -> dict[str, Any]:
    return {"event": "done", "file": file, "seed": "not a seed"}


# (history, sent on a plain resume, sent with resubmit_uncertain)
CASES: dict[str, tuple[list[dict[str, Any]], int, int]] = {
    "task is a string": ([SUBMITTING, _submitted("abc")], 0, 1),
    "task is a list": ([SUBMITTING, _submitted([1, 2])], 0, 1),
    "cost is text": ([SUBMITTING, _submitted({"id": "a", "cost": "x"})], 0, 1),
    "cost overflows": ([SUBMITTING, _submitted({"id": "a", "cost": 10**400})], 0, 1),
    "id is a number": ([SUBMITTING, _submitted({"id": 7})], 0, 1),
    "polling URL is a number": ([SUBMITTING, _submitted({"id": "a", "polling_url": 3})], 0, 1),
    "done, file gone, no task": ([SUBMITTING, _done("gone.jpg")], 0, 1),
    "done, file no plain name": ([SUBMITTING, _done("../x.jpg")], 0, 1),
    "done, file a number": ([SUBMITTING, _done(12)], 0, 1),
    "rejected, then in flight": ([SUBMITTING, REJECTED, SUBMITTING], 0, 1),
    "uncertain, resent, rejected": ([SUBMITTING, UNCERTAIN, SUBMITTING, REJECTED], 0, 1),
    "failed record of every wrong type": (
        [SUBMITTING, {"event": "failed", "error": [1], "error_type": 2, "final": "yes"}],
        0,
        1,
    ),
    "rejected": ([SUBMITTING, REJECTED], 1, 1),
    "unreadable task, never submitting": ([_submitted("abc")], 1, 1),
    "done, file gone, task known": (
        [SUBMITTING, _submitted({"id": "replay-unknown-task"}), _done("gone.jpg")],
        0,
        0,
    ),
}


PLAIN = [plain for _, plain, _ in CASES.values()]
AGAIN = [again for _, _, again in CASES.values()]


def _seeded(tmp_path: Path, tag: str) -> tuple[list[str], Path]:
    prompts = [f"{tag} {name}" for name in CASES]
    out = tmp_path / "out"
    _seed(out, prompts, [history for history, _, _ in CASES.values()])
    return prompts, out


def _sent(emu: Any, prompts: list[str]) -> list[int]:
    return [len(emu.submissions(prompt=p)) for p in prompts]


def test_the_library_batch_replays_any_manifest_and_resends_nothing_uncertain(
    emu: Any, tmp_path: Path
) -> None:
    prompts, out = _seeded(tmp_path, "library")
    summary = _library_run(emu, prompts, out)
    assert _sent(emu, prompts) == PLAIN
    uncertain = [p for p, plain, again in zip(prompts, PLAIN, AGAIN, strict=True) if again > plain]
    assert sorted(s.prompt for s in summary.uncertain) == sorted(uncertain)
    _library_run(emu, prompts, out, resubmit_uncertain=True)
    assert _sent(emu, prompts) == AGAIN


def test_flux2_batch_replays_any_manifest_and_resends_nothing_uncertain(
    emu: Any, tmp_path: Path
) -> None:
    prompts, out = _seeded(tmp_path, "command")
    done = _cli_run(emu, prompts, out)
    assert done.returncode == 1, done.stderr  # uncertain items have no image
    assert _sent(emu, prompts) == PLAIN
    _cli_run(emu, prompts, out)  # a second plain resume sends nothing more
    assert _sent(emu, prompts) == PLAIN


@pytest.mark.parametrize("name", ["done, file gone, no task", "task is a string"])
def test_an_uncertain_item_says_why_it_is_not_sent(emu: Any, tmp_path: Path, name: str) -> None:
    prompts = [f"why {name}"]
    out = tmp_path / "out"
    _seed(out, prompts, [CASES[name][0]])
    summary = _library_run(emu, prompts, out)
    [state] = summary.uncertain
    assert "may have been created" in (state.error or "")
