"""scripts/regenerate: reproducible, atomic, and clear when it cannot run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLUX2_NO_BOOTSTRAP": "1"}
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "regenerate"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _digest(*dirs: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in dirs:
        for f in sorted(d.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                out[str(f.relative_to(d.parent))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of what the script reads and writes, so tests can let it rewrite the tree."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("openapi", "generated", "scripts", "flux2"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_check_passes_on_the_committed_tree() -> None:
    done = _run(ROOT, "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_fails_when_generated_code_was_edited(repo_copy: Path) -> None:
    target = repo_copy / "generated" / "flux2_generated" / "models" / "flux_2_inputs.py"
    target.write_text(target.read_text() + "\n# edited by hand\n")
    done = _run(repo_copy, "--check")
    assert done.returncode == 1
    assert "models/flux_2_inputs.py" in done.stdout


def test_check_fails_when_the_typed_names_were_edited(repo_copy: Path) -> None:
    names = repo_copy / "flux2" / "_names.py"
    names.write_text(names.read_text().replace('"flex",', '"flexx",', 1))
    done = _run(repo_copy, "--check")
    assert done.returncode == 1
    assert "flux2/_names.py" in done.stdout
    assert _run(repo_copy, "--spec", str(repo_copy / "openapi" / "openapi.json")).returncode == 0
    assert '"flex",' in names.read_text()


def test_check_fails_when_pin_is_not_normalised(repo_copy: Path) -> None:
    spec = repo_copy / "openapi" / "openapi.json"
    spec.write_text(spec.read_text().replace("\n", "\r\n", 3))
    done = _run(repo_copy, "--check")
    assert done.returncode == 1
    assert "openapi/openapi.json" in done.stdout


def test_same_spec_leaves_tree_unchanged(repo_copy: Path, spec_history: Path) -> None:
    before = _digest(repo_copy / "openapi", repo_copy / "generated")
    done = _run(repo_copy, "--spec", str(spec_history / "2026-04-14.json"))
    assert done.returncode == 0, done.stderr
    assert "nothing changed" in done.stdout
    assert _digest(repo_copy / "openapi", repo_copy / "generated") == before


def test_older_spec_rewrites_and_newest_restores_byte_for_byte(
    repo_copy: Path, spec_history: Path
) -> None:
    before = _digest(repo_copy / "openapi", repo_copy / "generated")
    done = _run(repo_copy, "--spec", str(spec_history / "2026-04-04.json"))
    assert done.returncode == 0, done.stderr
    assert "Flux2Inputs (+disable_pup, +transparent_bg)" in done.stdout
    inputs = (repo_copy / "generated/flux2_generated/models/flux_2_inputs.py").read_text()
    assert "disable_pup" in inputs
    assert "transparent_bg" in inputs
    assert _digest(repo_copy / "openapi", repo_copy / "generated") != before

    done = _run(
        repo_copy,
        "--spec",
        str(spec_history / "2026-04-14.json"),
    )
    assert done.returncode == 0, done.stderr
    assert "Flux2Inputs (-disable_pup, -transparent_bg)" in done.stdout
    after = _digest(repo_copy / "openapi", repo_copy / "generated")
    # The record names the source as given; everything else must match byte for byte.
    before.pop("openapi/source.json")
    after.pop("openapi/source.json")
    assert after == before


def test_the_record_names_a_file_by_its_name_only(repo_copy: Path, tmp_path: Path) -> None:
    older = tmp_path / "deep" / "down" / "older.json"
    older.parent.mkdir(parents=True)
    older.write_bytes((repo_copy / "openapi/history/2026-04-04.json").read_bytes())
    done = _run(repo_copy, "--spec", str(older))
    assert done.returncode == 0, done.stderr
    record = json.loads((repo_copy / "openapi/source.json").read_text())
    assert record["source"] == "older.json"
    assert record["kind"] == "file"
    assert str(tmp_path) not in (repo_copy / "openapi/source.json").read_text()
    assert _run(repo_copy, "--check").returncode == 0


def test_check_fails_when_the_record_names_a_local_path(repo_copy: Path) -> None:
    record_file = repo_copy / "openapi" / "source.json"
    record = json.loads(record_file.read_text())
    record["source"] = "../specs/2026-04-14.json"
    record_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    done = _run(repo_copy, "--check")
    assert done.returncode == 1
    assert "not a local path" in done.stdout


@pytest.mark.parametrize("kind", ["truncated", "not-openapi", "invalid-openapi", "missing"])
def test_bad_spec_changes_nothing(repo_copy: Path, tmp_path: Path, kind: str) -> None:
    spec = tmp_path / "candidate.json"
    pinned = (repo_copy / "openapi" / "openapi.json").read_text()
    if kind == "truncated":
        spec.write_text(pinned[: len(pinned) // 2])
    elif kind == "not-openapi":
        spec.write_text('{"hello": "world"}')
    elif kind == "invalid-openapi":
        spec.write_text(pinned.replace('"paths": {', '"paths": {"no-slash": 3, ', 1))
    before = _digest(repo_copy / "openapi", repo_copy / "generated")
    done = _run(repo_copy, "--spec", str(spec))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("regenerate: ")
    assert str(spec) in lines[0]
    assert _digest(repo_copy / "openapi", repo_copy / "generated") == before


def test_unreachable_url_suggests_a_path(repo_copy: Path) -> None:
    before = _digest(repo_copy / "openapi", repo_copy / "generated")
    done = _run(repo_copy, "--spec", "http://127.0.0.1:9/openapi.json")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "http://127.0.0.1:9/openapi.json" in lines[0]
    assert "--spec PATH" in lines[0]
    assert _digest(repo_copy / "openapi", repo_copy / "generated") == before
