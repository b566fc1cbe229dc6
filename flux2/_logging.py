"""The ``flux2`` logger and the redaction every logged or raised URL goes through.

Result URLs are pre-signed (Azure-style ``sig=``/``se=`` query parameters [doc][seen]): whoever
holds one can fetch the image until it expires, so a URL is redacted before it reaches a log
line, a repr or an exception message. The API key and webhook secrets never get that far: they
are only ever placed in request headers and bodies, which flux2 does not log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

logger = logging.getLogger("flux2")

REDACTED = "***"

# Query parameters whose values grant access: Azure SAS signatures and expiry (sig, se, and
# the rest of the SAS set), and anything that looks like a credential.
_SECRET_PARAMS = frozenset(
    {"sig", "se", "st", "sp", "sv", "sr", "skoid", "sktid", "key", "x-key", "token", "secret"}
)
_SECRET_PARAM_PATTERN = re.compile(r"(?i)(sig|signature|token|secret|key|password|credential)")
_HEADER_SECRETS = frozenset({"x-key", "authorization", "x-webhook-secret", "x-bfl-signature"})


def redact_url(url: object) -> str:
    """``url`` with secret-looking query values (and any userinfo) replaced by ``***``."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    if not parts.query:
        return urlunsplit(parts._replace(netloc=netloc))
    pairs = [
        (name, REDACTED if _is_secret_param(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(pairs, safe="*")))


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_PARAMS or bool(_SECRET_PARAM_PATTERN.search(lowered))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A plain dict of ``headers`` with credentials replaced by ``***``."""
    return {k: (REDACTED if k.lower() in _HEADER_SECRETS else v) for k, v in headers.items()}


class _RedactURLs(logging.Filter):
    """Redacts URL arguments of log records. httpx logs every request's full URL at INFO,
    which for a result download is a working signed link."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_looks_like_url(a) for a in args):
            record.args = tuple(redact_url(a) if _looks_like_url(a) else a for a in args)
        return True


def _looks_like_url(value: object) -> bool:
    if type(value).__name__ == "URL":  # httpx.URL, without importing httpx here
        return True
    return isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value


_FILTER = _RedactURLs()


def redact_httpx_logs() -> None:
    """Install the redacting filter on the ``httpx`` logger (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if _FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_FILTER)
