"""Running the ``flux2`` command as a subprocess against an emulator on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEY = "cli-test-key"
# Simulated generation times x0.01: klein-4b takes 26 ms, flex 80 ms, max 380 ms.
SPEED = 0.01


def emulator_class() -> Any:
    from flux2.emulator import Emulator

    return Emulator


def cli_env(server: Any | None, speed: float = SPEED, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BFL_", "FLUX2_")) and k != "COLUMNS"
    }
    env["PYTHONUNBUFFERED"] = "1"
    if server is not None:
        env["BFL_API_KEY"] = KEY
        env["BFL_BASE_URL"] = str(server.base_url)
        env["FLUX2_POLL_SCALE"] = str(speed)
    env.update(extra)
    return env


def run_cli(
    *args: str,
    server: Any | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m flux2 ARGS`` to completion, output captured (stderr is not a terminal, so
    no live display)."""
    return subprocess.run(
        [sys.executable, "-m", "flux2", *args],
        env=dict(env) if env is not None else cli_env(server),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flux2", *args],
        env=dict(env),
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
