"""Make the repository's scripts runnable from a fresh clone with nothing installed.

``ensure()`` creates ``.venv`` beside ``pyproject.toml`` when it is missing, installs the project
in editable mode with the ``dev`` extra when ``pyproject.toml`` changed since the last install,
and re-executes the calling script with the virtual environment's interpreter.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".flux2-installed"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _wanted_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def install() -> Path:
    """Create or refresh .venv; return its interpreter."""
    python = _venv_python()
    if not python.exists():
        print(f"flux2: creating {VENV.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    wanted = _wanted_stamp()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("flux2: installing the project and its dev tools ...", file=sys.stderr, flush=True)
        quiet = ["--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [str(python), "-m", "pip", "install", *quiet, "--upgrade", "pip"],
            check=True,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", *quiet, "-e", f"{ROOT}[dev]"],
            check=True,
        )
        STAMP.write_text(wanted + "\n")
    return python


def ensure() -> None:
    """Run the calling script inside the project's virtual environment.

    FLUX2_NO_BOOTSTRAP=1 skips this: the current interpreter already has what is needed (used
    by tests that run the scripts on a copy of the repository).
    """
    if os.environ.get("FLUX2_NO_BOOTSTRAP") == "1":
        return
    if _in_venv() and STAMP.exists() and STAMP.read_text().strip() == _wanted_stamp():
        return
    python = install()
    script = Path(sys.argv[0]).resolve()
    os.execv(str(python), [str(python), str(script), *sys.argv[1:]])  # noqa: S606
