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
PEER_SDK = "blackforest==0.1.3"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _wanted_stamp() -> str:
    wanted = (ROOT / "pyproject.toml").read_bytes() + PEER_SDK.encode()
    return hashlib.sha256(wanted).hexdigest()


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
        # BFL's own SDK, run unmodified against the emulator by the tests and measured as a
        # peer by scripts/bench. Installed without its dependencies: it pins pillow==10.4.0,
        # which would hold the project's Pillow back; what it needs (requests, pydantic)
        # comes with the dev tools above.
        subprocess.run(
            [str(python), "-m", "pip", "install", *quiet, "--no-deps", PEER_SDK],
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
