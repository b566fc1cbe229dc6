"""The model names and output formats of the pin are types: a typo is a type error."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import flux2
from flux2.registry import all_models

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.repin
def test_the_names_are_the_pins() -> None:
    models = all_models().values()
    assert set(typing.get_args(flux2.ModelName)) == {
        *(m.name for m in models),
        *(m.endpoint for m in models),
    }
    formats = {v for m in models for v in (m.params["output_format"].enum or ())}
    assert set(typing.get_args(flux2.OutputFormat)) == formats


def test_mypy_refuses_a_misspelt_model_name(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "import flux2\n"
        'good: flux2.ModelName = "klein-4b"\n'
        'long: flux2.ModelName = "flux-2-klein-4b"\n'
        'fine: flux2.OutputFormat = "png"\n'
        'typo: flux2.ModelName = "klein-4"\n'
        'gif: flux2.OutputFormat = "gif"\n'
        "async def use(client: flux2.Client, aclient: flux2.AsyncClient) -> None:\n"
        '    client.generate("x", model="klein-4b", output_format="png")\n'
        '    client.submit("x", model="klein-4")\n'
        '    await aclient.generate("x", model="flex", output_format="gif")\n'
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
            "--config-file", os.devnull, "--python-version", "3.11", str(snippet),
        ],
        env={"MYPYPATH": os.pathsep.join([str(ROOT), str(ROOT / "generated")])},
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["5", "6", "9", "10"], (
        done.stdout + done.stderr
    )
    assert "'klein-4'" in errors[0]
    assert "'gif'" in errors[1]
    # generate() and submit() of both clients take the names as these types.
    assert "'klein-4'" in errors[2]
    assert "'gif'" in errors[3]
