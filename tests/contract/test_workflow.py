"""The scheduled regeneration's workflow is a valid GitHub Actions workflow and does its steps.

actionlint is on the package index only as a source package that downloads its binary from
GitHub when built, so the workflow is validated against the GitHub workflow JSON schema
(check-jsonschema's vendored copy of the SchemaStore schema) instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
REGENERATE = ROOT / ".github" / "workflows" / "regenerate.yml"


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_workflows_are_valid() -> None:
    assert REGENERATE in WORKFLOWS
    done = _validate(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        ("no runner", "    runs-on: ubuntu-latest\n", ""),
        ("a misspelt trigger", "  workflow_dispatch:\n", "  workflow_dispach:\n"),
    ],
)
def test_a_broken_workflow_is_refused(tmp_path: Path, what: str, old: str, new: str) -> None:
    text = REGENERATE.read_text(encoding="utf-8")
    assert old in text, what
    broken = tmp_path / "regenerate.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert _validate(broken).returncode == 1, what


def test_the_workflow_checks_drift_regenerates_tests_and_proposes() -> None:
    text = REGENERATE.read_text(encoding="utf-8")
    steps = [
        "scripts/check_drift --spec",
        "--format markdown",
        "scripts/regenerate --spec",
        "scripts/dev test",
        "gh pr create",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "schedule:" in text
    assert "workflow_dispatch:" in text
    # The drift report becomes the pull request's description.
    assert text.count('--body-file "$RUNNER_TEMP/drift.md"') == 2
    # Breaking drift (exit 1) stops the run before anything is regenerated.
    assert 'if [ "$status" -eq 1 ]' in text
    assert "exit 1" in text[: text.index("scripts/regenerate --spec")]
