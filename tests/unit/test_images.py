"""A generated image as users handle it: its format and size from its header, its display in
notebooks, PIL, and saving under a name whose extension agrees with its bytes."""

from __future__ import annotations

import asyncio
import builtins
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import flux2
from flux2._imageinfo import image_info
from flux2.downloads import Sink
from flux2.downloads import format_of_suffix as format_for_suffix


def encoded(fmt: str, size: tuple[int, int] = (40, 24), mode: str = "RGB", **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "red").save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("JPEG", "RGB", {}),
        ("JPEG", "RGB", {"progressive": True}),
        ("JPEG", "RGB", {"exif": b"Exif\x00\x00" + b"\x00" * 64}),
        ("JPEG", "L", {}),
        ("WEBP", "RGB", {}),
        ("WEBP", "RGB", {"lossless": True}),
        ("WEBP", "RGBA", {}),
    ],
)
def test_the_size_is_read_from_the_header_as_pillow_reads_it(
    fmt: str, mode: str, options: dict[str, Any]
) -> None:
    for size in [(40, 24), (1024, 768), (16383, 1)]:
        if fmt == "JPEG" and size[0] > 10000 and options:
            continue
        data = encoded(fmt, size, mode, **options)
        info = image_info(data)
        assert info is not None
        assert (info.width, info.height) == Image.open(io.BytesIO(data)).size
        assert info.format == fmt.lower()
        assert info.mime_type == f"image/{fmt.lower()}"


def test_a_truncated_or_foreign_header_gives_no_size_and_no_exception() -> None:
    for fmt in ["PNG", "JPEG", "WEBP"]:
        data = encoded(fmt)
        for cut in range(len(data[:64])):
            info = image_info(data[:cut])
            assert info is None or info.format == fmt.lower()
    assert image_info(b"<html>not an image</html>") is None
    gif = image_info(encoded("GIF"))
    assert gif is not None
    assert (gif.format, gif.width) == ("gif", None)
    # A JPEG whose segments claim impossible lengths ends the search instead of looping.
    assert image_info(b"\xff\xd8\xff\xe0\x00\x00" + b"\x00" * 40) is not None


def test_file_extensions_name_formats() -> None:
    assert format_for_suffix(".JPG") == "jpeg"
    assert format_for_suffix(".jpeg") == "jpeg"
    assert format_for_suffix(".png") == "png"
    assert format_for_suffix(".webp") == "webp"
    assert format_for_suffix(".bin") is None
    assert format_for_suffix("") is None


