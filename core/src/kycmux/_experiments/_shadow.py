"""Shadow calls: a candidate vendor asked alongside a live decision, isolated from it.

Isolation is the whole point: the shadow run is its own task with its own deadline, its
exceptions are caught and recorded as ``failed``, the live decision waits for it at most the
experiment's ``max_delay`` once the live answer is ready, and a live caller cancelled by its own
timeout takes its shadows down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from kycmux._engine._driver import DecisionRun
from kycmux._experiments._experiment import LateShadow, ShadowExperiment
from kycmux._records._builder import shadow_record
from kycmux._records._record import ShadowRecord
from kycmux._resilience import Clock, clock_timeout
from kycmux._state._fallback import DEGRADED
from kycmux.exceptions import InvalidEvidenceError

__all__ = ["PendingShadow", "cancel_all", "settle"]

log = logging.getLogger("kycmux.engine")


@attrs.define(eq=False)
class PendingShadow:
    """One shadow experiment's part in a decision: a record decided up front, or a run.

    Attributes:
        experiment: The shadow experiment.
        record: The outcome so far (``no_consent``, ``answered``...), once known.
        run: The candidate's decision run, once started.
        task: The task driving the run.
        started: Engine-clock monotonic time the run started.
    """

    experiment: ShadowExperiment
    record: ShadowRecord | None = None
    run: DecisionRun | None = None
    task: asyncio.Task[ShadowRecord] | None = None
    started: float = 0.0

    @classmethod
    def skipped(cls, experiment: ShadowExperiment, status: str) -> PendingShadow:
        return cls(experiment, ShadowRecord(experiment.name, experiment.vendor, status))

    @classmethod
    def start(cls, experiment: ShadowExperiment, run: DecisionRun, clock: Clock) -> PendingShadow:
        pending = cls(experiment, run=run, started=clock.monotonic())
        # Its own context: the shadow's state fallbacks are not the live decision's.
        context = contextvars.copy_context()
        context.run(DEGRADED.set, None)
        pending.task = asyncio.get_running_loop().create_task(
            _drive(pending, clock), name=f"kycmux-shadow-{experiment.name}", context=context
        )
        return pending

    def ended(self, status: str, clock: Clock, **fields: Any) -> ShadowRecord:
        """The record of a run that ended as ``status``, with what it did so far."""
        run = self.run
        return shadow_record(
            self.experiment.name,
            self.experiment.vendor,
            status,
            duration=clock.monotonic() - self.started,
            attempts=run.attempts if run else (),
            skipped=run.skipped if run else (),
            **fields,
        )

    def cancelled_record(self, clock: Clock) -> ShadowRecord:
        return self.ended(
            "cancelled", clock, outcome="error", reasons=("shadow_cancelled_at_bound",)
        )


async def _drive(pending: PendingShadow, clock: Clock) -> ShadowRecord:
    """Run the candidate; whatever goes wrong becomes a ``failed`` record, never an exception."""
    run = pending.run
    assert run is not None
    try:
        await run.run()
        return pending.ended("answered", clock, conclusion=run.conclude())
    except InvalidEvidenceError as exc:  # the candidate's limits refuse it: nothing was sent
        return pending.ended("evidence_refused", clock, reasons=(f"evidence_refused:{exc.field}",))
    except Exception as exc:
        # The type only: the message may quote what the candidate was sent.
        name = type(exc).__name__
        log.warning("shadow %s failed (%s); ignored", pending.experiment.name, name)
        return pending.ended("failed", clock, outcome="error", reasons=(f"shadow_failed:{name}",))


async def settle(
    shadows: list[PendingShadow],
    clock: Clock,
    *,
    on_done: Callable[[PendingShadow, ShadowRecord], None],
    keep: Callable[[Coroutine[Any, Any, None]], None],
) -> tuple[ShadowRecord, ...]:
    """The shadows' records for the live decision, which is ready now.

    Each running shadow gets at most its experiment's ``max_delay`` from now. Then a finished
    one is ``answered``; an unfinished one is cancelled or left to finish in the background
    (``keep`` takes the coroutine that awaits it). ``on_done`` gets every shadow that ran,
    with its final record, whenever it ends.
    """
    ready = clock.monotonic()
    records = []
    for pending in shadows:
        if pending.task is None:
            assert pending.record is not None
            records.append(pending.record)
            continue
        await _wait(pending.task, clock, pending.experiment.max_delay - (clock.monotonic() - ready))
        records.append(await _conclude_or_leave(pending, clock, on_done, keep))
    return tuple(records)


async def _wait(task: asyncio.Task[ShadowRecord], clock: Clock, seconds: float) -> None:
    if task.done() or seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        async with clock_timeout(clock, seconds):
            await asyncio.shield(task)


async def _conclude_or_leave(
    pending: PendingShadow,
    clock: Clock,
    on_done: Callable[[PendingShadow, ShadowRecord], None],
    keep: Callable[[Coroutine[Any, Any, None]], None],
) -> ShadowRecord:
    task = pending.task
    assert task is not None
    if task.done():
        record = task.result()
        on_done(pending, record)
        return record
    if pending.experiment.on_late is LateShadow.CANCEL:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        record = pending.cancelled_record(clock)
        on_done(pending, record)
        return record
    keep(_finish_later(pending, on_done))
    return ShadowRecord(pending.experiment.name, pending.experiment.vendor, "background")


async def _finish_later(
    pending: PendingShadow, on_done: Callable[[PendingShadow, ShadowRecord], None]
) -> None:
    assert pending.task is not None
    try:
        record = await pending.task
    except asyncio.CancelledError:
        return
    # The decision record has gone out saying "background"; this one is for the result store.
    on_done(pending, attrs.evolve(record, status="background"))


def cancel_all(
    shadows: list[PendingShadow], keep: Callable[[asyncio.Future[ShadowRecord]], None]
) -> None:
    """The live caller gave up: its shadows go too (``keep`` awaits their unwinding)."""
    for pending in shadows:
        if pending.task is not None and not pending.task.done():
            pending.task.cancel()
            keep(pending.task)
