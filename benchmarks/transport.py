"""Throughput of the HTTP paths kycmux can use, as ratios to raw aiohttp in the same run.

A loopback aiohttp server runs in a child process (its own core), answering multipart uploads
like a vendor would; each client posts the same multipart body with N requests in flight for a
fixed time. Printed figures are ratios against the raw-aiohttp baseline measured in this run,
plus p99 latency; absolute numbers depend on the machine and are not compared.

    python3 -m uv run --frozen nox -s bench
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

from kycmux import Check, FilePart, HttpClient, VendorRequest

SIZES = (10_000, 300_000)
IN_FLIGHT = (16, 64)
SECONDS = float(os.environ.get("KYCMUX_BENCH_SECONDS", "2.0"))


def _serve(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "OK", "hack_score": "0.1", "verify_score": "0.9"})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/upload", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(send: Callable[[], Awaitable[None]], in_flight: int) -> tuple[float, float]:
    latencies: list[float] = []
    stop = time.perf_counter() + SECONDS

    async def worker() -> None:
        while time.perf_counter() < stop:
            began = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 100 else max(latencies)
    return len(latencies) / elapsed, p99


async def _raw_aiohttp(url: str, payload: bytes, in_flight: int) -> tuple[float, float]:
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as s:

        async def send() -> None:
            form = aiohttp.FormData()
            form.add_field("selfie_file", payload, filename="s.jpg", content_type="image/jpeg")
            async with s.post(url, data=form) as response:
                await response.read()

        return await _drive(send, in_flight)


async def _kycmux_http(backend: str, url: str, path: str, in_flight: int) -> tuple[float, float]:
    client = HttpClient.create(async_backend=backend)  # type: ignore[arg-type]
    request = VendorRequest(
        "bench",
        "upload",
        frozenset({Check.LIVENESS}),
        "POST",
        url,
        files=(FilePart("selfie_file", "s.jpg", "image/jpeg", path=Path(path)),),
    )

    async def send() -> None:
        sent = await client.asend(request, 30.0)
        if sent.response is None:
            raise RuntimeError(f"request failed: {sent.error!r}")

    try:
        return await _drive(send, in_flight)
    finally:
        await client.aclose()


def main() -> None:
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}/upload"
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.2)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    print(f"{'body':>8} {'in flight':>9} {'client':<28} {'req/s ratio':>11} {'p99 ms':>8}")
    try:
        for size in SIZES:
            payload = os.urandom(size)
            path = str(Path(tempfile.mkdtemp()) / "body.bin")
            Path(path).write_bytes(payload)
            for in_flight in IN_FLIGHT:
                base, base_p99 = asyncio.run(_raw_aiohttp(url, payload, in_flight))
                rows = [("raw aiohttp (baseline)", base, base_p99)]
                for backend, label in (
                    ("aiohttp", "kycmux HttpClient/aiohttp"),
                    ("httpx", "kycmux HttpClient/httpx"),
                ):
                    rate, p99 = asyncio.run(_kycmux_http(backend, url, path, in_flight))
                    rows.append((label, rate, p99))
                for label, rate, p99 in rows:
                    ratio, p99_ms = rate / base, p99 * 1000
                    print(f"{size:>8} {in_flight:>9} {label:<28} {ratio:>11.2f} {p99_ms:>8.1f}")
            os.unlink(path)
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
