"""What a user sees of the package itself: its license, its namespace, and README statements
that name the code."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import flux2
from flux2 import webhooks

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_file_is_the_declared_license() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text


def test_dir_shows_the_public_names_not_the_modules_own_imports() -> None:
    names = dir(flux2)
    for internal in ["Any", "TYPE_CHECKING", "annotations"]:
        assert internal not in names
    assert set(flux2.__all__) <= set(names)
    assert {"registry", "webhooks", "pricing"} <= set(names)
    assert not [name for name in names if name.startswith("_") and name != "__version__"]
    for name in names:
        assert getattr(flux2, name) is not None


def test_the_readme_names_what_verify_and_parse_returns() -> None:
    returned = inspect.signature(webhooks.verify_and_parse).return_annotation
    name = returned if isinstance(returned, str) else returned.__name__
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"returns a `flux2.webhooks.{name}`" in readme
    assert "`.result` is the `flux2.TaskResult`" in readme
    assert inspect.get_annotations(webhooks.WebhookEvent)["result"] in {
        "TaskResult",
        flux2.TaskResult,
    }
