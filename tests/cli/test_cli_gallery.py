"""The batch gallery rendered by a real browser: the screenshot must show the images."""

from __future__ import annotations

import colorsys
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
PROMPTS = [
    "a lighthouse at dawn",
    "a forest at night",
    "a desert at sunset",
    "a neon city street",
    "a winter lake",
    "an ocean storm",
    "autumn hills at dusk",
    'a <b>bold</b> & "quoted" prompt',
]


def _screenshot(page: Path, target: Path, profile: Path) -> None:
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={target}",
            "--window-size=1280,900",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


def _colourful_fraction(image: Image.Image) -> float:
    """The share of pixels with a clear colour (the page itself is white, grey and black)."""
    small = image.convert("RGB").resize((320, 225))
    data = small.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    colourful = 0
    for r, g, b in pixels:
        _, lightness, saturation = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)
        if saturation > 0.25 and 0.08 < lightness < 0.92:
            colourful += 1
    return colourful / len(pixels)


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"headless Chromium is not installed ({CHROMIUM}); apt-get install -y chromium",
)
def test_the_gallery_shows_the_images_in_a_browser(emu: Any, tmp_path: Path) -> None:
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    out = tmp_path / "gallery"
    done = run_cli(
        "batch",
        str(source),
        "--out",
        str(out),
        "-m",
        "klein-4b",
        "--width",
        "512",
        "--height",
        "512",
        server=emu,
    )
    assert done.returncode == 0, done.stderr
    page = out / "index.html"
    shot = tmp_path / "gallery.png"
    _screenshot(page, shot, tmp_path / "profile")
    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        # The first row of thumbnails fills a good part of the window with the pictures'
        # colours; a page of broken images or captions alone would be grey and white.
        assert _colourful_fraction(image) > 0.2
        # Each prompt draws a different picture: the thumbnails differ from one another.
        first_row = [image.crop((40 + 308 * i, 110, 40 + 308 * i + 250, 360)) for i in range(4)]
        colours = {tuple(crop.convert("RGB").resize((1, 1)).getpixel((0, 0))) for crop in first_row}
        assert len(colours) == 4
