"""Where plugin hooks and observers run: worker threads per lane; light hooks on the loop.

Observers always run on a lane. A vendor's hook steps run on its lane too, unless its plugin
declared them light (``VendorSpec.light_hooks``) and nothing else stands in the way (the
conditions are in ``_call``): then they run on the event loop, and the ``Watchdog`` here judges
every such step, sending a plugin that broke its promise back to its lane for good. The loop
never waits on an undeclared plugin, nor on a declared one once it has been caught.

A hook that takes seconds (a quadratic reader on a hostile answer, a plugin stuck on a lock) must
not hold the event loop, or every other decision stalls and deadlines stop meaning anything. So
the engine hands hook work to a few daemon threads per vendor (a *lane*): a slow plugin holds up
its own vendor's calls only, and the awaiting side gives up at its timeout. A job nobody waits
for any more is skipped, not run, and a lane holds at most ``MAX_QUEUED`` jobs, so a burst of
slow answers cannot pile up work (and response bodies) behind a stuck plugin.

A hop to a thread and back through the event loop costs two wake-ups (measured here: ~110 us of
CPU per hop with ``run_in_executor`` on an idle loop). So when the loop has nothing else ready and
a worker of the lane is idle, the caller first waits for the answer right there, for at most
``SPIN`` (1 ms; hooks take tens of microseconds): the usual answer comes back without a round
trip (~45 us). Otherwise, or when the hook takes longer, the caller awaits it like any future.
Either way the loop never waits on a plugin for more than ``SPIN``. The threads are daemons, so
one stuck in a plugin never keeps the process from exiting.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = [
    "BLOCKED_BUDGET",
    "LATE_STRIKES",
    "LIGHT_BUDGET",
    "MAX_QUEUED",
    "SPIN",
    "HookRunner",
    "Job",
    "LaneFull",
    "Watchdog",
]

log = logging.getLogger("kycmux.engine")

T = TypeVar("T")
SPIN = 0.001
MAX_QUEUED = 256
# A light hook step takes tens of microseconds of CPU; 2 ms is a hundred times that, yet short
# enough that a plugin breaking its promise holds every other decision up only once.
LIGHT_BUDGET = 0.002
# Wall time also counts what the step did not cause: another thread holding the GIL (its
# switch interval is 5 ms) or the OS running another process. Measured on 2 busy cores: about
# one light step in 3000 came back 2-4 ms late with 0.1-0.3 ms of CPU. So a step that merely
# came back late is a strike, and only ``LATE_STRIKES`` in a row of the same step (or one
# this long: no GIL hand-off or time slice lasts 20 ms) are taken for a plugin blocking on I/O
# or a lock.
BLOCKED_BUDGET = 0.02
LATE_STRIKES = 3


class LaneFull(Exception):
    """A lane has ``MAX_QUEUED`` jobs waiting: its workers are stuck or hopelessly behind."""


class Job(Generic[T]):
    """One function call handed to a lane, and the ways its answer can come back."""

    __slots__ = (
        "_done",
        "_future",
        "_lane",
        "_loop",
        "_state",
        "abandoned",
        "args",
        "error",
        "finished",
        "fn",
        "result",
        "started",
    )

    def __init__(self, lane: _Lane, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._lane = lane
        self.fn = fn
        self.args = args
        self.result: T | None = None
        self.error: BaseException | None = None
        self.started = self.finished = self.abandoned = False
        self._future: asyncio.Future[T] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done = _thread.allocate_lock()  # released by the worker once it has the answer
        self._done.acquire()
        self._state = _thread.allocate_lock()  # guards the flags and the future between sides

    def answer(self) -> T:
        """The result (or the exception) of a finished job."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]

    def abandon(self) -> None:
        """Nobody waits for this job any more: a worker that has not started it skips it."""
        with self._state:
            self.abandoned = True

    def _run(self) -> None:
        with self._state:
            if self.abandoned:
                return
            self.started = True
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # handed to the waiting side, which re-raises it
            self.error = exc
        with self._state:
            self.finished = True
            future, loop = self._future, self._loop
        self._done.release()
        if future is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(_deliver, future, self.result, self.error)

    def _spin(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wait right here, briefly, when that cannot delay anything else."""
        return _idle(loop) and self._lane.idle > 0 and self._done.acquire(timeout=SPIN)

    def _later(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[T] | None:
        """A future the worker will complete, or None if it has finished already."""
        with self._state:
            if self.finished:
                return None
            self._loop, self._future = loop, loop.create_future()
            return self._future


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (its timeout); the late answer is dropped
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _idle(loop: asyncio.AbstractEventLoop) -> bool:
    # The standard loop keeps its runnable callbacks in ``_ready``; elsewhere, assume busy.
    ready = getattr(loop, "_ready", None)
    return ready is not None and not ready


class _Lane:
    """One queue and its workers. The counters are read without a lock: a stale value only
    makes one wait skip its spin, or lets one job more in."""

    def __init__(self, name: str, workers: int) -> None:
        self.jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self.queued = 0
        self.idle = 0
        for n in range(workers):
            thread = threading.Thread(target=self._work, name=f"kycmux-{name}-{n}", daemon=True)
            thread.start()

    def put(self, job: Job[Any]) -> None:
        if self.queued >= MAX_QUEUED:
            raise LaneFull
        self.queued += 1
        self.jobs.put(job)

    def _work(self) -> None:
        while True:
            self.idle += 1
            job = self.jobs.get()
            self.idle -= 1
            if job is None:
                return
            self.queued -= 1
            job._run()
            del job  # a worker idle in get() must not pin the last answer


class HookRunner:
    """Runs functions on ``workers`` daemon threads per lane (a vendor, the observers).

    Attributes:
        workers: Threads per lane, started on the lane's first job: hooks are short, so a few
            serve many decisions; a plugin stuck in all of them stalls its own lane only.
    """

    def __init__(self, workers: int = 4) -> None:
        self.workers = workers
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()

    def submit(self, lane: str, fn: Callable[..., T], *args: Any) -> Job[T]:
        """Queue ``fn(*args)`` on ``lane``; ``LaneFull`` when the lane is backed up."""
        where = self._lane(lane)
        job = Job(where, fn, args)
        where.put(job)
        return job

    async def wait(self, job: Job[T]) -> T:
        """The job's answer. Cancelling the wait abandons a job that has not started."""
        loop = asyncio.get_running_loop()
        if job._spin(loop):
            return job.answer()
        future = job._later(loop)
        if future is None:
            return job.answer()
        try:
            return await future
        except asyncio.CancelledError:
            job.abandon()
            raise

    async def run(self, lane: str, fn: Callable[..., T], *args: Any) -> T:
        return await self.wait(self.submit(lane, fn, *args))

    def post(self, lane: str, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` without waiting for it (observers); dropped, with a warning,
        when the lane is backed up."""
        try:
            self.submit(lane, fn, *args)
        except LaneFull:
            log.warning("%s lane is backed up (%d queued); a job was dropped", lane, MAX_QUEUED)

    def close(self) -> None:
        """Stop every idle thread; one busy in a plugin stops when (if) the plugin returns."""
        with self._lock:
            lanes, self._lanes = self._lanes, {}
        for lane in lanes.values():
            for _ in range(self.workers):
                lane.jobs.put(None)

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            with self._lock:
                lane = self._lanes.get(name)
                if lane is None:
                    lane = self._lanes[name] = _Lane(name, self.workers)
        return lane


class Watchdog:
    """Judges each hook step run on the event loop: the plugins that broke their promise of
    light hooks (``VendorSpec.light_hooks``) go back to their lanes for good.

    Attributes:
        demoted: The plugins (by vendor name) whose hooks run on their lanes from now on.
    """

    def __init__(self) -> None:
        self.demoted: set[str] = set()
        self._late: dict[tuple[str, str], int] = {}

    def judge(self, plugin: str, step: str, cpu: float, wall: float) -> str | None:
        """Why ``plugin`` is demoted by its hook step ``step`` that took ``cpu`` seconds of the
        loop thread's CPU and ``wall`` seconds of real time, or ``None`` while it keeps its
        promise."""
        if wall <= LIGHT_BUDGET:
            if self._late:
                self._late.pop((plugin, step), None)
            return None
        if cpu > LIGHT_BUDGET:
            reason = f"used {cpu * 1e3:.1f} ms of CPU"
        elif wall > BLOCKED_BUDGET:
            reason = f"held the event loop for {wall * 1e3:.1f} ms"
        else:
            late = self._late[plugin, step] = self._late.get((plugin, step), 0) + 1
            if late < LATE_STRIKES:
                return None
            reason = f"held the event loop for over {LIGHT_BUDGET * 1e3:g} ms {late} times in a row"
        self._late = {key: n for key, n in self._late.items() if key[0] != plugin}
        self.demoted.add(plugin)
        return reason
