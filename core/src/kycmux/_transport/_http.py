"""HTTP I/O: turn pure ``VendorRequest`` values into httpx requests and back.

This is the only module that touches the network. The transport is replaceable (any httpx
transport); by default the async client runs on ``httpx-aiohttp``, which measured 2-3x the
throughput of httpx's own async pool on this kind of traffic and stays flat at 64 requests in
flight, while httpx's pool degrades past ~16.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import httpx

from kycmux._contract._wire import VendorRequest, VendorResponse
from kycmux._model._secret import reveal
from kycmux._transport._body import BodyReader
from kycmux._transport._direct import DirectAiohttp
from kycmux._transport._multipart import MultipartBody
from kycmux.exceptions import InvalidEvidenceError, ProtocolError

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "HttpClient",
    "SendResult",
    "Timer",
    "default_timeout",
]

_USER_AGENT = "kycmux/0.1"
AsyncBackend = Literal["aiohttp", "httpx"]
Timer = Callable[[float], contextlib.AbstractAsyncContextManager[Any]]


def default_timeout(total: float) -> httpx.Timeout:
    """Per-phase timeouts that all fit inside ``total`` seconds."""
    return httpx.Timeout(total, connect=_connect_timeout(total), pool=_connect_timeout(total))


def _connect_timeout(total: float) -> float:
    return min(total, 5.0)


class _BodySentFlag:
    """Set once the transport has pulled the last byte of the request body."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


class _TrackedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Wraps a request body stream so we know whether the whole request left.

    A read timeout or a deadline after that point means the vendor may have processed (and
    billed) the request; before it, the vendor cannot have.
    """

    def __init__(self, inner: Any, flag: _BodySentFlag) -> None:
        self._inner = inner
        self._flag = flag

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner
        self._flag.sent = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
        self._flag.sent = True


@attrs.frozen
class SendResult:
    """The outcome of one HTTP exchange.

    Attributes:
        response: The response, or ``None`` when ``error`` is set.
        error: The transport exception (httpx types; a deadline becomes a timeout type).
        body_sent: The whole request left (so a missing answer may still have been billed).
        elapsed: Seconds spent.
    """

    response: VendorResponse | None
    error: BaseException | None
    body_sent: bool
    elapsed: float


@contextlib.contextmanager
def _opened(request: VendorRequest) -> Iterator[dict[str, Any]]:
    """What goes on the wire for ``request``, with its files open for streaming.

    ``params``, ``headers`` (revealed) and either ``json`` or ``form``: kycmux's own
    ``MultipartBody`` (few, large writes), its type and length already in the headers.
    """
    with contextlib.ExitStack() as stack:
        files: list[tuple[str, str, str, IO[bytes] | bytes]] = []
        for part in request.files:
            body: IO[bytes] | bytes
            if part.path is not None:
                body = stack.enter_context(_open(part.path))
            else:
                body = part.content or b""
            files.append((part.field, part.filename, part.content_type, body))
        headers = [(k, reveal(v)) for k, v in request.headers]
        if not any(k.lower() == "accept-encoding" for k, _ in headers):
            # Answers are a few KB: nothing to gain from compression, a bomb to fear.
            headers.append(("accept-encoding", "identity"))
        kwargs: dict[str, Any] = {
            "params": [(k, reveal(v)) for k, v in request.params] or None,
            "headers": headers,
        }
        if request.json is not None:
            kwargs["json"] = dict(request.json)
        elif files or request.fields:
            # Form fields always travel as multipart/form-data, as every vendor sample does.
            form = MultipartBody(request.fields, files)
            headers.append(("content-type", form.content_type))
            headers.append(("content-length", str(form.length)))
            kwargs["form"] = form
        yield kwargs


def _for_httpx(wire: dict[str, Any], *, sync: bool) -> dict[str, Any]:
    """httpx keyword arguments: the form as a stream of the client's kind."""
    kwargs = dict(wire)
    form = kwargs.pop("form", None)
    if form is not None:
        kwargs["content"] = iter(form) if sync else aiter(form)
    return kwargs


DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    # Outside the handler: the OSError quotes the full path (it may name a person).
    raise InvalidEvidenceError("file", f"{path.name} cannot be read ({problem})")


def _response(response: httpx.Response, body: bytes, elapsed: float) -> VendorResponse:
    return VendorResponse(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        elapsed=elapsed,
    )


def _raw(response: httpx.Response) -> Iterator[bytes]:
    # A response a transport built in memory (``MockTransport``) is read already.
    return iter((response.content,)) if response.is_stream_consumed else response.iter_raw()


