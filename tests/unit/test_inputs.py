"""Input images: every accepted form becomes the right wire value; everything else is refused."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from flux2_fakes import JPEG, PNG

import flux2
from flux2.inputs import encode_image, encode_images, sniff_image_format

WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(40)
GIF = b"GIF89a" + bytes(40)


def wire(value: object) -> bytes:
    return bytes(encode_image(value).value)


@pytest.mark.parametrize(
    ("data", "fmt"), [(JPEG, "jpeg"), (PNG, "png"), (WEBP, "webp"), (GIF, "gif")]
)
def test_formats_are_told_by_magic_bytes(data: bytes, fmt: str) -> None:
    found = sniff_image_format(data[:32])
    assert found is not None
    assert found[0] == fmt
    assert encode_image(data).format == fmt


def test_a_path_is_read_and_base64_encoded(tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    expected = base64.b64encode(PNG)
    assert wire(path) == expected
    assert wire(str(path)) == expected
    assert wire(os.fspath(path)) == expected


def test_a_large_file_encodes_exactly_across_chunk_boundaries(tmp_path: Path) -> None:
    data = JPEG + os.urandom(7 * 1024 * 1024 + 5)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    assert wire(path) == base64.b64encode(data)


def test_bytes_bytearray_memoryview_and_file_objects() -> None:
    expected = base64.b64encode(JPEG)
    assert wire(JPEG) == expected
    assert wire(bytearray(JPEG)) == expected
    assert wire(memoryview(JPEG)) == expected
    assert wire(io.BytesIO(JPEG)) == expected


def test_a_pil_image_is_sent_as_png() -> None:
    from PIL import Image

    image = Image.new("RGB", (8, 8), (200, 10, 10))
    encoded = encode_image(image)
    assert encoded.format == "png"
    decoded = Image.open(io.BytesIO(base64.b64decode(encoded.value)))
    assert decoded.size == (8, 8)
    assert decoded.getpixel((0, 0)) == (200, 10, 10)


def test_urls_are_sent_as_is() -> None:
    url = "https://example.com/photos/fox.jpg?w=1024"
    encoded = encode_image(url)
    assert encoded.value == url.encode()
    assert encoded.is_url


def test_a_data_uri_loses_its_prefix() -> None:
    raw = base64.b64encode(PNG).decode()
    assert wire(f"data:image/png;base64,{raw}") == raw.encode()


def test_plain_and_urlsafe_base64_are_accepted() -> None:
    data = JPEG + bytes([251, 255, 190] * 40)
    standard = base64.b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode()
    assert "+" in standard or "/" in standard
    assert wire(standard) == standard.encode()
    assert wire(urlsafe) == standard.encode()


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(flux2.InputError, match="no such file"):
        encode_image(tmp_path / "nope.png")
    with pytest.raises(flux2.InputError, match="no such file"):
        encode_image(str(tmp_path / "a-very-long-name-without-any-extension-at-all-in-it-here"))


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("hello, I am text")
    with pytest.raises(flux2.InputError, match="not an image"):
        encode_image(notes)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(flux2.InputError, match="empty"):
        encode_image(empty)
    with pytest.raises(flux2.InputError, match="directory"):
        encode_image(tmp_path)


def test_base64_of_something_that_is_not_an_image_is_refused() -> None:
    with pytest.raises(flux2.InputError, match="not an image"):
        encode_image(base64.b64encode(b"x" * 80).decode())
    with pytest.raises(flux2.InputError, match="base64"):
        encode_image("data:image/png;base64,@@@not-base64@@@")


def test_other_types_are_refused_with_what_is_accepted() -> None:
    with pytest.raises(flux2.InputError, match="path, bytes, a PIL image"):
        encode_image(42)
    with pytest.raises(flux2.InputError, match="binary mode"):
        encode_image(io.StringIO("text"))


def test_non_ascii_urls_are_refused() -> None:
    with pytest.raises(flux2.InputError, match="ASCII"):
        encode_image("https://example.com/füchse.png")


def test_one_image_need_not_be_wrapped_in_a_list() -> None:
    (encoded,) = encode_images(PNG, max_images=4, model="klein-4b")
    assert encoded.format == "png"


def test_errors_name_the_position_of_the_image(tmp_path: Path) -> None:
    with pytest.raises(flux2.InputError, match=r"images\[1\]") as caught:
        encode_images([PNG, tmp_path / "missing.jpg"], max_images=8, model="flex")
    assert caught.value.param == "images[1]"
