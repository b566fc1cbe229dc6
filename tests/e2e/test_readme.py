"""Every Python block of README.md runs as written, against the emulator.

Each ```python block runs on its own, in a fresh interpreter and an empty directory, with
``BFL_API_KEY`` and ``BFL_BASE_URL`` pointing at an emulator on loopback: what a reader who
copies one block into a file and runs it gets. Clients a block makes poll the emulator's
instant tasks without pausing (their ``poll_schedule`` unless the block sets one), so the
README's examples are checked in seconds.

A block that is deliberately not runnable is preceded by the line
``<!-- readme: not run (why) -->``; keep these rare.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flux2.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
KEY = "readme-key"
NOT_RUN = re.compile(r"<!--\s*readme:\s*not run\b.*?-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)")


@dataclass(frozen=True)
class Block:
    line: int
    """Line of README.md where the code starts."""
    code: str
    run: bool


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, with whether each is to be run."""
    blocks: list[Block] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        language = opening.group(2)
        start = number + 1
        end = start
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        if language.lower() in {"python", "py", "python3"}:
            before = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            code = textwrap.dedent("\n".join(lines[start:end]))
            blocks.append(Block(start + 1, code, NOT_RUN.search(before) is None))
        number = end + 1
    return blocks


# Runs a block as a script of its own. Only the default poll schedule is changed, through the
# clients' public constructor keyword.
RUNNER = """
import functools, runpy, sys
import flux2

def fast(cls):
    original = cls.__init__
    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("poll_schedule", flux2.PollSchedule(scale=0))
        original(self, *args, **kwargs)
    cls.__init__ = __init__

fast(flux2.Client)
fast(flux2.AsyncClient)
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with Emulator(api_key=KEY, speed=0) as server:
        yield server


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_examples_and_few_are_not_run() -> None:
    assert len(BLOCKS) >= 5
    assert sum(not block.run for block in BLOCKS) <= 2


def test_blocks_are_found_and_marked_as_intended() -> None:
    text = textwrap.dedent(
        """
        ```python
        print(1)
        ```

        <!-- readme: not run (needs a real key) -->
        ```python
        print(2)
        ```

        ```sh
        echo 3
        ```
          ```py
          print(4)
          ```
        """
    )
    found = python_blocks(text)
    assert [(b.code, b.run) for b in found] == [
        ("print(1)", True),
        ("print(2)", False),
        ("print(4)", True),
    ]


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_a_readme_block_runs_as_written(block: Block, emulator: Any, tmp_path: Path) -> None:
    if not block.run:
        pytest.skip("marked as not run in README.md")
    script = tmp_path / f"readme_line_{block.line}.py"
    script.write_text(block.code + "\n", encoding="utf-8")
    runner = tmp_path / "run_block.py"
    runner.write_text(RUNNER, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "BFL_API_KEY": KEY,
        "BFL_BASE_URL": str(emulator.base_url),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "generated")]),
        "PYTHONWARNINGS": "error",
    }
    done = subprocess.run(
        [sys.executable, str(runner), str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (
        f"README.md block at line {block.line} failed:\n{block.code}\n--- stderr ---\n{done.stderr}"
    )
