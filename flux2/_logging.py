"""The ``flux2`` logger and the redaction every logged or raised URL goes through.

Result URLs are pre-signed (Azure-style ``sig=``/``se=`` query parameters [doc][seen]): whoever
holds one can fetch the image until it expires, so a URL is redacted before it reaches a log
line, a repr or an exception message. The API key and webhook secrets are only ever placed in
request headers and bodies, which flux2 does not log; but the libraries below it may (httpcore
logs response headers and errors at DEBUG), so every log record of every library is redacted
as it is made: known secrets, secret-looking query values and credential fields.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
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


# Secrets known at run time (the API key, webhook secrets), removed wherever they appear in a
# log record. Bounded: a long-running service may send a different webhook secret per task.
_KNOWN_SECRETS: dict[str, None] = {}
_MAX_KNOWN_SECRETS = 1024
# Shorter values are not searched for: they would blank out ordinary words of every message.
_MIN_SECRET_CHARS = 4
_secrets_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    """Have ``secret`` replaced by ``***`` in every log record from now on (any logger)."""
    if not isinstance(secret, str) or len(secret) < _MIN_SECRET_CHARS:
        return
    with _secrets_lock:
        _KNOWN_SECRETS.pop(secret, None)
        _KNOWN_SECRETS[secret] = None
        while len(_KNOWN_SECRETS) > _MAX_KNOWN_SECRETS:
            del _KNOWN_SECRETS[next(iter(_KNOWN_SECRETS))]
    install_log_redaction()


# A secret-looking query parameter anywhere in free text (a URL inside a repr of bytes, a
# header tuple, an exception message): its value runs to the next delimiter.
_QUERY_SECRET = re.compile(
    r"(?i)(?P<lead>[?&;]|&amp;)(?P<name>(?:se|st|sp|sv|sr|skoid|sktid)|[\w.-]*(?:sig|signature|"
    r"token|secret|key|password|credential)[\w.-]*)=(?P<value>[^&\s'\"<>#,;)\]}\\]+)"
)
# A credential header or body field next to its value, in the shapes reprs and JSON give:
# ``(b'x-key', b'...')``, ``'X-Key': '...'``, ``x-key: ...``, ``"webhook_secret":"..."``.
_FIELD_SECRET = re.compile(
    r"(?i)(?P<name>x-key|authorization|x-webhook-secret|x-bfl-signature|webhook_secret|api_key)"
    r"(?P<sep>['\"]?\s*[:,=]\s*b?['\"]?)(?P<value>[^'\"\s,}\])]+)"
)


def redact_known(text: str) -> str:
    """``text`` with every secret given to :func:`remember_secret` replaced by ``***``."""
    with _secrets_lock:
        known = [secret for secret in _KNOWN_SECRETS if secret in text]
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# Deeper than any real answer; what lies below is dropped rather than walked (a hostile body
# may nest as deep as the JSON parser allows).
_MAX_DATA_DEPTH = 64


def redact_data(value: Any, _depth: int = 0) -> Any:
    """``value`` (a decoded JSON body) with known secrets and secret query values removed
    from every string in it, keys included; other values are kept as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping | list | tuple) and _depth >= _MAX_DATA_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {redact_data(k, _depth + 1): redact_data(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, _depth + 1) for v in value]
    return value


def redact_text(text: str) -> str:
    """``text`` with known secrets, secret query values and credential fields replaced."""
    text = redact_known(text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['lead']}{m['name']}={REDACTED}", text)
    return _FIELD_SECRET.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)


def _redact_record(record: logging.LogRecord) -> None:
    """Replace ``record``'s message by its redacted text, with no arguments left.

    The whole message is formatted here, once, because a secret may sit in any argument's
    ``str``/``repr`` (a URL object, a header list, a bytes repr from httpcore) or in the
    format string itself (httpcore formats before it logs). Tracebacks are formatted and
    redacted too: exception messages quote URLs.
    """
    try:
        message = record.getMessage()
    except Exception:  # a mismatched format string: keep what it said, redacted
        message = f"{record.msg} {record.args!r}"
    record.msg = redact_text(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


_FORMATTER = logging.Formatter()


class _RedactingFactory:
    """A log record factory that redacts each record as it is made.

    Not a filter: a filter on a logger sees only records logged on that very logger, not
    those of its children (``httpcore.http11`` is not ``httpcore``), and a filter on a handler
    sees only that handler's. Every record of every library, whatever logger and handler it
    goes to, is made by the record factory, so no handler can see it unredacted.
    """

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        _redact_record(record)
        return record


def install_log_redaction() -> None:
    """Wrap the process's log record factory in :class:`_RedactingFactory` (once)."""
    with _secrets_lock:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(current))


def redact_httpx_logs() -> None:
    """Redact the records of every logger (httpx, httpcore, flux2 and any other)."""
    install_log_redaction()


install_log_redaction()
