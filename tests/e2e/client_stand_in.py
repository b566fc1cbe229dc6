"""Names the client and command tests use for the emulator: both are flux2.emulator.Emulator."""

from __future__ import annotations

from typing import Any

from flux2.emulator import Emulator

StandIn = Emulator


def start_emulator(**options: Any) -> Emulator:
    """An emulator with these options (enter it with ``with`` to start it)."""
    return Emulator(**options)
