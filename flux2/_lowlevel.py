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

from typing import TYPE_CHECKING, Any

import attrs
import httpx
from flux2_generated import AuthenticatedClient

from ._logging import redact_httpx_logs
from ._wire import AUTH_HEADER

if TYPE_CHECKING:
    from ._transfer import Context
    from .decisions import HostPolicy

__all__ = ["LowLevelClient", "lowlevel_client"]


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
        # The key joins the headers of the httpx client only, never this object's settings,
        # so that copies (with_headers, with_timeout) and reprs do not carry it around.
        return {
            "base_url": self._base_url,
            "cookies": self._cookies,
            "headers": {**self._headers, self.auth_header_name: self.token},
            "timeout": self._timeout,
            "verify": self._verify_ssl,
            "follow_redirects": self._follow_redirects,
            **self._httpx_args,
        }

    def _check(self, request: httpx.Request) -> None:
        if self.auth_header_name in request.headers:
            self._hosts.check_api_url(str(request.url), what="a low-level request")

    async def _acheck(self, request: httpx.Request) -> None:
        self._check(request)

    def get_httpx_client(self) -> httpx.Client:
        if self._client is None:
            hooks = {"request": [self._check]}
            self._client = httpx.Client(**self._httpx_options(), event_hooks=hooks)
        return self._client

    def get_async_httpx_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            hooks = {"request": [self._acheck]}
            self._async_client = httpx.AsyncClient(**self._httpx_options(), event_hooks=hooks)
        return self._async_client


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
