"""Against the real service: the live spec shows no breaking drift, and one cheap generation works.

Runs only with ``BFL_API_KEY`` set and ``api.bfl.ai`` resolving; otherwise each test is skipped
with the reason. The generation costs about 1.4 credits (klein-4b, 512x512) [doc].
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flux2.drift import LIVE_SPEC_URL

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


def _why_not_live() -> str | None:
    if not os.environ.get("BFL_API_KEY"):
        return "BFL_API_KEY is not set"
    try:
        socket.getaddrinfo("api.bfl.ai", 443)
    except OSError as exc:
        return f"api.bfl.ai does not resolve ({exc})"
    return None


@pytest.fixture(scope="module")
def live() -> None:
    reason = _why_not_live()
    if reason is not None:
        pytest.skip(f"live test skipped: {reason}")


def test_live_spec_has_no_breaking_drift(live: None) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_drift"), "--json"],
        env={**os.environ, "FLUX2_NO_BOOTSTRAP": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 2, f"could not check {LIVE_SPEC_URL}: {done.stderr}"
    findings = json.loads(done.stdout)
    breaking = [f"{f['location']}: {f['message']}" for f in findings if f["class"] == "breaking"]
    assert done.returncode == 0, "the live spec drifted:\n" + "\n".join(breaking)
    assert not breaking


def test_one_klein_4b_generation_end_to_end(live: None, tmp_path: Path) -> None:
    from flux2 import Client

    client = Client()
    try:
        image = client.generate(
            "a single red apple on a white table, studio light",
            model="klein-4b",
            width=512,
            height=512,
            seed=7,
        )
        saved = Path(image.save(tmp_path / "apple.jpg"))
    finally:
        client.close()
    assert saved.stat().st_size > 1000
    assert image.content[:3] in (b"\xff\xd8\xff", b"\x89PN")
    assert image.task_id
    assert image.cost is None or 0 < image.cost < 5
