"""The generated package, loaded on first use: ``import flux2`` stays light.

Also the check of a request body by the endpoint's generated request model, which knows what
the pinned spec requires. Imports nothing of flux2 but its errors, so that request building
(:mod:`flux2.decisions.requests`) and answer parsing (:mod:`flux2._convert`) can both use it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .registry import Model

__all__ = ["check_request_fields", "load_generated"]


# The generated models are imported on first use (``import flux2`` stays light), by one thread
# at a time: worker threads of a blocking batch that import the package's modules at once can
# trip importlib's deadlock detection (_DeadlockError).
_generated_lock = threading.Lock()
_generated_ready = threading.Event()


def load_generated() -> None:
    if _generated_ready.is_set():
        return
    with _generated_lock:
        import flux2_generated.models
        import flux2_generated.types  # noqa: F401

        _generated_ready.set()


@functools.cache
def _request_class(schema_name: str) -> Any:
    """The generated class of a request schema (the generator capitalises after digits:
    ``Flux2Klein1bInputs`` becomes ``Flux2Klein1BInputs``), or None."""
    load_generated()
    from flux2_generated import models

    wanted = schema_name.lower()
    return next((getattr(models, n) for n in models.__all__ if n.lower() == wanted), None)


def check_request_fields(model: Model, fields: Mapping[str, Any]) -> None:
    """Raise :class:`~flux2.InputError` when the generated request model of `model` cannot
    read a body with `fields` (their values already checked): a required field is missing."""
    cls = _request_class(model.request_schema)
    if cls is None:
        # The generated package predates the pin; scripts/regenerate --check reports that.
        return
    try:
        cls.from_dict(fields)
    except KeyError as missing:
        name = str(missing.args[0])
        if name in model.image_slots:
            wanted = model.image_slots.index(name) + 1
            raise InputError(
                f"model {model.name!r} requires {wanted} input image(s) ({name}); "
                "give them as images=[...]",
                param="images",
            ) from None
        param = model.params.get(name)
        allowed = f": {param.describe_allowed()}" if param is not None else ""
        raise InputError(
            f"model {model.name!r} requires the parameter {name!r}{allowed}", param=name
        ) from None
