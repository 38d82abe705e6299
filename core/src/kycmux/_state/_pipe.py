"""One pipelined connection to Redis: every caller's command goes out at once, replies in order.

Written for kycmux rather than taken from redis-py because a decision's three state calls are
on the hot path of every vendor attempt: redis-py spends ~50 µs of CPU per command here
(connection pool checkout, per-command socket round trip, its own timeouts), a pipelined
protocol with hiredis's parser ~12 µs at 16 decisions in flight. Redis answers one
connection's commands in order, so replies are matched to callers first-in, first-out.

It speaks what ``RedisState`` needs: ``execute_command`` (the redis-py name, so a redis-py
client works in its place) and ``aclose``. Error replies raise redis-py's exception types
(``NoScriptError`` for NOSCRIPT, else ``ResponseError``); a lost connection raises
``redis.exceptions.ConnectionError`` to every caller waiting on it, and the next command
connects again.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.exceptions import AuthenticationError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["Pipe"]

_SCHEMES = ("redis", "rediss", "unix")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future, _ = self.waiting.popleft()
            if future.done():  # its caller gave up: the reply is dropped, the order kept
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisConnectionError("connection lost"))


def _pack(*args: Any) -> bytes:
    packed: bytes = hiredis.pack_command(args)
    return packed


def _error(message: str) -> RedisError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    if message.startswith(("WRONGPASS", "NOAUTH", "ERR invalid password", "ERR AUTH")):
        return AuthenticationError(message)
    return ResponseError(message)


class Pipe:
    """A pipelined connection to one Redis server, opened on first use.

    A command whose caller is cancelled stays in line (its reply is read and dropped); when
    the oldest command has waited longer than ``stuck_after`` seconds at such a moment, the
    server is taken as hung and the connection is closed, failing every command on it.
    """

    def __init__(
        self,
        host: str | None,
        port: int,
        *,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        connect_timeout: float = 0.5,
        stuck_after: float = 0.5,
    ) -> None:
        self._host, self._port, self._path = host, port, path
        self._db, self._username, self._password = db, username, password
        self.tls = tls
        self._connect_timeout = connect_timeout
        self._stuck_after = stuck_after
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5) -> Pipe:
        """``redis://[user:password@]host[:port][/db]``, ``rediss://`` (TLS, the system's
        CA certificates) or ``unix:///path/to/socket[?db=N]``."""
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ValueError("the state URL must start with redis://, rediss:// or unix://")
        if not (parts.path if parts.scheme == "unix" else parts.hostname):
            raise ValueError("the state URL names no host (or, for unix://, no socket path)")
        query = parse_qs(parts.query)
        db_text = parts.path.lstrip("/") if parts.scheme != "unix" else ""
        db_text = db_text or (query.get("db") or ["0"])[0]
        if not db_text.isdigit():
            raise ValueError("the state URL's database must be a number")
        return cls(
            parts.hostname if parts.scheme != "unix" else None,
            parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            db=int(db_text),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=parts.scheme == "rediss",
            connect_timeout=timeout,
            stuck_after=timeout,
        )

    def __repr__(self) -> str:
        return "Pipe(...)"  # the address and password stay out of reprs

    async def execute_command(self, *args: Any) -> Any:
        """Send one command; its reply."""
        packed = _pack(*args)  # first: a command that cannot be packed is never queued
        return await self._send(await self._connected(), packed)

    async def _send(self, protocol: _Protocol, packed: bytes) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        assert protocol.transport is not None
        protocol.waiting.append((future, loop.time()))
        protocol.transport.write(packed)
        try:
            return await future
        except asyncio.CancelledError:
            self._close_if_stuck(protocol)
            raise

    async def aclose(self) -> None:
        connecting, self._connecting = self._connecting, None
        if connecting is not None and not connecting.done():
            connecting.cancel()
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()

    # plumbing -----------------------------------------------------------------------------

    async def _connected(self) -> _Protocol:
        while True:
            protocol = self._protocol
            if protocol is not None and not protocol.lost:
                return protocol
            if self._connecting is None:
                # One connect for every caller that arrives meanwhile; it outlives a caller
                # that gives up, and clears itself when it ends, however it ends.
                connecting = asyncio.ensure_future(self._connect())
                connecting.add_done_callback(self._connected_or_not)
                self._connecting = connecting
            await asyncio.shield(self._connecting)

    def _connected_or_not(self, connecting: asyncio.Future[_Protocol]) -> None:
        if self._connecting is connecting:
            self._connecting = None
        if not connecting.cancelled() and connecting.exception() is None:
            self._protocol = connecting.result()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            if self._host is None:
                _, protocol = await loop.create_unix_connection(_Protocol, self._path)
            else:
                context = ssl.create_default_context() if self.tls else None
                _, protocol = await loop.create_connection(
                    _Protocol, self._host, self._port, ssl=context
                )
            # Published to other callers only once logged in and in its database (by the
            # done-callback): a command sent before SELECT would run in database 0.
            try:
                if self._password is not None:
                    login = (self._username,) if self._username else ()
                    await self._send(protocol, _pack("AUTH", *login, self._password))
                if self._db:
                    await self._send(protocol, _pack("SELECT", self._db))
            except BaseException:
                if protocol.transport is not None:
                    protocol.transport.abort()
                raise
        return protocol

    def _close_if_stuck(self, protocol: _Protocol) -> None:
        if not protocol.waiting or protocol.transport is None:
            return
        _, oldest = protocol.waiting[0]
        if asyncio.get_running_loop().time() - oldest > self._stuck_after:
            # abort, not close: nothing is flushed to a server that reads nothing, and
            # connection_lost fails every command still waiting at once.
            protocol.transport.abort()
            if self._protocol is protocol:
                self._protocol = None
