"""flux2: a Python client for the FLUX.2 image API of Black Forest Labs.

    >>> import flux2
    >>> client = flux2.Client()                       # key from BFL_API_KEY
    >>> image = client.generate("a red fox in fresh snow", model="flex", seed=42)
    >>> image.save("fox.jpg")

``Client`` blocks, ``AsyncClient`` awaits; both submit, poll (following each task's regional
``polling_url``), and download the same way. Errors form one tree under :class:`Flux2Error`
(see :mod:`flux2.errors`). Models and their parameters come from the pinned OpenAPI spec
(:mod:`flux2.registry`); webhook deliveries are verified with :mod:`flux2.webhooks`.

Layout: every exchange with the service is written once, as a generator in ``_flows`` that
yields its I/O (the actions of ``_transfer``); ``_drive`` performs them for both clients and
is the one place a foreign exception becomes a :class:`Flux2Error`. The rules the flows follow
are in :mod:`flux2.decisions`, one module a question (requests, hosts, retry, polling,
status); ``_schema`` is the one reader of JSON Schema. The packages :mod:`flux2.batch`
(resumable batches), :mod:`flux2.cli` (the ``flux2`` command), :mod:`flux2.drift` (spec drift)
and :mod:`flux2.emulator` (a local BFL emulator) each describe their own layout; README.md's
Architecture section maps the whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import Client
from ._names import ModelName as ModelName  # types, written from the pin by scripts/regenerate
from ._names import OutputFormat as OutputFormat
from ._version import __version__
from .decisions import Flux2Warning, PollSchedule, RetryPolicy
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    CallbackError,
    ContentModeratedError,
    DownloadError,
    Flux2Error,
    InputError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestModeratedError,
    ResponseTooLargeError,
    ResultExpiredError,
    SubmissionUncertainError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TransferTimeoutError,
    UnexpectedError,
    UnknownModelError,
    UnprocessableEntityError,
    UntrustedHostError,
    ValidationError,
    WebhookVerificationError,
)
from .types import (
    BatchFailure,
    BatchResult,
    BatchSuccess,
    GeneratedImage,
    Task,
    TaskResult,
    TaskState,
)

if TYPE_CHECKING:
    from ._async_client import AsyncClient

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BatchFailure",
    "BatchResult",
    "BatchSuccess",
    "CallbackError",
    "Client",
    "ContentModeratedError",
    "DownloadError",
    "Flux2Error",
    "Flux2Warning",
    "GeneratedImage",
    "InputError",
    "InsufficientCreditsError",
    "InternalServerError",
    "NotFoundError",
    "PollSchedule",
    "RateLimitError",
    "RequestModeratedError",
    "ResponseTooLargeError",
    "ResultExpiredError",
    "RetryPolicy",
    "SubmissionUncertainError",
    "Task",
    "TaskError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskResult",
    "TaskState",
    "TaskTimeoutError",
    "TransferTimeoutError",
    "UnexpectedError",
    "UnknownModelError",
    "UnprocessableEntityError",
    "UntrustedHostError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
]


# Submodules loaded on first use (``flux2.registry`` reads the pinned spec).
_LAZY_MODULES = ("registry", "webhooks", "conformance", "drift", "pricing")


def __getattr__(name: str) -> Any:
    # AsyncClient pulls in asyncio; blocking users do not pay for importing it.
    if name == "AsyncClient":
        from ._async_client import AsyncClient

        return AsyncClient
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'flux2' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public names and the submodules, not what this module imported for itself
    # (``Any``, ``TYPE_CHECKING``, ``annotations``).
    import sys

    loaded = [n for n in globals() if not n.startswith("_") and f"{__name__}.{n}" in sys.modules]
    return sorted({*__all__, *_LAZY_MODULES, *loaded})
