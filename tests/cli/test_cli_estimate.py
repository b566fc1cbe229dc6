"""Money before it is spent: ``generate --dry-run`` and the prices ``models`` shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux2 import pricing, registry
from flux2.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def no_key_and_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # A dry run needs neither; one that tried to connect would fail on this address.
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9")


def test_a_dry_run_shows_the_request_and_its_cost_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "fox.png"
    argv = ["generate", "a fox", "-m", "max", "--width", "2048", "--height", "1024"]
    code, out, _ = run(capsys, *argv, "-o", str(target), "--dry-run")
    assert code == 0
    assert "POST http://127.0.0.1:9/v1/flux-2-max" in out
    assert '"output_format": "png"' in out  # what -o fox.png asks the service for
    assert "10 credits ($0.1000)" in out
    assert not target.exists()

    code, out, _ = run(capsys, *argv, "--dry-run", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["credits"] == 10.0
    assert shown["body"]["width"] == 2048


def test_a_dry_run_refuses_a_bad_request_as_a_real_run_would(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "generate", "x", "-m", "max", "--guidance", "3", "--dry-run")
    assert code == 2
    assert "guidance" in err


def test_models_shows_each_models_price(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert out.count("price: ") == len(registry.all_models())
    klein = pricing.PRICES["klein-4b"]
    assert f"price: {klein.first_mp:g} credits for the first megapixel" in out

    code, out, _ = run(capsys, "models", "klein-4b", "--json")
    [model] = json.loads(out)["models"]
    assert model["price"] == {
        "first_mp_credits": klein.first_mp,
        "further_mp_credits": klein.further_mp,
    }
