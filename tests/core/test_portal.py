"""The sync callers' event loop: one loop thread, many calling threads, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from kycmux._engine._portal import Portal


def test_no_thread_until_the_first_call() -> None:
    portal = Portal()
    assert not portal.started
    assert not any(t.name == "kycmux-sync-loop" for t in threading.enumerate())
    portal.stop()  # stopping a portal never started is a no-op


def test_calls_run_on_one_loop_thread_and_return_their_result() -> None:
    portal = Portal()

    async def where() -> tuple[int, int]:
        await asyncio.sleep(0)
        return threading.get_ident(), id(asyncio.get_running_loop())

    try:
        first, second = portal.call(where), portal.call(where)
        assert first == second
        assert first[0] != threading.get_ident()
    finally:
        portal.stop()
    assert not portal.started


def test_many_threads_share_the_loop_concurrently() -> None:
    portal = Portal()
    together = asyncio.Event()
    arrived = 0

    async def meet() -> int:
        nonlocal arrived
        arrived += 1
        if arrived == 8:
            together.set()
        await asyncio.wait_for(together.wait(), 5)  # only if all 8 run at once
        return arrived

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: portal.call(meet), range(8)))
        assert results == [8] * 8
    finally:
        portal.stop()


def test_an_exception_is_raised_in_the_caller() -> None:
    portal = Portal()

    async def fail() -> None:
        raise LookupError("from the loop")

    try:
        with pytest.raises(LookupError, match="from the loop"):
            portal.call(fail)
    finally:
        portal.stop()


def test_stop_cancels_what_still_runs_and_a_later_call_starts_a_new_loop() -> None:
    portal = Portal()
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = threading.Thread(target=lambda: _swallow(portal, forever), daemon=True)
    caller.start()
    assert started.wait(5)
    portal.stop()
    assert cancelled.wait(5)
    caller.join(5)
    assert not caller.is_alive()

    async def answer() -> int:
        return 42

    try:
        assert portal.call(answer) == 42
    finally:
        portal.stop()


def _swallow(portal: Portal, fn: object) -> None:
    # The caller sees the cancellation: what the test waits for is the loop's side of it.
    with contextlib.suppress(BaseException):
        portal.call(fn)  # type: ignore[arg-type]
