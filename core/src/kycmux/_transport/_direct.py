"""The default async send: a pure ``VendorRequest`` straight onto aiohttp.

Going through httpx-aiohttp built an httpx ``Request`` (URL parsing, header models) and an
httpx ``Response`` around aiohttp's for every call: ~0.1-0.3 ms of the event loop's time per
decision that a hand-written aiohttp upload never spends. This path keeps what the httpx path
promises: the same bytes (``MultipartBody``, httpx's JSON and query encoding), the "whole body
sent" signal, the bounded body reader, the error mapping (to httpx's exception types, which the
classification reads), per-phase timeouts inside the caller's deadline, and TLS verification
(aiohttp's default, never turned off here). httpx stays the sync path, the ``MockTransport``
seam, and the client type callers pass in: a caller's own clients never take this path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from kycmux._contract._wire import VendorRequest, VendorResponse
from kycmux._transport._body import BodyReader
from kycmux._transport._multipart import MultipartBody

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DirectAiohttp", "map_aiohttp_error"]

_READ_CHUNK = 64 * 1024
_LOG = logging.getLogger("kycmux.http")


class _SentFlag(Protocol):
    """Set once the whole request body has been handed to the connection."""

    sent: bool


class DirectAiohttp:
    """One aiohttp session (made on first use, inside the running loop), kycmux's settings."""

    __slots__ = ("_session",)

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            # As the httpx-aiohttp transport had it: no cookie jar (vendor APIs are stateless
            # and cookies must not leak between callers), bodies inflated by kycmux only.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(
        self,
        request: VendorRequest,
        kwargs: dict[str, Any],
        connect: float,
        sent: _SentFlag,
        limit: int,
        started: float,
        since: Callable[[float], float],
    ) -> VendorResponse:
        """One exchange; aiohttp's errors come out as the httpx errors they amount to.

        ``connect`` bounds getting a connection; the caller's scope bounds the whole exchange.
        """
        import aiohttp

        url, headers, data = _wire(request, kwargs, sent)
        try:
            async with self.session().request(
                request.method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                # No read timeout: it would be the whole attempt's time, started after the
                # caller's scope of that same length, so it could never fire first; it cost
                # two loop timers per call (set when the request left, reset by each read).
                timeout=aiohttp.ClientTimeout(sock_connect=connect, connect=connect),
            ) as response:
                if _LOG.isEnabledFor(logging.INFO):
                    # httpx's INFO line for each request, with no query value in it.
                    _LOG.info(
                        'HTTP Request: %s %s "HTTP/1.1 %d %s"',
                        request.method,
                        _shown(request.url, kwargs["params"]),
                        response.status,
                        response.reason or "",
                    )
                reader = BodyReader(request.vendor, limit, response.status, response.headers)
                async for chunk in response.content.iter_chunked(_READ_CHUNK):
                    reader.feed(chunk)
                return VendorResponse(
                    status_code=response.status,
                    headers=_headers(response.headers),
                    body=reader.body(),
                    elapsed=since(started),
                )
        except aiohttp.ClientError as exc:
            raise map_aiohttp_error(exc) from exc


def _wire(
    request: VendorRequest, kwargs: dict[str, Any], sent: _SentFlag
) -> tuple[Any, list[tuple[str, str]], Any]:
    """URL, headers and body of ``request`` as aiohttp takes them (httpx's encodings)."""
    import yarl

    headers: list[tuple[str, str]] = [("user-agent", "kycmux/0.1"), *kwargs["headers"]]
    url: Any = request.url
    if kwargs["params"]:
        url = yarl.URL(str(httpx.URL(request.url, params=kwargs["params"])), encoded=True)
    data: Any = None
    if "json" in kwargs:
        data = json.dumps(
            kwargs["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
        headers.append(("content-type", "application/json"))
        sent.sent = True  # one small write, as on the httpx path
    elif "form" in kwargs:
        data = _tracked(kwargs["form"], sent)
    return url, headers, data


async def _tracked(form: MultipartBody, sent: _SentFlag) -> AsyncIterator[bytes]:
    async for piece in form:
        yield piece
    sent.sent = True


def _shown(url: str, params: Any) -> str:
    """The URL for a log line: query values blanked (they may be credentials)."""
    base, _, query = url.partition("?")
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    names += [name for name, _ in params or ()]
    return base + ("?" + "&".join(f"{name}=***" for name in names) if names else "")


def _headers(raw: Mapping[str, str]) -> dict[str, str]:
    # Repeated headers joined with ", ", as httpx's ``Headers.items()`` gives them.
    out: dict[str, str] = {}
    for key, value in raw.items():
        name = key.lower()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def map_aiohttp_error(exc: aiohttp.ClientError) -> httpx.HTTPError:
    """The httpx error an aiohttp failure amounts to (what records and classification read).

    A reset or a hang-up mid-exchange is a read error (the request may have reached the
    vendor), a refused or unresolvable connection a connect error, a malformed answer a
    protocol error.
    """
    import aiohttp

    message = str(exc) or type(exc).__name__
    # In order: the first match wins (subclasses before their bases).
    table: tuple[tuple[Any, type[httpx.TransportError]], ...] = (
        (aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError, httpx.ProxyError),
        (aiohttp.ClientConnectorError, httpx.ConnectError),
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError, httpx.TimeoutException),
        (aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError, httpx.ReadError),
        (aiohttp.ClientOSError, httpx.ReadError),
        (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
        (aiohttp.ClientConnectionError, httpx.ConnectTimeout),  # as httpx-aiohttp maps the rest
    )
    for kinds, mapped in table:
        if isinstance(exc, kinds):
            return mapped(message)
    return httpx.RemoteProtocolError(message)
