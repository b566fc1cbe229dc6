"""scripts/check_drift: the issue's "done when" checks, the control, and failing clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import drift_control
import pytest

from flux2 import drift

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLUX2_NO_BOOTSTRAP": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_drift"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_the_pin_against_itself_has_no_findings(repo_root: Path) -> None:
    pinned = str(repo_root / "openapi" / "openapi.json")
    done = _run("--spec", pinned, "--json")
    assert done.returncode == 0, done.stderr
    assert _findings(done) == []
    readable = _run("--spec", pinned)
    assert readable.returncode == 0
    assert "no differences" in readable.stdout


def test_an_older_candidate_offers_new_optional_fields(spec_history: Path) -> None:
    done = _run(
        "--spec",
        str(spec_history / "2026-04-04.json"),
        "--against",
        str(spec_history / "2026-04-14.json"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    found = _findings(done)
    assert {(f["class"], f["location"]) for f in found} == {
        ("additive", "Flux2Inputs.disable_pup"),
        ("additive", "Flux2Inputs.transparent_bg"),
        ("additive", "Flux2KleinInputs.transparent_bg"),
    }
    for f in found:
        assert set(f) >= {"class", "location", "old", "new", "message", "rule"}
        assert f["old"] is None
        assert f["new"] == "boolean, default false"
        assert "new optional field" in f["message"]
        assert f["rule"] == "optional request field added"


def test_the_bearer_copy_is_breaking(spec_history: Path) -> None:
    done = _run(
        "--spec",
        str(spec_history / "2026-03-25.json"),
        "--against",
        str(spec_history / "2026-04-14.json"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    breaking = done.stdout.split("breaking (", 1)[1].split("\n\n", 1)[0]
    assert (
        "securitySchemes.APIKeyHeader auth scheme: API key in header 'x-key' -> "
        "HTTP bearer (Authorization header)" in breaking
    )
    assert "would be refused (401/403)" in breaking
    # Grouped by class, in this order.
    assert done.stdout.index("breaking (") < done.stdout.index("additive (")
    assert done.stdout.index("additive (") < done.stdout.index("cosmetic (")


def test_against_compares_two_copies(spec_history: Path) -> None:
    done = _run(
        "--spec",
        str(spec_history / "2026-04-14.json"),
        "--against",
        str(spec_history / "2026-04-04.json"),
        "--json",
    )
    assert done.returncode == 1
    assert {f["location"] for f in _findings(done)} == {
        "Flux2Inputs.disable_pup",
        "Flux2Inputs.transparent_bg",
        "Flux2KleinInputs.transparent_bg",
    }


def test_control_passes_and_shows_its_table() -> None:
    done = _run("--control")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.rstrip().endswith(" ok")]
    kinds = {row.split("  ")[0].strip() for row in rows}
    assert len(kinds) >= 8
    for expected in ("breaking", "additive", "cosmetic", "nothing"):
        assert any(f"  {expected} " in row for row in rows), expected
    assert "FAIL" not in done.stdout
    assert done.stdout.strip().splitlines()[-1] == f"control: {len(rows)}/{len(rows)} passed"


def test_control_fails_when_the_comparison_misclassifies(monkeypatch: pytest.MonkeyPatch) -> None:
    real = drift.compare

    def lenient(candidate: Any, pinned: Any = None) -> list[drift.Finding]:
        import attrs

        return [attrs.evolve(f, category="additive") for f in real(candidate, pinned)]

    monkeypatch.setattr(drift, "compare", lenient)
    results = drift_control.run_control()
    failed = {r.kind for r in results if not r.ok}
    assert "auth scheme changed" in failed
    assert "new task status" in failed
    assert "new optional request field" not in failed
    assert drift_control.main([]) == 1


def test_control_fails_when_the_comparison_sees_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift, "compare", lambda candidate, pinned=None: [])
    results = drift_control.run_control()
    assert [r.kind for r in results if r.ok] == ["key order and whitespace", "unmodified copy"]


def test_control_fails_when_the_comparison_sees_too_much(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = drift.compare
    noise = drift.Finding("cosmetic", "info", "title", "a", "b", "title changed")
    monkeypatch.setattr(drift, "compare", lambda c, p=None: [*real(c, p), noise])
    results = drift_control.run_control()
    assert not any(r.ok for r in results if r.expected in (None, "breaking"))


def test_unreachable_url_exits_2_with_one_line() -> None:
    done = _run("--spec", "http://127.0.0.1:9/openapi.json")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("scripts/check_drift: error: could not fetch http://127.0.0.1:9/")
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"openapi": "3.1.0", "paths": ', "is not valid JSON"),
        ('{"hello": "world"}', "is not an OpenAPI 3 document"),
        ('{"openapi": "3.1.0", "paths": []}', "'paths' is not an object"),
        (None, "could not read"),
    ],
)
def test_a_bad_document_exits_2_with_one_line(
    tmp_path: Path, content: str | None, says: str
) -> None:
    spec = tmp_path / "candidate.json"
    if content is not None:
        spec.write_text(content)
    for flag in ("--spec", "--against"):
        done = _run(flag, str(spec))
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert says in lines[0]
        assert str(spec) in lines[0]


def test_main_is_callable_in_process(capsys: pytest.CaptureFixture[str], repo_root: Path) -> None:
    pinned = repo_root / "openapi" / "openapi.json"
    assert drift.main(["--spec", str(pinned), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


# -- report formats --------------------------------------------------------------------------


def _bearer_args(spec_history: Path, *more: str) -> list[str]:
    return [
        "--spec",
        str(spec_history / "2026-03-25.json"),
        "--against",
        str(spec_history / "2026-04-14.json"),
        *more,
    ]


def test_markdown_report_is_a_pull_request_description(spec_history: Path) -> None:
    done = _run(*_bearer_args(spec_history, "--format", "markdown"))
    assert done.returncode == 1, "breaking drift fails the run"
    text = done.stdout
    assert text.startswith("## API spec drift: breaking for flux2\n")
    breaking = text.split("### Breaking (", 1)[1].split("###", 1)[0]
    assert "| Where | Change | What it means for flux2 |" in breaking
    assert (
        "| `securitySchemes.APIKeyHeader` auth scheme | API key in header 'x-key' → HTTP bearer "
        "(Authorization header) |" in breaking
    )
    assert "<details><summary>Cosmetic (" in text
    assert text.index("### Breaking") < text.index("### Additive") < text.index("<details>")


def test_markdown_of_no_drift_says_so_and_exits_0(repo_root: Path) -> None:
    done = _run("--spec", str(repo_root / "openapi" / "openapi.json"), "--format", "markdown")
    assert done.returncode == 0
    assert done.stdout.startswith("## API spec drift: nothing breaking for flux2\n")
    assert "No differences." in done.stdout


def test_markdown_cells_cannot_break_the_table() -> None:
    finding = drift.Finding("breaking", "X.a|b", "field", "`x`", None, "one | two\nthree")
    text = drift.render_markdown([finding], candidate="c", baseline="b")
    row = next(line for line in text.splitlines() if line.startswith("| `X.a"))
    assert row == "| `X.a\\|b` field | 'x' → (absent) | one \\| two three |"


def test_format_json_is_the_json_option_and_output_goes_to_a_file(
    spec_history: Path, tmp_path: Path
) -> None:
    as_option = _run(*_bearer_args(spec_history, "--json"))
    as_format = _run(*_bearer_args(spec_history, "--format", "json"))
    assert as_option.returncode == as_format.returncode == 1
    assert _findings(as_option) == _findings(as_format)
    report = tmp_path / "drift.md"
    written = _run(*_bearer_args(spec_history, "--format", "markdown", "-o", str(report)))
    assert written.returncode == 1
    assert written.stdout == ""
    assert report.read_text().startswith("## API spec drift: breaking for flux2")
    clash = _run(*_bearer_args(spec_history, "--json", "--format", "text"))
    assert clash.returncode == 2
    assert "--json and --format text disagree" in clash.stderr


# -- flux2 drift: the conventions of the other flux2 commands ----------------------------------


def test_flux2_drift_reports_errors_as_the_other_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from flux2 import cli

    missing = tmp_path / "missing.json"
    assert cli.main(["drift", "--spec", str(missing)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"flux2: error: could not read {missing}: No such file or directory"]
    assert cli.main(["drift", "--spec", str(missing), "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["exit_code"] == 2
    assert cli.main(["drift", "--bogus"]) == 2
    assert "flux2: error: unrecognized arguments: --bogus" in capsys.readouterr().err
    assert cli.main(["drift", "--api-key", "k"]) == 2, "drift sends nothing: no key option"
    pinned = str(Path(drift.__file__).parents[2] / "openapi" / "openapi.json")
    assert cli.main(["drift", "--spec", pinned, "--debug"]) == 0, "--debug after the command"
    assert "no differences" in capsys.readouterr().out


def test_flux2_drift_exits_1_on_breaking_drift_with_the_report(
    capsys: pytest.CaptureFixture[str], spec_history: Path
) -> None:
    from flux2 import cli

    assert cli.main(["drift", *_bearer_args(spec_history, "--format", "markdown")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("## API spec drift: breaking for flux2")
    assert captured.err == ""


def test_the_report_names_the_pin_without_the_machines_directories(
    capsys: pytest.CaptureFixture[str], repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    spec = "openapi/history/2026-03-25.json"
    assert drift.main(["--spec", spec, "--format", "markdown"]) in (0, 1)
    out = capsys.readouterr().out
    assert f"`{spec}` compared with `the pinned spec (openapi/openapi.json)`" in out
    assert str(repo_root) not in out
