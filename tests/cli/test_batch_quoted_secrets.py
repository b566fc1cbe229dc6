"""A service that quotes the key back: no file ``flux2 batch`` writes holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_helpers import KEY, run_cli


def test_a_task_error_quoting_the_key_is_written_redacted(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text(
        f"fine\nbroke [[fault:error=Invalid API key {KEY}]]\n"
        f"refused [[fault:request-moderated]] {KEY}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    for _ in range(2):  # the second run replays the manifest and rewrites the gallery
        done = run_cli("batch", str(source), "--out", str(out), "-m", "klein-4b", server=emu)
        assert done.returncode == 1, done.stderr
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"manifest.jsonl", "index.html"}
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path.name
    assert "Invalid API key ***" in (out / "index.html").read_text(encoding="utf-8")
