"""``HookRunner``: plugin work on worker threads, abandoned when nobody waits, bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kycmux._transport._offload import MAX_QUEUED, HookRunner, LaneFull

pytestmark = pytest.mark.anyio


async def test_answers_and_exceptions_come_back() -> None:
    runner = HookRunner(workers=2)
    assert await runner.run("v", lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(KeyError, match="k"):
        await runner.run("v", {}.__getitem__, "k")
    runner.close()


async def test_a_job_nobody_waits_for_is_skipped_not_run() -> None:
    runner = HookRunner(workers=1)
    release = threading.Event()
    ran: list[str] = []
    busy = runner.submit("v", release.wait)  # the only worker is held
    job = runner.submit("v", ran.append, "late")
    waiting = asyncio.ensure_future(runner.wait(job))
    await asyncio.sleep(0.01)
    waiting.cancel()  # the caller's timeout: nobody wants the answer any more
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    assert await runner.wait(busy) is True
    assert await runner.run("v", lambda: "after") == "after"  # the lane goes on
    assert ran == []
    assert job.abandoned
    assert not job.started
    runner.close()


async def test_a_backed_up_lane_refuses_more_work() -> None:
    runner = HookRunner(workers=1)
    release = threading.Event()
    held = runner.submit("v", release.wait)
    await asyncio.sleep(0.01)  # the worker took it: the queue holds only what follows
    queued = [runner.submit("v", lambda: None) for _ in range(MAX_QUEUED)]
    with pytest.raises(LaneFull):
        runner.submit("v", lambda: None)
    assert await runner.run("other", lambda: "fine") == "fine"  # other lanes are not held
    release.set()
    await runner.wait(held)
    for job in queued:
        await runner.wait(job)
    runner.close()


async def test_workers_are_daemons_named_after_their_lane() -> None:
    runner = HookRunner(workers=2)
    await runner.run("tencent_legacy", lambda: None)
    names = {t.name: t.daemon for t in threading.enumerate() if t.name.startswith("kycmux-")}
    assert names.get("kycmux-tencent_legacy-0") is True
    assert names.get("kycmux-tencent_legacy-1") is True
    runner.close()
