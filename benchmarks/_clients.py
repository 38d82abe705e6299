"""The clients of the decision benchmark; each runs its jobs in a spawned process of its own.

``run_job(job)`` builds one client, warms it up, then keeps ``in_flight`` calls going for
``seconds`` and returns what it measured: calls per second, latency percentiles, process CPU
per call (every thread of the client process: the engine's hook workers and sink writer
count) and the peak RSS the load added. Clients (``KINDS``):

- ``engine``: ``Engine.from_config_file`` on a ``kycmux.toml`` as a user writes it (one Linkface
  vendor, JSON-lines records on), ``await engine.verify(Evidence(selfie=path, ...))``;
- ``aiohttp_files``: the hand-written upload: ``aiohttp.FormData`` over open file objects;
- ``aiohttp_bytes``: the same upload from bytes read once before the run;
- ``httpx``: ``httpx.AsyncClient`` posting the same fields from pre-read bytes;
- ``engine_sync`` / ``requests``: the sync path, ``Engine.verify_sync`` against ``requests``;
- ``failover`` / ``failover_base``: two Linkface instances, A's breaker forced open by a
  warm-up against a failing host; policy [A, B] against policy [B] on the same engine;
- ``engine_redis``: ``engine`` with ``RedisState`` (round trips counted by the store).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import itertools
import os
import pstats
import re
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "run_job"]

KINDS = (
    "engine",
    "aiohttp_files",
    "aiohttp_bytes",
    "httpx",
    "engine_sync",
    "requests",
    "failover",
    "failover_base",
    "engine_redis",
)
API_ID, API_SECRET, RECORD_KEY = "bench-id", "bench-secret", "bench-record-key-0123456789"
_ENV = {"BENCH_API_ID": API_ID, "BENCH_API_SECRET": API_SECRET, "BENCH_RECORD_KEY": RECORD_KEY}
_PATH = "/identity/liveness_selfie_verification"
_OPEN_BREAKER_TRIES = 50


# -- measuring ---------------------------------------------------------------------------


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, summed by name without its number
    (``kycmux-linkface-0`` and ``-1`` are one lane). Threads that ended are not in it."""
    names = {t.native_id: re.sub(r"[-_]\d+$", "", t.name) for t in threading.enumerate()}
    ticks, found = os.sysconf("SC_CLK_TCK"), {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), "unnamed (not a Python thread)")
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def _reset_peak() -> int:
    """Start a new peak-RSS window (Linux ``clear_refs`` 5); the RSS it starts from, in KB."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass  # then VmHWM is the process's peak so far: an upper bound on what the load added
    return _rss_kb("VmRSS")


class _Window:
    """The calls that ended within the measured window, and the CPU spent over it.

    Calls run from the start; the window opens ``warmup`` seconds later and closes
    ``seconds`` after that, or later, once ``min_ops`` calls have ended in it (calls running
    then finish, outside it). Counting calls by when they end, and at least two rounds of
    them, keeps 64 long uploads in flight measurable in a short window.
    """

    def __init__(
        self, warmup: float, seconds: float, min_ops: int, count: Callable[[], int] | None
    ) -> None:
        self.count = count  # a counter read as the window opens and closes (round trips)
        self.counted = [0, 0]
        self.mark = time.perf_counter() + warmup
        self.end = self.mark + seconds
        self.min_ops = min_ops
        self.ended: list[tuple[float, float]] = []  # (when, latency)
        self.opened: tuple[float, float] | None = None  # (perf_counter, process_time)
        self.closed: tuple[float, float] | None = None

    def running(self) -> bool:
        return self.closed is None

    def _in_window(self) -> int:
        assert self.opened is not None
        return sum(1 for when, _ in self.ended if when >= self.opened[0])

    def done(self, began: float) -> None:
        now = time.perf_counter()
        self.ended.append((now, now - began))

    def poll(self) -> None:
        """Open or close the window when its time has come (the sync driver's clock)."""
        if self.opened is None and time.perf_counter() >= self.mark:
            self.opened = (time.perf_counter(), time.process_time())
            self.counted[0] = self.count() if self.count else 0
        if (
            self.opened is not None
            and self.closed is None
            and time.perf_counter() >= self.end
            and self._in_window() >= self.min_ops
        ):
            self.closed = (time.perf_counter(), time.process_time())
            self.counted[1] = self.count() if self.count else 0

    async def clock(self) -> None:
        """Open and close the window on time (the async drivers' clock)."""
        await asyncio.sleep(max(0.0, self.mark - time.perf_counter()))
        self.poll()
        await asyncio.sleep(max(0.0, self.end - time.perf_counter()))
        self.poll()
        while self.closed is None:  # fewer than min_ops calls ended in time: wait for them
            await asyncio.sleep(0.01)
            self.poll()

    def result(self, rss_from: int) -> dict[str, Any]:
        assert self.opened is not None
        assert self.closed is not None
        (t0, cpu0), (t1, cpu1) = self.opened, self.closed
        lat = sorted(latency for when, latency in self.ended if t0 <= when < t1)
        ops, lat = len(lat), lat or [float("nan")]
        return {
            "ops": ops,
            "calls": len(self.ended),
            "rate": ops / (t1 - t0),
            "p50": statistics.median(lat),
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "cpu_per_op": (cpu1 - cpu0) / ops if ops else float("nan"),
            "rss_added_kb": max(0, _rss_kb("VmHWM") - rss_from),
            "counted_per_op": (self.counted[1] - self.counted[0]) / ops if ops else float("nan"),
        }


async def _run_async(
    send: Callable[[], Awaitable[None]],
    job: dict[str, Any],
    profile: cProfile.Profile | None,
    settle: Callable[[], Awaitable[None]] | None = None,
    count: Callable[[], int] | None = None,
) -> dict[str, Any]:
    for _ in range(3):  # connections, lazy imports, first-call caches
        await send()
    rss_from = _reset_peak()
    window = _Window(job["warmup"], job["seconds"], job["rounds"] * job["in_flight"] + 10, count)

    async def worker() -> None:
        while window.running():
            began = time.perf_counter()
            await send()
            window.done(began)

    threads = _thread_cpu()
    if profile is not None:
        profile.enable()
    clock = asyncio.ensure_future(window.clock())
    await asyncio.gather(*(worker() for _ in range(job["in_flight"])))
    await clock
    if settle is not None:
        await settle()
    if profile is not None:
        profile.disable()
    result = window.result(rss_from)
    after, calls = _thread_cpu(), max(1, result["calls"])
    result["thread_cpu_per_call"] = {
        name: (cpu - threads.get(name, 0.0)) / calls for name, cpu in sorted(after.items())
    }
    return result


def _run_sync(send: Callable[[], None], job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):
        send()
    rss_from = _reset_peak()
    window = _Window(job["warmup"], job["seconds"], job["rounds"] * job["in_flight"] + 10, None)
    while window.running():
        window.poll()
        began = time.perf_counter()
        send()
        window.done(began)
    return window.result(rss_from)


# -- the engine --------------------------------------------------------------------------


_SINGLE = """
[vendors.linkface]
base_url = "{base}"
api_id = "${{BENCH_API_ID}}"
api_secret = "${{BENCH_API_SECRET}}"

[policies.bench]
deadline = 30.0
[policies.bench.liveness]
vendors = ["linkface"]
"""

# A's host fails (HTTP 500) and its breaker opens after 3 calls and stays open for the run;
# one attempt per decision so the warm-up reaches it quickly.
_FAILOVER = """
[vendors.linkface_a]
plugin = "linkface"
base_url = "{base}/fail"
api_id = "${{BENCH_API_ID}}"
api_secret = "${{BENCH_API_SECRET}}"
[vendors.linkface_a.resilience]
breaker = {{ window = 600, failure_ratio = 0.5, min_calls = 3, open_seconds = 3600 }}

[vendors.linkface_b]
plugin = "linkface"
base_url = "{base}"
api_id = "${{BENCH_API_ID}}"
api_secret = "${{BENCH_API_SECRET}}"

[policies.failover]
deadline = 30.0
[policies.failover.liveness]
vendors = ["linkface_a", "linkface_b"]
[policies.failover.vendors.linkface_a]
retry = {{ max_attempts = 1 }}

[policies.single]
deadline = 30.0
[policies.single.liveness]
vendors = ["linkface_b"]
"""


def _config_with_engine(job: dict[str, Any], vendors_and_policies: str, policy: str) -> Path:
    folder = Path(job["workdir"]) / f"client-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "records" / "decisions.jsonl"
    path = folder / "kycmux.toml"
    path.write_text(
        vendors_and_policies
        + f'\n[engine]\npolicy = "{policy}"\nrecords = "{records}"\n'
        + 'record_key = "${BENCH_RECORD_KEY}"\n'
    )
    return path


def _engine(job: dict[str, Any]) -> tuple[Any, Any]:
    """The engine a user would build from ``kycmux.toml``, and its Redis store if any."""
    from kycmux import Engine

    kind = job["kind"]
    if kind in ("failover", "failover_base"):
        path = _config_with_engine(job, _FAILOVER.format(base=job["base_url"]), "failover")
    else:
        path = _config_with_engine(job, _SINGLE.format(base=job["base_url"]), "bench")
    if kind != "engine_redis":
        return Engine.from_config_file(path, env=_ENV), None
    from kycmux.state import RedisState

    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    state = RedisState.from_url(job["redis_url"], namespace=namespace, timeout=1.0)
    return Engine.from_config_file(path, env=_ENV, state=state), state


_SUBJECTS = itertools.count()


def _evidence(job: dict[str, Any]) -> Any:
    """What a caller builds per decision: the files by path, a new subject each time."""
    from kycmux import Evidence

    subject = f"subject-{next(_SUBJECTS)}"
    return Evidence(selfie=job["selfie"], liveness_data=job["data"], subject_id=subject)


def _accepted(decision: Any) -> None:
    if decision.outcome.value != "accept":
        raise RuntimeError(f"unexpected decision: {decision.record.explanation}")


async def _open_breaker(engine: Any, job: dict[str, Any]) -> None:
    """Fail over past A until its breaker opens (both failover jobs do it: same engine)."""
    for _ in range(_OPEN_BREAKER_TRIES):
        if engine.breaker("linkface_a").state.value == "open":
            return
        _accepted(await engine.verify(_evidence(job), policy="failover"))
    raise RuntimeError("linkface_a's breaker did not open during the warm-up")


async def _engine_job(job: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    engine, state = _engine(job)
    policy = {"failover": "failover", "failover_base": "single"}.get(job["kind"])
    async with engine:
        if policy is not None:
            await _open_breaker(engine, job)

        async def send() -> None:
            _accepted(await engine.verify(_evidence(job), policy=policy))

        # Round trips made while the window was open (settlements run in the background: a
        # decision's last ones may land just after it, an earlier one's within it).
        trips = (lambda: state.round_trips) if state is not None else None
        result = await _run_async(send, job, profile, engine.drain, trips)
        if state is not None:
            result["round_trips"] = result["counted_per_op"]
    return result


def _engine_sync_job(job: dict[str, Any]) -> dict[str, Any]:
    engine, _ = _engine(job)
    with engine:

        def send() -> None:
            _accepted(engine.verify_sync(_evidence(job)))

        return _run_sync(send, job)


# -- the hand-written clients ------------------------------------------------------------


def _read(path: str) -> bytes:
    """A file read once, before the run (the pre-read clients)."""
    return Path(path).read_bytes()


def _check_answer(body: dict[str, Any]) -> None:
    if body.get("status") != "OK" or not float(body["hack_score"]) < 0.5:
        raise RuntimeError("unexpected answer")


async def _aiohttp_job(job: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    import aiohttp

    url = job["base_url"] + _PATH
    from_files = job["kind"] == "aiohttp_files"
    selfie, data = _read(job["selfie"]), _read(job["data"])
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(selfie_body: Any, data_body: Any) -> None:
            form = aiohttp.FormData()
            form.add_field("api_id", API_ID)
            form.add_field("api_secret", API_SECRET)
            form.add_field("selfie_file", selfie_body, filename="selfie.png",
                           content_type="image/png")  # fmt: skip
            form.add_field("liveness_data_file", data_body, filename="liveness.protobuf",
                           content_type="application/octet-stream")  # fmt: skip
            async with session.post(url, data=form) as response:
                _check_answer(await response.json())

        async def send() -> None:
            if not from_files:
                await post(selfie, data)
                return
            # Blocking opens on the loop, as the hand-written upload does (aiohttp reads the
            # open files in its executor).
            with open(job["selfie"], "rb") as s, open(job["data"], "rb") as d:  # noqa: ASYNC230
                await post(s, d)

        return await _run_async(send, job, profile)


async def _httpx_job(job: dict[str, Any], profile: cProfile.Profile | None) -> dict[str, Any]:
    import httpx

    url = job["base_url"] + _PATH
    files = {
        "selfie_file": ("selfie.png", _read(job["selfie"]), "image/png"),
        "liveness_data_file": (
            "liveness.protobuf",
            _read(job["data"]),
            "application/octet-stream",
        ),
    }
    fields = {"api_id": API_ID, "api_secret": API_SECRET}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def send() -> None:
            response = await client.post(url, data=fields, files=files)
            _check_answer(response.json())

        return await _run_async(send, job, profile)


def _requests_job(job: dict[str, Any]) -> dict[str, Any]:
    import requests

    url = job["base_url"] + _PATH
    fields = {"api_id": API_ID, "api_secret": API_SECRET}
    with requests.Session() as session:

        def send() -> None:
            with open(job["selfie"], "rb") as s, open(job["data"], "rb") as d:
                files = {
                    "selfie_file": ("selfie.png", s, "image/png"),
                    "liveness_data_file": ("liveness.protobuf", d, "application/octet-stream"),
                }
                response = session.post(url, data=fields, files=files, timeout=30)
            _check_answer(response.json())

        return _run_sync(send, job)


# -- entry point -------------------------------------------------------------------------


def _top(profile: cProfile.Profile, ops: int, limit: int, threads: dict[str, float]) -> str:
    out = io.StringIO()
    out.write("CPU per decision by thread (µs; /proc, 10 ms ticks): ")
    out.write(", ".join(f"{name} {cpu * 1e6:.0f}" for name, cpu in threads.items() if cpu))
    out.write("\n")
    out.write(f"cProfile of the event-loop thread over {ops} decisions (per decision: / {ops});"
              " hook worker threads are not in it\n")  # fmt: skip
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one client for one cell in this (fresh) process; see the module docstring."""
    kind = job["kind"]
    profile = cProfile.Profile() if job.get("profile") else None
    if kind in ("engine_sync", "requests"):
        result = _engine_sync_job(job) if kind == "engine_sync" else _requests_job(job)
    elif kind.startswith("aiohttp"):
        result = asyncio.run(_aiohttp_job(job, profile))
    elif kind == "httpx":
        result = asyncio.run(_httpx_job(job, profile))
    else:
        result = asyncio.run(_engine_job(job, profile))
    if profile is not None:
        rows, threads = job.get("profile_rows", 20), result["thread_cpu_per_call"]
        result["profile"] = _top(profile, result["calls"], rows, threads)
    return result
