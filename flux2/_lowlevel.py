"""The generated client, configured like flux2's own, for the endpoints the facade does not cover.

``Client.lowlevel`` / ``AsyncClient.lowlevel`` give a :class:`LowLevelClient`: the generated
``flux2_generated.AuthenticatedClient`` (every operation of the pinned spec, under
``flux2_generated.api``) with flux2's base URL, its key in the ``x-key`` header, its timeouts and
user agent, and flux2's rule about which hosts may see the key: a request to any other host,
an absolute URL or a redirect included, is refused before it is sent
(:class:`flux2.UntrustedHostError`). It is the raw layer: its calls return the generated
models or raise what httpx and the generated code raise, with no retries, no polling and none
of the facade's money rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import httpx
from flux2_generated import AuthenticatedClient

from ._logging import redact_httpx_logs
from ._wire import AUTH_HEADER

if TYPE_CHECKING:
    from ._transfer import Context
    from .decisions import HostPolicy

__all__ = ["LowLevelClient", "lowlevel_client"]

Keyed: TypeAlias = Callable[[httpx.Request], httpx.Request]


@attrs.define(repr=False)
class LowLevelClient(AuthenticatedClient):
    """``flux2_generated.AuthenticatedClient`` that sends its key only to trusted hosts.

    Use it as the generated code expects (``with client.lowlevel as api:`` closes its
    connections)::

        from flux2_generated.api.models import flux_dev_v1_flux_dev_post as flux_dev
        from flux2_generated.models import FluxDevInputs

        with flux2.Client() as client, client.lowlevel as api:
            answer = flux_dev.sync(client=api, body=FluxDevInputs(prompt="a fox"))
    """

    _hosts: HostPolicy = attrs.field(kw_only=True, alias="hosts")

    def __repr__(self) -> str:
        return f"LowLevelClient(base_url={self._base_url!r})"

    def _httpx_options(self) -> dict[str, Any]:
        # The key is in no settings of the httpx client: it is put on a copy of each request
        # as the request reaches the transport (see _keyed), so that the request httpx hands
        # to its exceptions and responses, copies of this object and reprs do not carry it.
        return {
            "base_url": self._base_url,
            "cookies": self._cookies,
            "headers": self._headers,
            "timeout": self._timeout,
            "verify": self._verify_ssl,
            "follow_redirects": self._follow_redirects,
            **self._httpx_args,
        }

    def _keyed(self, request: httpx.Request) -> httpx.Request:
        """A copy of ``request`` with the key, if its host may see the key (every request
        reaches here, a redirect's included)."""
        self._hosts.check_api_url(str(request.url), what="a low-level request")
        headers = request.headers.copy()
        headers[self.auth_header_name] = self.token
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    def get_httpx_client(self) -> httpx.Client:
        if self._client is None:
            self._client = _KeyingClient(keyed=self._keyed, **self._httpx_options())
        return self._client

    def get_async_httpx_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            self._async_client = _AsyncKeyingClient(keyed=self._keyed, **self._httpx_options())
        return self._async_client


class _Keying(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, keyed: Keyed) -> None:
        self._inner, self._keyed = inner, keyed

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(self._keyed(request))


class _AsyncKeying(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, keyed: Keyed) -> None:
        self._inner, self._keyed = inner, keyed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(self._keyed(request))


class _KeyingClient(httpx.Client):
    """An httpx client whose every transport (proxies from the environment included) sends
    a keyed copy of each request: httpx attaches the request it holds, the one without the
    key, to the errors it raises (``request_context``)."""

    def __init__(self, *, keyed: Keyed, **options: Any) -> None:
        super().__init__(**options)
        self._keyed = keyed

    def _transport_for_url(self, url: httpx.URL) -> httpx.BaseTransport:
        return _Keying(super()._transport_for_url(url), self._keyed)


class _AsyncKeyingClient(httpx.AsyncClient):
    """:class:`_KeyingClient` for asyncio."""

    def __init__(self, *, keyed: Keyed, **options: Any) -> None:
        super().__init__(**options)
        self._keyed = keyed

    def _transport_for_url(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        return _AsyncKeying(super()._transport_for_url(url), self._keyed)


def lowlevel_client(ctx: Context) -> LowLevelClient:
    """A :class:`LowLevelClient` with the settings of the flux2 client whose context is `ctx`."""
    redact_httpx_logs()
    return LowLevelClient(
        base_url=ctx.base_url,
        token=ctx.api_key,
        prefix="",
        auth_header_name=AUTH_HEADER,
        headers={"user-agent": ctx.user_agent},
        timeout=ctx.timeout,
        hosts=ctx.hosts,
        raise_on_unexpected_status=False,
    )
