"""A real PostgreSQL server for tests, on a free loopback TCP port, started and stopped here.

The binaries come from ``$KYCMUX_TEST_PG_BIN``, else pgserver's wheel (PostgreSQL 16, in the
dev group), else the system's (``pg_config --bindir``, Debian's ``/usr/lib/postgresql/*/bin``).
The cluster is a fresh ``initdb`` in a temporary folder (trust authentication, no fsync: it is
thrown away), and the server listens on 127.0.0.1 only, with no Unix socket. PostgreSQL
refuses to run as root, so as root it runs as ``nobody``. ``stop`` ends the process it started
(by its pid) and removes the folder; an ``atexit`` hook does it too if a test run is cut short.
"""

from __future__ import annotations

import atexit
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

__all__ = ["PgServer", "find_bindir", "free_port"]

SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    # A throw-away cluster: durability buys nothing and costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


def find_bindir() -> Path | None:
    """A folder holding ``initdb`` and ``postgres``, or ``None``."""
    candidates: list[Path] = []
    if os.environ.get("KYCMUX_TEST_PG_BIN"):
        candidates.append(Path(os.environ["KYCMUX_TEST_PG_BIN"]))
    # Found, not imported: importing pgserver sets up its own run-time folders (and warns).
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PgServer:
    """One PostgreSQL cluster in a temporary folder; ``start`` / ``stop`` its server."""

    def __init__(self, bindir: Path, port: int | None = None) -> None:
        self.bindir = bindir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kycmux-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        # PostgreSQL will not run as root: run it as nobody, who must own its folder.
        self._ids = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._ids = (nobody.pw_uid, nobody.pw_gid)
            os.chown(self.root, *self._ids)
        initdb = [str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        self._run([*initdb, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        atexit.register(self.stop, remove=True)

    def _user(self) -> dict[str, Any]:
        if self._ids is None:
            return {}
        return {"user": self._ids[0], "group": self._ids[1], "extra_groups": []}

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(args, capture_output=True, text=True, **self._user())
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}")

    def url(self, database: str = "postgres", **params: str) -> str:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self.process is not None:
            return
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for name, value in SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, **self._user()
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"postgres exited: {self.log.read_text(errors='replace')}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self, *, remove: bool = False) -> None:
        """Stop the server (fast shutdown, then a kill after 10 s); ``remove``: the folder too."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: sessions are ended
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def admin(self, schema: str | None = None) -> psycopg.Connection[tuple[Any, ...]]:
        """A superuser connection to the ``postgres`` database, in autocommit; ``schema``:
        first on its search_path."""
        options = {} if schema is None else {"options": f"-csearch_path={schema}"}
        return psycopg.connect(self.url(**options), autocommit=True)
