"""Where one decision's CPU goes: sequential ``Engine.verify`` calls, CPU per thread, a profile.

The engine of ``nox -s bench`` (one Linkface vendor from ``kycmux.toml``, JSON-lines records
on, evidence from files, a new subject per decision) against the same loopback vendor in its
own process, one decision at a time. Prints CPU per decision of the whole process, of the
event-loop thread and of each other thread (``/proc``, 10 ms ticks), and wall time per
decision. ``--profile`` adds a cProfile of the event-loop thread with a thread-CPU timer (it
inflates everything several times: compare shares, not absolutes).

    python benchmarks/cpu.py                       # 3000 decisions of 10 KB
    python benchmarks/cpu.py --size 3000000 --decisions 500
    python benchmarks/cpu.py --profile --sort cumulative --rows 60

Single runs on a shared machine move by 10-20 %: compare two trees by interleaving runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _clients
from _vendor import evidence_files, vendor_server

__all__ = ["main"]

WARMUP = 300


async def _measure(job: dict[str, Any], args: argparse.Namespace) -> None:
    engine, _ = _clients._engine(job)
    async with engine:
        for _ in range(WARMUP):
            await engine.verify(_clients._evidence(job))
        await engine.drain()
        profile = cProfile.Profile(time.thread_time) if args.profile else None
        threads_before = _clients._thread_cpu()
        cpu, wall, loop = time.process_time(), time.perf_counter(), time.thread_time()
        if profile is not None:
            profile.enable()
        for _ in range(args.decisions):
            await engine.verify(_clients._evidence(job))
        if profile is not None:
            profile.disable()
        await engine.drain()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        loop = time.thread_time() - loop
        threads = _clients._thread_cpu()
    n = args.decisions
    per = {k: (v - threads_before.get(k, 0.0)) / n * 1e6 for k, v in threads.items()}
    others = ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items()) if v and k != "MainThread")
    print(f"{n} decisions of {job['size']} B, one at a time (µs per decision):")
    each = {"CPU, all threads": cpu, "event loop": loop, "wall": wall}
    print("  " + "; ".join(f"{k} {v / n * 1e6:.0f}" for k, v in each.items()))
    print(f"  other threads (/proc, 10 ms ticks): {others or 'none'}")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="selfie bytes")
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile of the event loop")
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    parser.add_argument("--rows", type=int, default=35)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, vendor_server() as url:
        selfie, data = evidence_files(Path(work), args.size)
        job = {"kind": "engine", "size": args.size, "in_flight": 1, "base_url": url,
               "workdir": work, "selfie": str(selfie), "data": str(data)}  # fmt: skip
        asyncio.run(_measure(job, args))


if __name__ == "__main__":
    main()
