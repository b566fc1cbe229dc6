"""The async driver's one piece of environment care: a missing ``sniffio`` is recorded as
absent once, so httpcore's import of it on every request fails at once."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flux2_fakes import FakeBFL, make_async_client


@pytest.fixture
def no_sniffio_entry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = sys.modules.pop("sniffio", "absent")
    try:
        yield
    finally:
        sys.modules.pop("sniffio", None)
        if saved != "absent":
            sys.modules["sniffio"] = saved  # type: ignore[assignment]


def _generate(api: FakeBFL) -> None:
    async def main() -> None:
        async with make_async_client(api) as client:
            await client.generate("a fox")

    asyncio.run(main())


def _find_spec_without(name: str, monkeypatch: pytest.MonkeyPatch, *, found: bool) -> None:
    real = importlib.util.find_spec

    def find_spec(wanted: str, *args: Any) -> Any:
        if wanted == name:
            return real("json") if found else None
        return real(wanted, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("no_sniffio_entry")
def test_a_missing_sniffio_is_recorded_as_absent(
    api: FakeBFL, monkeypatch: pytest.MonkeyPatch
) -> None:
    _find_spec_without("sniffio", monkeypatch, found=False)
    _generate(api)
    assert "sniffio" in sys.modules
    assert sys.modules["sniffio"] is None
    with pytest.raises(ImportError):
        import sniffio  # noqa: F401


@pytest.mark.usefixtures("no_sniffio_entry")
def test_an_installed_sniffio_is_left_alone(api: FakeBFL, monkeypatch: pytest.MonkeyPatch) -> None:
    _find_spec_without("sniffio", monkeypatch, found=True)
    _generate(api)
    assert sys.modules.get("sniffio", "absent") is not None