class Served:
    """Stands in for the client a GeneratedImage downloads through; counts downloads."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.downloads = 0

    def fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        self.downloads += 1
        sink.begin("application/octet-stream")
        sink.write(self.content)
        sink.finish()

    async def afetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        self.fetch(url, sink, expires_at=expires_at)


def generated(content: bytes) -> tuple[flux2.GeneratedImage, Served]:
    served = Served(content)
    task = flux2.Task("task-1", "https://api.bfl.ai/v1/get_result?id=task-1", model="flex")
    result = flux2.TaskResult("task-1", "Ready", url="https://delivery.bfl.ai/x?sig=s")
    return flux2.GeneratedImage(task, result, downloader=served), served


def test_an_image_knows_its_format_and_size_and_downloads_once() -> None:
    image, served = generated(encoded("JPEG", (64, 48)))
    assert (image.format, image.mime_type, image.width, image.height) == (
        "jpeg",
        "image/jpeg",
        64,
        48,
    )
    assert served.downloads == 1


def test_an_image_shows_itself_in_a_notebook() -> None:
    jpeg, _ = generated(encoded("JPEG"))
    bundle = jpeg._repr_mimebundle_()
    assert bundle["image/jpeg"] == jpeg.content
    assert bundle["text/plain"] == repr(jpeg)
    assert jpeg._repr_jpeg_() == jpeg.content
    assert jpeg._repr_png_() is None
    png, _ = generated(encoded("PNG"))
    assert png._repr_png_() == png.content
    assert png._repr_jpeg_() is None
    assert set(png._repr_mimebundle_()) == {"text/plain", "image/png"}


class Expired(Served):
    def fetch(self, url: str, sink: Sink, *, expires_at: float | None) -> None:
        raise flux2.ResultExpiredError("the result URL has expired", status_code=403)


def test_an_image_that_cannot_be_fetched_shows_why_instead_of_a_traceback() -> None:
    task = flux2.Task("task-1", "https://api.bfl.ai/v1/get_result?id=task-1")
    result = flux2.TaskResult("task-1", "Ready", url="https://delivery.bfl.ai/x?sig=s")
    image = flux2.GeneratedImage(task, result, downloader=Expired(b""))
    bundle = image._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "expired" in str(bundle["text/plain"])
    assert image._repr_png_() is None


def test_to_pil_gives_a_pil_image() -> None:
    image, _ = generated(encoded("WEBP", (32, 16)))
    pil = image.to_pil()
    assert pil.size == (32, 16)
    assert pil.format == "WEBP"


def test_bytes_pillow_cannot_read_are_a_flux2_error() -> None:
    # A WebP header over a body that is not one: the header reads, Pillow cannot decode it.
    image, _ = generated(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32)
    with pytest.raises(flux2.Flux2Error, match="Pillow cannot read"):
        image.to_pil()


def test_to_pil_without_pillow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pil(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    image, _ = generated(encoded("PNG"))
    with pytest.raises(flux2.Flux2Error, match=r"flux2\[images\]"):
        image.to_pil()


def test_saving_under_a_matching_or_neutral_name_writes_the_bytes(tmp_path: Path) -> None:
    content = encoded("JPEG")
    image, _ = generated(content)
    for name in ["a.jpg", "b.JPEG", "c.jfif", "d", "e.bin"]:
        assert image.save(tmp_path / name).read_bytes() == content
    written = image.save(f"{tmp_path}/gallery/")
    assert written == tmp_path / "gallery" / "task-1.jpg"


def test_saving_under_a_named_file_streams_and_keeps_nothing_in_memory(tmp_path: Path) -> None:
    content = encoded("JPEG")
    image, served = generated(content)
    assert image.save(tmp_path / "a.jpg").read_bytes() == content
    assert asyncio.run(image.asave(tmp_path / "b.jpeg")).read_bytes() == content
    assert served.downloads == 2  # straight to the files, not read into the image first
    assert image.read() == content
    assert served.downloads == 3


def test_saving_under_a_contradicting_extension_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    image, served = generated(encoded("JPEG"))
    with pytest.raises(flux2.InputError, match=r"output_format='png'.*convert=True") as caught:
        image.save(tmp_path / "x.png")
    assert "JPEG" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    # Saving streams the image to disk, held nowhere in memory: the refused attempt read it
    # through to the end to learn its format, and the next one downloads it again.
    image.save(tmp_path / "x.jpg")
    assert served.downloads == 2
    with pytest.raises(flux2.InputError):
        asyncio.run(image.asave(tmp_path / "y.webp"))
    # A format the service does not offer is not suggested as an output_format.
    with pytest.raises(flux2.InputError) as caught:
        image.save(tmp_path / "z.gif")
    assert "output_format" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg"]


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".webp", "WEBP"), (".jpg", "JPEG")])
def test_saving_with_convert_re_encodes(tmp_path: Path, suffix: str, fmt: str) -> None:
    image, _ = generated(encoded("PNG", mode="RGBA") if fmt != "PNG" else encoded("JPEG"))
    path = image.save(tmp_path / f"out{suffix}", convert=True)
    with Image.open(path) as written:
        assert written.format == fmt
        assert written.size == (40, 24)
    again = asyncio.run(image.asave(tmp_path / f"again{suffix}", convert=True))
    assert again.read_bytes() == path.read_bytes()
