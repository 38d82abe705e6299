"""The event loop ``Engine.verify_sync`` runs on: one asyncio loop on a daemon thread.

A sync call hands its coroutine to the loop with ``run_coroutine_threadsafe`` and waits on the
concurrent future: one wake-up each way. (anyio's blocking portal, used before, added a task
group's task and its own futures per call: ~130 µs more of CPU per decision, measured.) Many
threads may call at once; their decisions share the loop as async callers' do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Portal"]

T = TypeVar("T")

_STOP_WAIT = 10.0


class Portal:
    """An event loop on its own thread, started on the first call, for sync callers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` on the loop and wait for its result (its exception is raised here).
        A caller interrupted while waiting (``KeyboardInterrupt``) cancels the call."""
        future = asyncio.run_coroutine_threadsafe(_awaited(fn), self._running())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and close it."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        with contextlib.suppress(TimeoutError):  # a task ignoring cancellation: not waited on
            asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(_STOP_WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_WAIT)
        if not thread.is_alive():
            loop.close()

    def _running(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_serve, args=(loop, ready), name="kycmux-sync-loop", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())


async def _awaited(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


async def _cancel_others() -> None:
    """Cancel every task on this loop but the current one, and wait for them to end."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
