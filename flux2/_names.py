"""Model names and output formats of the pinned spec, as types for IDEs and type checkers.

Written by scripts/regenerate from openapi/openapi.json; do not edit.
"""

from typing import Literal

__all__ = ["ModelName", "OutputFormat"]

# Short names (flex) and endpoint names (flux-2-flex), as generate() and submit() take them.
ModelName = Literal[
    "flex",
    "klein-4b",
    "klein-9b",
    "klein-9b-preview",
    "max",
    "pro",
    "pro-preview",
    "flux-2-flex",
    "flux-2-klein-4b",
    "flux-2-klein-9b",
    "flux-2-klein-9b-preview",
    "flux-2-max",
    "flux-2-pro",
    "flux-2-pro-preview",
]

OutputFormat = Literal[
    "jpeg",
    "png",
    "webp",
]
