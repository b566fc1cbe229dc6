"""Host trust: which hosts may receive the API key, and which URLs flux2 connects to. No I/O."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from flux2._logging import redact_url
from flux2.errors import InputError, UntrustedHostError

# --------------------------------------------------------------------------------------------
# Host trust
# --------------------------------------------------------------------------------------------

# Tasks live on regional clusters under bfl.ai (api.eu2.bfl.ai, api.us2.bfl.ai, ...) and the
# polling_url points there [doc][seen]; the key may go to those over https.
BFL_DOMAIN: Final = "bfl.ai"
DEFAULT_BASE_URL: Final = "https://api.bfl.ai"


_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f]")


# Cached: every request's URL is checked two or three times on its way out (the flow, then
# where the key is attached), and the same few hosts come back for every task.
@functools.lru_cache(maxsize=256)
def _host_of(url: str) -> tuple[str, str, str]:
    """``(scheme, host, userinfo)`` of ``url``, lower-cased; ValueError when unparseable.

    A URL with a control character or a space is refused outright: ``urlsplit`` silently drops
    tabs and newlines (so the host would look fine) while httpx refuses to send it at all.
    """
    if _CONTROL_OR_SPACE.search(url):
        raise ValueError("a URL with a control character or a space")
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    parts.port  # noqa: B018  (raises ValueError for a malformed port)
    return parts.scheme.lower(), host, userinfo


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _normalise_trusted(entry: str) -> str:
    entry = entry.strip().lower().rstrip(".")
    if "://" in entry:
        entry = urlsplit(entry).hostname or ""
    elif entry.startswith("["):
        entry = entry[1 : entry.index("]")] if "]" in entry else entry
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]  # a port given with the name: any port is trusted
    return entry


@dataclasses.dataclass(frozen=True)
class HostPolicy:
    """Which hosts receive the API key.

    The key goes only to: the base URL's host name (any port); https hosts equal to or under
    ``bfl.ai``; and the host names in ``trusted`` (an entry starting with a dot trusts every
    host under it). Plain http is allowed only for loopback hosts (127.0.0.0/8, ::1,
    localhost). Result downloads never carry the key, whatever the host.
    """

    base_host: str
    trusted: frozenset[str] = frozenset()

    @classmethod
    def for_base_url(cls, base_url: str, trusted: Iterable[str] = ()) -> HostPolicy:
        """The policy for a client of ``base_url``; refuses plain http to a non-loopback host."""
        try:
            scheme, host, userinfo = _host_of(base_url)
        except ValueError:
            raise InputError(f"base_url {base_url!r} is not a URL", param="base_url") from None
        if scheme not in {"http", "https"} or not host:
            raise InputError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, "
                f"got {redact_url(base_url)!r}",
                param="base_url",
            )
        if userinfo:
            raise InputError("base_url must not contain user:password@", param="base_url")
        if scheme == "http" and not is_loopback(host):
            raise InputError(
                f"base_url {redact_url(base_url)!r} uses plain http, which would send the API "
                "key unencrypted; plain http is allowed only for loopback hosts "
                "(127.0.0.0/8, ::1, localhost)",
                param="base_url",
            )
        names = frozenset(n for n in (_normalise_trusted(e) for e in trusted) if n)
        return cls(base_host=host, trusted=names)

    def is_trusted(self, url: str) -> bool:
        """Whether the API key may be sent to ``url``."""
        try:
            scheme, host, userinfo = _host_of(url)
        except ValueError:
            return False
        if userinfo or not host or scheme not in {"http", "https"}:
            return False
        if not host.isascii():
            # Compared as text, a host is what it spells; connected to, it is what IDNA maps it
            # to (fullwidth letters fold to ASCII, and other lookalikes may not). The key goes
            # only to a host whose text is the name that is connected to.
            return False
        if scheme == "http" and not is_loopback(host):
            return False
        if host == self.base_host:
            return True
        if scheme == "https" and (host == BFL_DOMAIN or host.endswith("." + BFL_DOMAIN)):
            return True
        return any(
            host == entry or (entry.startswith(".") and host.endswith(entry))
            for entry in self.trusted
        )

    def check_api_url(self, url: str, *, what: str = "polling_url") -> None:
        """Raise :class:`~flux2.UntrustedHostError` unless the key may go to ``url``."""
        if self.is_trusted(url):
            return
        shown = redact_url(url)
        raise UntrustedHostError(
            f"refusing to send the API key to {shown} ({what}): only the base URL's host "
            f"({self.base_host}), https hosts under {BFL_DOMAIN}, and hosts listed in "
            "trusted_hosts= / BFL_TRUSTED_HOSTS receive it; plain http only on loopback. "
            "If this host is yours, add it to trusted_hosts.",
            url=shown,
        )

    @staticmethod
    def check_download_url(url: str) -> None:
        """Downloads carry no key, but plain http is still refused off loopback."""
        try:
            scheme, host, userinfo = _host_of(url)
        except ValueError:
            raise UntrustedHostError(f"not a URL: {redact_url(url)}", url=redact_url(url)) from None
        if userinfo:
            # As for polling URLs: a real result URL names no user, and "a@b" is read as host
            # "b" by some parsers and as something else by others.
            raise UntrustedHostError(
                f"refusing to download {redact_url(url)}: it names a user", url=redact_url(url)
            )
        if scheme == "https" and host:
            return
        if scheme == "http" and is_loopback(host):
            return
        raise UntrustedHostError(
            f"refusing to download {redact_url(url)}: only https URLs (or http on loopback) "
            "are fetched",
            url=redact_url(url),
        )

    @staticmethod
    def same_host(a: str, b: str) -> bool:
        """Whether two URLs name the same host (a redirect keeps the key only then)."""
        try:
            return _host_of(a)[1] == _host_of(b)[1] and _host_of(a)[0] == _host_of(b)[0]
        except ValueError:
            return False
