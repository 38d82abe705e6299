"""One ASGI request/response exchange, with the connection-level moves faults need.

The moves that go below HTTP (a TCP reset, a body cut short, dropping a connection without an
answer) need the connection's transport. ``serve`` runs uvicorn with a protocol that puts it in
the scope extensions under ``TRANSPORT_KEY``, with the server's stop signal under
``STOPPING_KEY``. Under another ASGI server the moves fall back to what ASGI allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kycmux.simkit._http import SimResponse

__all__ = ["STOPPING_KEY", "TRANSPORT_KEY", "Exchange"]

TRANSPORT_KEY = "kycmux.transport"
STOPPING_KEY = "kycmux.stopping"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# After closing a connection, how long to wait for the server to notice it went away.
_CLOSE_GRACE = 5.0
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Exchange:
    """The ASGI side of one request: read the body, answer, or misbehave on purpose."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        extensions = scope.get("extensions") or {}
        self._transport: asyncio.Transport | None = extensions.get(TRANSPORT_KEY)
        self._stopping: asyncio.Event | None = extensions.get(STOPPING_KEY)
        self._disconnected = False
        self._started = False

    @property
    def method(self) -> str:
        return str(self.scope.get("method", "GET")).upper()

    @property
    def path(self) -> str:
        return str(self.scope.get("path", "/"))

    def headers(self) -> dict[str, str]:
        """Request headers, names lower-cased, repeated ones joined by ``", "``."""
        merged: dict[str, str] = {}
        for raw_name, raw_value in self.scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return merged

    async def read_body(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` as soon as it grows past ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def respond(self, response: SimResponse) -> None:
        await self._start(response, len(response.body))
        await self._send({"type": "http.response.body", "body": response.body})

    async def respond_truncated(self, response: SimResponse) -> None:
        """Status and headers promising the whole body, then half of it, then close."""
        declared = max(len(response.body), 1)
        await self._start(response, declared)
        part = response.body[: declared // 2]
        await self._send({"type": "http.response.body", "body": part, "more_body": True})
        await self.drop()

    async def reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0, then close)."""
        if self._transport is None:
            await self._cut_without_transport()
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self._transport.abort()
        await self._await_disconnect(_CLOSE_GRACE)

    async def drop(self) -> None:
        """Close the connection (after flushing what was written), no further response."""
        if self._transport is None:
            await self._cut_without_transport()
            return
        self._transport.close()
        await self._await_disconnect(_CLOSE_GRACE)

    async def hold(self, limit: float) -> None:
        """Wait until the client goes away, the server stops, or ``limit`` seconds pass."""
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._await_disconnect(None))}
        if self._stopping is not None:
            waiters.add(asyncio.ensure_future(self._stopping.wait()))
        try:
            await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short when the server stops."""
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    async def _start(self, response: SimResponse, length: int) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.items()
            if name != "content-length"
        ]
        headers.append((b"content-length", str(length).encode("ascii")))
        self._started = True
        await self._send(
            {"type": "http.response.start", "status": response.status, "headers": headers}
        )

    async def _await_disconnect(self, timeout: float | None) -> None:
        """Consume ASGI messages until the server reports the client gone."""

        async def until_disconnect() -> None:
            while not self._disconnected:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self._disconnected = True

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until_disconnect(), timeout)

    async def _cut_without_transport(self) -> None:
        # Plain ASGI cannot close a connection. An unfinished response makes any server
        # drop it, which the client sees as a body cut short: the nearest we can get.
        if self._started:
            return
        self._started = True
        await self._send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024"), (b"content-type", b"application/json")],
            }
        )
        await self._send({"type": "http.response.body", "body": b"{", "more_body": True})
