"""What a type checker makes of user code: ``if result.ok:`` narrows a batch result to one
whose ``image`` is never ``None``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NARROWED = """
    import flux2

    def save_all(client: flux2.Client) -> None:
        for result in client.generate_many(["a", "b"], model="klein-4b"):
            if result.ok:
                result.image.save("out/")
                print(result.task.id)
            else:
                print(result.index, result.error)
"""

UNNARROWED = """
    import flux2

    def save_all(client: flux2.Client) -> None:
        for result in client.generate_many(["a", "b"], model="klein-4b"):
            result.image.save("out/")
"""


def mypy(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_code.py"
    script.write_text(textwrap.dedent(code))
    # The checkout's flux2, not whatever copy is installed.
    env = {**os.environ, "MYPYPATH": f"{ROOT}{os.pathsep}{ROOT / 'generated'}"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", os.devnull,
         "--cache-dir", str(tmp_path / "cache"), "--follow-imports", "silent", str(script)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_a_successful_batch_result_has_an_image_for_type_checkers(tmp_path: Path) -> None:
    done = mypy(NARROWED, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_an_unchecked_batch_result_may_have_no_image(tmp_path: Path) -> None:
    done = mypy(UNNARROWED, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Item "None" of "GeneratedImage | None" has no attribute "save"' in done.stdout
