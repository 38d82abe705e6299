"""Observers see the caller's context, and breaker transitions reach the observer hook."""

from __future__ import annotations

import contextvars
from pathlib import Path

import pytest

import kycmux
from kycmux import AttemptRecord, DecisionRecord, Evidence, RetryPolicy, VendorSettings
from kycmux.testing import answer, make_rig, policy

pytestmark = pytest.mark.anyio

CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="none")


class Watcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.transitions: list[tuple[str, str, str]] = []

    @kycmux.hookimpl
    def on_attempt(self, record: AttemptRecord) -> None:
        self.seen.append(("attempt", CALLER.get()))

    @kycmux.hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        self.seen.append(("decision", CALLER.get()))

    @kycmux.hookimpl
    def on_breaker_transition(self, vendor: str, old: str, new: str, at: float) -> None:
        assert isinstance(at, float)
        self.transitions.append((vendor, old, new))


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


async def test_observers_run_in_the_callers_context(evidence: Evidence) -> None:
    watcher = Watcher()
    engine = make_rig().engine(policy())
    engine.host.register(watcher, "watcher")
    async with engine:
        CALLER.set("request-a")
        await engine.verify(evidence)
        CALLER.set("request-b")
        await engine.verify(evidence)
    assert watcher.seen == [
        ("attempt", "request-a"),
        ("decision", "request-a"),
        ("attempt", "request-b"),
        ("decision", "request-b"),
    ]


def test_sync_observers_run_in_the_calling_threads_context(evidence: Evidence) -> None:
    watcher = Watcher()
    with make_rig().engine(policy()) as engine:
        engine.host.register(watcher, "watcher")
        token = CALLER.set("sync-caller")
        try:
            engine.verify_sync(evidence)
        finally:
            CALLER.reset(token)
    assert watcher.seen == [("attempt", "sync-caller"), ("decision", "sync-caller")]


async def test_breaker_transitions_reach_on_breaker_transition(evidence: Evidence) -> None:
    rig = make_rig()
    watcher = Watcher()
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    engine = rig.engine(policy(vendors={"alpha": no_retry}))
    engine.host.register(watcher, "watcher")
    async with engine:
        for _ in range(5):
            rig.script("alpha", answer("DOWN"))
            await engine.verify(evidence)
        rig.clock.advance(16)
        await engine.verify(evidence)
    assert watcher.transitions == [
        ("alpha", "closed", "open"),
        ("alpha", "open", "half_open"),
        ("alpha", "half_open", "closed"),
    ]
