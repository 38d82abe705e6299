"""Where plugin hooks run: worker threads per vendor, never the event loop.

A hook that takes seconds (a quadratic reader on a hostile answer, a plugin stuck on a lock) must
not hold the event loop, or every other decision stalls and deadlines stop meaning anything. So
the engine hands hook work to a few daemon threads per vendor: a slow plugin holds up its own
vendor's calls only, and the awaiting side can give up at its timeout.

A hop to a thread and back through the event loop costs two wake-ups (measured here: ~110 us of
CPU per hop with ``run_in_executor`` on an idle loop). So when the loop has nothing else ready,
the caller first waits for the answer right there, for at most ``SPIN`` (1 ms; hooks take tens of
microseconds): the loop is idle anyway, and the usual answer comes back without a round trip
(~45 us). When other work is ready, or the hook takes longer, the caller awaits it like any
future and the loop goes on. Either way the loop never waits on a plugin for more than ``SPIN``.
The threads are daemons, so one stuck in a plugin never keeps the process from exiting.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SPIN", "HookRunner"]

T = TypeVar("T")
SPIN = 0.001


class _Job:
    """One function call handed to a worker, and the ways its answer can come back."""

    __slots__ = ("args", "done", "error", "finished", "fn", "future", "loop", "result", "state")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.future: asyncio.Future[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.done = _thread.allocate_lock()  # released by the worker once it has the answer
        self.done.acquire()
        self.state = _thread.allocate_lock()  # guards finished / future between the two sides

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # handed to the waiting side, which re-raises it
            self.error = exc
        with self.state:
            self.finished = True
            future, loop = self.future, self.loop
        self.done.release()
        if future is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(_deliver, future, self.result, self.error)

    def answer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    def later(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any] | None:
        """A future the worker will complete, or None if it has finished already."""
        with self.state:
            if self.finished:
                return None
            self.loop, self.future = loop, loop.create_future()
            return self.future


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (its timeout); the late answer is dropped
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        job.run()
        del job  # a worker idle in get() must not pin the last answer


def _idle(loop: asyncio.AbstractEventLoop) -> bool:
    # The standard loop keeps its runnable callbacks in ``_ready``; elsewhere, assume busy.
    ready = getattr(loop, "_ready", None)
    return ready is not None and not ready


class HookRunner:
    """Runs functions on ``workers`` daemon threads per vendor, started on first use.

    Attributes:
        workers: Threads per vendor: hooks are short, so a few serve many decisions; a
            plugin stuck in all of them stalls its own vendor only.
    """

    def __init__(self, workers: int = 4) -> None:
        self.workers = workers
        self._queues: dict[str, queue.SimpleQueue[_Job | None]] = {}
        self._lock = threading.Lock()

    async def run(self, vendor: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on one of ``vendor``'s threads; cancelling the await abandons it."""
        job = _Job(fn, args)
        self._queue(vendor).put(job)
        loop = asyncio.get_running_loop()
        if _idle(loop) and job.done.acquire(timeout=SPIN):
            result: T = job.answer()
            return result
        future = job.later(loop)
        if future is None:
            finished: T = job.answer()
            return finished
        awaited: T = await future
        return awaited

    def close(self) -> None:
        """Stop every idle thread; one busy in a plugin stops when (if) the plugin returns."""
        with self._lock:
            queues, self._queues = self._queues, {}
        for jobs in queues.values():
            for _ in range(self.workers):
                jobs.put(None)

    def _queue(self, vendor: str) -> queue.SimpleQueue[_Job | None]:
        jobs = self._queues.get(vendor)
        if jobs is None:
            with self._lock:
                jobs = self._queues.get(vendor)
                if jobs is None:
                    jobs = self._start(vendor)
        return jobs

    def _start(self, vendor: str) -> queue.SimpleQueue[_Job | None]:
        jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        for n in range(self.workers):
            name = f"kycmux-{vendor}-{n}"
            threading.Thread(target=_work, args=(jobs,), name=name, daemon=True).start()
        self._queues[vendor] = jobs
        return jobs