async def _araw(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk


def _deadline_error(flag: _BodySentFlag) -> httpx.TimeoutException:
    if flag.sent:
        return httpx.ReadTimeout("deadline reached after the request was sent")
    return httpx.WriteTimeout("deadline reached before the request was sent")


def _track(request: httpx.Request) -> _BodySentFlag:
    flag = _BodySentFlag()
    if isinstance(request.stream, httpx.ByteStream):
        # Small in-memory bodies (JSON) go out in one write; count them as sent on handoff.
        flag.sent = True
    else:
        request.stream = _TrackedStream(request.stream, flag)
    return flag


def _unmask_aiohttp(exc: httpx.HTTPError) -> httpx.HTTPError:
    """Undo httpx-aiohttp's mapping of every connection error to ``ConnectTimeout``.

    A reset or a server hanging up mid-exchange is not a connect timeout: the request may have
    reached the vendor, and records must say what happened.
    """
    import aiohttp

    cause = exc.__cause__
    if not isinstance(exc, httpx.ConnectTimeout) or cause is None:
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause))
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return httpx.ReadError(str(cause) or type(cause).__name__)
    return exc


def _aiohttp_transport() -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        # No cookie jar: vendor APIs are stateless and cookies must not leak between callers.
        # auto_decompress off: bodies are inflated by kycmux, within the size limit.
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )

    return AiohttpTransport(client=session)


