"""Serve simulators on loopback: uvicorn in a daemon thread, one per simulator.

``serve`` returns once the socket is listening and ``stop`` returns promptly even while a
``HANG`` fault holds a request: it signals held requests to let go before asking uvicorn to
exit, and forces the exit if a request still lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import attrs
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from kycmux._model._secret import Secret
from kycmux.simkit._exchange import STOPPING_KEY, TRANSPORT_KEY

__all__ = ["RunningSimulator", "serve", "serve_many"]

log = logging.getLogger("kycmux.simkit")

_STARTUP_TIMEOUT = 15.0
_STOP_GRACE = 5.0
# uvicorn cancels requests still running this long after shutdown began.
_SHUTDOWN_TIMEOUT = 3


class _SimServerState(ServerState):
    """uvicorn's shared server state, plus the signal that tells held requests to let go."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping: asyncio.Event | None = None


class _TransportH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the connection to the app in the scope extensions.

    Faults like a TCP reset happen below HTTP, where ASGI gives an app no reach.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            extensions = dict(scope.get("extensions") or {})
            extensions[TRANSPORT_KEY] = self.transport
            stopping = getattr(self.server_state, "stopping", None)
            if stopping is not None:
                extensions[STOPPING_KEY] = stopping
            scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that reports readiness and its loop to the thread that started it."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.server_state: _SimServerState = _SimServerState()
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.server_state.stopping = asyncio.Event()
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()

    def release_held_requests(self) -> None:
        """Tell requests held by HANG or LATENCY to finish (thread-safe)."""
        loop, stopping = self.loop, self.server_state.stopping
        if loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed: nothing is held
            loop.call_soon_threadsafe(stopping.set)


def _run(server: _ThreadServer, errors: list[BaseException]) -> None:
    try:
        server.run()
    except BaseException as exc:  # SystemExit too: uvicorn exits on bind failure
        errors.append(exc)
    finally:
        server.ready.set()


def _format_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@attrs.define
class RunningSimulator:
    """A simulator listening on loopback; stop it with ``stop()`` or a ``with`` block.

    Attributes:
        app: The simulator being served.
        host: The address it listens on.
        port: The port it listens on (chosen by the OS when 0 was asked).
    """

    app: Any
    host: str
    port: int
    _server: _ThreadServer = attrs.field(repr=False, alias="server")
    _thread: threading.Thread = attrs.field(repr=False, alias="thread")
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _stopping: bool = attrs.field(init=False, default=False, repr=False)

    @classmethod
    def start(cls, app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
        """Start serving ``app`` and return once it accepts connections."""
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=_TransportH11Protocol,
            ws="none",
            loop="asyncio",
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=_SHUTDOWN_TIMEOUT,
        )
        server = _ThreadServer(config)
        errors: list[BaseException] = []
        name = f"kycmux-sim-{type(app).__name__}"
        thread = threading.Thread(target=_run, args=(server, errors), name=name, daemon=True)
        thread.start()
        server.ready.wait(_STARTUP_TIMEOUT)
        if not server.started:
            server.should_exit = True
            thread.join(_STOP_GRACE)
            cause = errors[0] if errors else None
            what = f"simulator {type(app).__name__} did not start on {host}:{port}"
            raise RuntimeError(what) from cause
        bound = server.servers[0].sockets[0].getsockname()
        return cls(app, host, int(bound[1]), server=server, thread=thread)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, for a vendor's ``base_url`` setting."""
        return _format_url(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def client_settings(self) -> Mapping[str, str | Secret]:
        """The simulator's client settings plus ``base_url``."""
        settings: dict[str, str | Secret] = dict(self.app.client_settings())
        settings["base_url"] = self.base_url
        return settings

    def stop(self) -> None:
        """Stop serving; idempotent, returns promptly even while requests are held."""
        if self._begin_stop():
            self._finish_stop()

    def _begin_stop(self) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._stopping = True
        self._server.release_held_requests()
        self._server.should_exit = True
        return True

    def _finish_stop(self) -> None:
        self._thread.join(_STOP_GRACE)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_GRACE)
        if self._thread.is_alive():
            log.warning("simulator %s on port %d did not stop", type(self.app).__name__, self.port)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve a simulator (any ASGI app) on ``host:port`` in a daemon thread.

    ``port=0`` lets the OS pick a free port; read it from ``.port`` or ``.base_url``. Use the
    result as a context manager, or call ``stop()``.
    """
    return RunningSimulator.start(app, host, port)


def _stop_all(running: Iterable[RunningSimulator]) -> None:
    # Signal every server first so they shut down side by side, then wait for each.
    begun = [r for r in running if r._begin_stop()]
    for r in begun:
        r._finish_stop()


@contextlib.contextmanager
def serve_many(
    apps: Mapping[str, Any], host: str = "127.0.0.1"
) -> Iterator[dict[str, RunningSimulator]]:
    """Serve several simulators at once, each on its own port; all stopped on exit.

    Yields ``{name: RunningSimulator}`` with the names of ``apps``.
    """
    running: dict[str, RunningSimulator] = {}
    try:
        for name, app in apps.items():
            running[name] = serve(app, host=host)
        yield dict(running)
    finally:
        _stop_all(running.values())
