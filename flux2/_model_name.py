"""The one way a model name is normalised, kept free of imports so that anything may use it
without loading the spec."""

from __future__ import annotations

__all__ = ["short_model_name"]

_ENDPOINT_PREFIX = "flux-2-"


def short_model_name(name: str) -> str:
    """``"flex"`` for ``"flex"``, ``"flux-2-flex"``, ``"/v1/flux-2-flex"`` or ``" Flex "``."""
    return name.strip().lower().removeprefix("/v1/").removeprefix(_ENDPOINT_PREFIX)
