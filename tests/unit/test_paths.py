from __future__ import annotations

import os
from pathlib import Path

import pytest

from flux2 import InputError
from flux2._paths import MAX_NAME_CHARS, path_inside, safe_file_name


@pytest.mark.parametrize(
    "hostile",
    [
        "/../../outside/pwned",
        "a/b/../c",
        "..",
        ".",
        "",
        "..\\..\\windows",
        "C:\\evil",
        "nul\x00byte",
        "tab\there",
        "x" * 5000,
        "y/" * 60,
        "CON",
        "lpt1.txt",
        "\u202etxt.exe",
        "\ud800",
    ],
)
def test_a_hostile_name_becomes_one_harmless_component(hostile: str, tmp_path: Path) -> None:
    name = safe_file_name(hostile)
    assert name
    assert not set(name) & {"/", "\\", "\x00"}
    assert not name.startswith(".")
    assert len(name) <= MAX_NAME_CHARS
    target = path_inside(tmp_path, name + ".png")
    assert target.resolve().parent == tmp_path.resolve()


def test_an_ordinary_id_is_kept_as_it_is() -> None:
    assert safe_file_name("4f9c1e2a-0b7d-4c52-9a9e-1f2d3c4b5a69") == (
        "4f9c1e2a-0b7d-4c52-9a9e-1f2d3c4b5a69"
    )


def test_different_ids_that_clean_alike_stay_apart() -> None:
    assert safe_file_name("a/b") != safe_file_name("a_b")
    assert safe_file_name("a/b") != safe_file_name("a\\b")


def test_a_path_that_leaves_the_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="leave the directory"):
        path_inside(tmp_path, "../escape.png")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "link")
    with pytest.raises(InputError, match="leave the directory"):
        path_inside(tmp_path, "link/x.png")
