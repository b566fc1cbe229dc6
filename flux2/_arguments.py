"""Checks of argument values that are not request fields: client settings and the options of
a call (deadlines, counts, URLs). Each wrong value becomes an :class:`~flux2.InputError` that
says what was wrong and what is allowed, before anything is sent. No I/O."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit

import httpx

from ._logging import redact_url
from .errors import InputError

# Upper bounds that only catch mistakes: past them a setting is a typo, not a choice. Retries
# back off exponentially up to a cap, so 100 already span many minutes; 10,000 tasks in flight
# is far beyond any account limit BFL grants (24 by default [doc]).
MAX_RETRIES: Final = 100
MAX_CONCURRENCY: Final = 10_000


def shown(value: object) -> str:
    """``value`` for a message: a short repr of a plain value, else only its type (an object
    of the wrong type may be a secret, or print for pages)."""
    if isinstance(value, (int, float, str)):
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge int"
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"


def seconds(value: object, name: str) -> float:
    """``value`` as a positive, finite number of seconds. NaN would make every comparison
    with a deadline false, and infinity would remove the limit the setting exists for."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number) and number > 0:
            return number
    raise InputError(
        f"{name} must be a positive, finite number of seconds, got {shown(value)}", param=name
    )


def optional_seconds(value: object, name: str) -> float | None:
    """``None`` (the client's default applies) or :func:`seconds`."""
    return None if value is None else seconds(value, name)


def count(value: object, name: str, *, least: int, most: int) -> int:
    """``value`` as an integer from ``least`` to ``most`` (``True`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise InputError(
            f"{name} must be an integer from {least} to {most}, got {shown(value)}", param=name
        )
    return value


def callback(value: object, name: str) -> None:
    """``value`` must be ``None`` or callable: found out only after a submission, a wrong one
    would fail a task that is already billed."""
    if value is not None and not callable(value):
        raise InputError(f"{name} must be a function or None, got {shown(value)}", param=name)


def text(value: object, name: str, *, what: str) -> str:
    """``value`` as a str; bytes get a hint. The value itself is never echoed (a key)."""
    if isinstance(value, str):
        return value
    hint = " (decode bytes first)" if isinstance(value, (bytes, bytearray)) else ""
    raise InputError(f"{name} must be a str ({what}), got {type(value).__name__}{hint}", param=name)


def host_names(value: object) -> tuple[str, ...]:
    """Trusted host names from a comma-separated str or an iterable of str."""
    listed = isinstance(value, str)
    if isinstance(value, str):
        value = value.split(",")
    wrong = InputError(
        "trusted_hosts must be host names: a comma-separated str or a list of str such as "
        f"['proxy.example.com', '.example.org'], got {shown(value)}",
        param="trusted_hosts",
    )
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise wrong
    entries = list(value)
    if not all(isinstance(entry, str) for entry in entries):
        raise wrong
    hosts = tuple(entry.strip() for entry in entries)
    if listed:
        # A comma at either end is a common slip in an environment variable; one in the
        # middle ("a,,b") may have lost a name.
        hosts = hosts[1:] if hosts[:1] == ("",) else hosts
        hosts = hosts[:-1] if hosts[-1:] == ("",) else hosts
    for host in hosts:
        if not _plain_ascii(host):
            raise InputError(
                f"trusted_hosts: {host.encode('ascii', 'backslashreplace').decode()!r} is not "
                "a host name (ASCII, no spaces or control characters; IDNA-encode "
                "international names)",
                param="trusted_hosts",
            )
        problem = _trusted_entry_problem(host)
        if problem is not None:
            raise InputError(
                f"trusted_hosts: {host!r} is not a host name, '.suffix', host:port, [IPv6] or "
                f"URL: {problem}",
                param="trusted_hosts",
            )
    return hosts


def _trusted_entry_problem(entry: str) -> str | None:
    """What is wrong with one ``trusted_hosts`` entry, read as the host policy reads it."""
    name = entry.lower()
    if not name:
        return "an empty entry"
    if "://" in name:
        try:
            host = urlsplit(name).hostname
        except ValueError as exc:
            return str(exc)
        return host_problem(host) if host else "the URL names no host"
    if name.startswith("["):
        inner, closed, _ = name[1:].partition("]")
        return host_problem(f"[{inner}]") if closed and ":" in inner else "an unclosed [IPv6]"
    if name.count(":") == 1:
        name, _, port = name.partition(":")
        if not port.isdigit():
            return f"the port {port!r} is not a number"
    if name.startswith("."):
        name = name[1:].removesuffix(".")
        if "." not in name:
            # Every host under a top-level domain would get the key.
            return f"'.{name}' would trust a whole top-level domain; name a domain under it"
    return host_problem(name)


def base_url(value: object, *, default: str) -> str:
    """The API's base URL: the argument, else ``BFL_BASE_URL``, else ``default``.

    Paths are appended to it, so a query or fragment would swallow every one of them; a
    ``user:password@`` would travel with the key to wherever it points.
    """
    if value is not None:
        value = text(value, "base_url", what=f"a URL such as {default!r}")
        if not value.strip():
            raise InputError(
                f"base_url is empty; leave it out for the default {default!r}", param="base_url"
            )
    url = (value or os.environ.get("BFL_BASE_URL") or default).strip().rstrip("/")
    allowed = f"scheme://host[:port][/path], such as {default!r}"
    if not _plain_ascii(url):
        raise InputError(
            f"base_url must be ASCII with no spaces or control characters ({allowed}; "
            "percent-encode the path, IDNA-encode the host)",
            param="base_url",
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InputError(f"base_url must be {allowed}", param="base_url") from None
    if "?" in url or "#" in url:
        raise InputError(
            f"base_url must have no query (?...) or fragment (#...): {allowed}; "
            f"got {redact_url(url)!r}",
            param="base_url",
        )
    if "@" in parts.netloc:
        raise InputError("base_url must not contain user:password@", param="base_url")
    problem = url_problem(url)
    if problem is not None:
        raise InputError(
            f"base_url must be {allowed}: {problem}; got {redact_url(url)!r}", param="base_url"
        )
    return url


def host_problem(host: str) -> str | None:
    """What makes ``host`` (ASCII, as in a URL) no DNS name or IP address, else ``None``.
    httpx accepts such hosts and the resolver fails on them only when connecting."""
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        return None
    except ValueError:
        pass
    name = host.removesuffix(".")
    if not name or len(name) > 253:
        return "a host name has 1 to 253 characters"
    for label in name.split("."):
        if not 1 <= len(label) <= 63:
            return "each dot-separated label of a host name has 1 to 63 characters"
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in label):
            return "a host name has only letters, digits, '-' and '_' between its dots"
        if label.lower().startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                decoded = ""
            if not decoded or decoded.isascii():
                return f"{label!r} is not a valid IDNA label"
    return None


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable for a request (httpx refuses it, or its host is no DNS
    name), else ``None``."""
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        return str(exc)
    return host_problem(host) if host else "it names no host"


def _plain_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable() and not any(c.isspace() for c in text)


def call_options(
    *,
    timeout: object = None,
    concurrency: object = None,
    callbacks: Mapping[str, object] | None = None,
    max_concurrency: int = MAX_CONCURRENCY,
) -> None:
    """Checks the options of one call (``timeout=`` of ``wait``/``generate``, ``concurrency=``
    of ``generate_many``, progress and submission callbacks) before it sends anything."""
    optional_seconds(timeout, "timeout")
    if concurrency is not None:
        count(concurrency, "concurrency", least=1, most=max_concurrency)
    for name, function in (callbacks or {}).items():
        callback(function, name)