class _RedactQuery(logging.Filter):
    """Blank query values in the URLs httpx logs: its INFO line for every request quotes the
    URL, and a vendor taking credentials in the query string (Linkface's curl sample) would
    put them in the application's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_has_query(a) for a in record.args):
            record.args = tuple(_redacted(a) for a in record.args)
        return True


def _has_query(value: object) -> bool:
    return isinstance(value, httpx.URL) and bool(value.query)


def _redacted(value: object) -> object:
    if not _has_query(value):
        return value
    assert isinstance(value, httpx.URL)
    return value.copy_with(params=dict.fromkeys(value.params, "***"))


_REDACT_QUERY = _RedactQuery()


def _guard_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if _REDACT_QUERY not in logger.filters:
        logger.addFilter(_REDACT_QUERY)


@attrs.define
class HttpClient:
    """One pooled sync and/or async httpx client, shared by every vendor of an engine.

    Build with ``HttpClient.create()``; pass your own clients with ``HttpClient.wrap()``.
    Timeouts are always set (per attempt, from what is left of the decision's deadline) and TLS
    verification is never turned off.
    """

    _sync: httpx.Client | None = None
    _aclient: httpx.AsyncClient | None = None
    _owned: bool = True
    # The default async backend sends on aiohttp directly (``_direct``); the httpx client
    # beside it stays the type callers see and pass in, and the path for their transports.
    _direct: DirectAiohttp | None = None

    def __attrs_post_init__(self) -> None:
        _guard_httpx_log()

    @classmethod
    def create(
        cls,
        *,
        async_backend: AsyncBackend = "aiohttp",
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> HttpClient:
        """Clients with kycmux defaults; ``transport`` / ``async_transport`` replace the I/O."""
        headers = {"user-agent": _USER_AGENT}
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        default = async_transport is None and async_backend == "aiohttp"
        if default:
            async_transport = _aiohttp_transport()
        aclient = httpx.AsyncClient(
            transport=async_transport, headers=headers, limits=limits, timeout=default_timeout(30)
        )
        return cls(
            httpx.Client(
                transport=transport, headers=headers, limits=limits, timeout=default_timeout(30)
            ),
            aclient,
            True,
            # Like the httpx-aiohttp transport it stands in for, it reads no proxy from the
            # environment (httpx ignores those when given a transport).
            DirectAiohttp() if default else None,
        )

    @classmethod
    def wrap(
        cls, client: httpx.Client | None = None, async_client: httpx.AsyncClient | None = None
    ) -> HttpClient:
        """Use the caller's clients; kycmux will not close them.

        A client with TLS verification turned off is accepted here, but an ``Engine`` refuses
        it unless every vendor's base URL is loopback (``tls_verified``).
        """
        return cls(client, async_client, False)

    @property
    def tls_verified(self) -> bool:
        """False when a client's transport is known to skip certificate or hostname checks."""
        return not any(
            _skips_tls_checks(transport)
            for client in (self._sync, self._aclient)
            if client is not None
            for transport in _transports(client)
        )

    def send(
        self,
        request: VendorRequest,
        timeout: float,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> SendResult:
        """Send synchronously; never raises for transport failures (see ``SendResult``).

        At most ``max_response_bytes`` of the body are read: a longer answer is cut off there
        and reported as ``ResponseTooLargeError`` (a malformed answer).
        """
        if self._sync is None:
            raise RuntimeError("this HttpClient has no sync client")
        started = time.perf_counter()
        flag = _BodySentFlag()
        try:
            with _opened(request) as wire:
                kwargs = _for_httpx(wire, sync=True)
                built = self._sync.build_request(
                    request.method, request.url, timeout=default_timeout(timeout), **kwargs
                )
                flag = _track(built)
                response = self._sync.send(built, stream=True)
                try:
                    reader = BodyReader(
                        request.vendor, max_response_bytes, response.status_code, response.headers
                    )
                    for chunk in _raw(response):
                        reader.feed(chunk)
                finally:
                    response.close()
            body = _response(response, reader.body(), _since(started))
            return SendResult(body, None, True, _since(started))
        except (ProtocolError, InvalidEvidenceError, httpx.HTTPError) as exc:
            return _failed(exc, flag, started)

    async def asend(
        self,
        request: VendorRequest,
        timeout: float,
        *,
        timer: Timer | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> SendResult:
        """Send asynchronously, hard-bounded by ``timeout`` seconds in total.

        ``timer`` makes the bounding scope (default ``asyncio.timeout``); the engine passes one
        that waits on its injected clock, so tests with a fake clock expire deadlines at once.
        At most ``max_response_bytes`` of the body are read (see ``send``).
        """
        if self._aclient is None:
            raise RuntimeError("this HttpClient has no async client")
        started = time.perf_counter()
        flag = _BodySentFlag()
        try:
            async with (timer or asyncio.timeout)(timeout):
                with _opened(request) as wire:
                    if self._direct is not None:
                        answer = await self._direct.exchange(
                            request,
                            wire,
                            _connect_timeout(timeout),
                            flag,
                            max_response_bytes,
                            started,
                            _since,
                        )
                        return SendResult(answer, None, True, _since(started))
                    kwargs = _for_httpx(wire, sync=False)
                    built = self._aclient.build_request(
                        request.method, request.url, timeout=default_timeout(timeout), **kwargs
                    )
                    flag = _track(built)
                    response = await self._aclient.send(built, stream=True)
                    try:
                        reader = BodyReader(
                            request.vendor,
                            max_response_bytes,
                            response.status_code,
                            response.headers,
                        )
                        async for chunk in _araw(response):
                            reader.feed(chunk)
                    finally:
                        await response.aclose()
            body = _response(response, reader.body(), _since(started))
            return SendResult(body, None, True, _since(started))
        except TimeoutError:
            return SendResult(None, _deadline_error(flag), flag.sent, _since(started))
        except (ProtocolError, InvalidEvidenceError, httpx.HTTPError) as exc:
            return _failed(exc, flag, started)

    def close(self) -> None:
        if self._owned and self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        self.close()
        if self._owned and self._aclient is not None:
            await self._aclient.aclose()
        if self._direct is not None:
            await self._direct.aclose()


def _transports(client: httpx.Client | httpx.AsyncClient) -> list[object]:
    # httpx keeps them private; a client of another shape is judged by what can be seen.
    mounts = getattr(client, "_mounts", {}) or {}
    return [getattr(client, "_transport", None), *mounts.values()]


def _skips_tls_checks(transport: object) -> bool:
    """Whether a transport is known to connect without verifying certificates or hostnames."""
    session = getattr(transport, "client", None)  # httpx-aiohttp: a session (or a factory)
    connector = getattr(session, "connector", None)
    contexts = [
        getattr(getattr(transport, "_pool", None), "_ssl_context", None),  # httpx's own
        getattr(transport, "ssl_context", None),  # httpx-aiohttp's (used when it builds one)
        getattr(connector, "_ssl", None),  # an aiohttp session's connector: ssl=context
    ]
    if getattr(connector, "_ssl", True) is False:  # an aiohttp session built with ssl=False
        return True
    return any(
        isinstance(ctx, ssl.SSLContext)
        and (ctx.verify_mode == ssl.CERT_NONE or not ctx.check_hostname)
        for ctx in contexts
    )


def _failed(
    exc: ProtocolError | InvalidEvidenceError | httpx.HTTPError, flag: _BodySentFlag, started: float
) -> SendResult:
    """What a send that raised ``exc`` amounts to (sync and async alike)."""
    if isinstance(exc, ProtocolError):  # too large, or a compression we will not inflate
        return SendResult(None, exc, True, _since(started))
    if isinstance(exc, InvalidEvidenceError):  # a file gone since the request was built
        return SendResult(None, exc, False, _since(started))
    return SendResult(None, _unmask_aiohttp(exc), flag.sent, _since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started
