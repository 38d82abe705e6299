"""The loopback vendor of the benchmarks: an aiohttp server in its own process.

It answers ``POST /identity/liveness_selfie_verification`` with Linkface's success JSON (live,
``hack_score`` 0.1 under the default 0.5 threshold) after reading the whole multipart body, as
the vendor must; the same path under ``/fail`` answers HTTP 500 (a vendor outage, to open a
breaker). Evidence files: a PNG header (64 x 64, what the Linkface plugin checks locally)
padded with random bytes to the body size, and a small liveness-SDK file.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LIVENESS_DATA_BYTES", "PATH", "SUCCESS", "evidence_files", "vendor_server"]

PATH = "/identity/liveness_selfie_verification"
SUCCESS = {"status": "OK", "hack_score": 0.1, "verify_score": 0.9, "request_id": "bench"}
LIVENESS_DATA_BYTES = 2_048


def _serve(port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()  # the whole body, as the vendor must before answering
        return web.json_response(SUCCESS)

    async def outage(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="internal error")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post(PATH, answer)
    app.router.add_post("/fail" + PATH, outage)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError("the benchmark vendor server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the benchmark vendor server did not start within 20 s")


@contextmanager
def vendor_server() -> Iterator[str]:
    """The server's base URL, the server running in a spawned process meanwhile."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,))
    process.daemon = True
    process.start()
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(5)


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def evidence_files(folder: Path, size: int) -> tuple[Path, Path]:
    """A selfie of ``size`` bytes and a liveness-SDK file, written once into ``folder``."""
    selfie, data = folder / f"selfie-{size}.png", folder / "liveness.bin"
    if not selfie.exists():
        head = _png_header(64, 64)
        selfie.write_bytes(head + os.urandom(max(0, size - len(head))))
    if not data.exists():
        data.write_bytes(os.urandom(LIVENESS_DATA_BYTES))
    return selfie, data
