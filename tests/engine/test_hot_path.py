"""The engine's hot path: work a decision does not need is not done, and nothing else changes.

Failing over past an open breaker builds nothing for the skipped vendor; a record nobody
observes wakes no thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kycmux import Evidence, Outcome, PluginHost, RetryPolicy, VendorSettings
from kycmux._records._observers import Observers
from kycmux._records._sink import JsonLinesSink
from kycmux.testing import answer, make_rig, policy

pytestmark = pytest.mark.anyio


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file)


def _builds(rig: object, vendor: str) -> int:
    calls = rig.vendors[vendor].calls  # type: ignore[attr-defined]
    return sum(1 for hook, name in calls if (hook, name) == ("build_request", vendor))


async def test_failover_past_an_open_breaker_builds_nothing_for_it(evidence: Evidence) -> None:
    rig = make_rig()
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    engine = rig.engine(policy(vendors={"alpha": no_retry}))
    for _ in range(5):
        rig.script("alpha", answer("DOWN"))
        assert (await engine.verify(evidence)).outcome is Outcome.ACCEPT  # via beta
    assert engine.breaker("alpha").retry_after() > 0  # open
    built, called = _builds(rig, "alpha"), rig.calls["alpha"]
    decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert _builds(rig, "alpha") == built  # not built, not signed, not sent
    assert rig.calls["alpha"] == called
    assert {(s.vendor, s.reason) for s in decision.record.skipped} == {("alpha", "circuit_open")}
    assert [a.vendor for a in decision.record.attempts] == ["beta"]
    rig.clock.advance(16)  # the cool-down is over: the probe is built and sent
    await engine.verify(evidence)
    assert _builds(rig, "alpha") == built + 1
    assert rig.calls["alpha"] == called + 1


class _Counting:
    def __init__(self) -> None:
        self.posted: list[str] = []

    def post(self, lane: str, fn: object, hook: str, record: object) -> None:
        self.posted.append(hook)


def test_a_record_nobody_observes_wakes_no_thread(tmp_path: Path) -> None:
    observers = Observers(PluginHost())
    runner = _Counting()
    observers._runner = runner  # type: ignore[assignment]
    observers.post("on_attempt", object())
    observers.post("on_decision", object())
    assert runner.posted == []
    observers.add_sink(JsonLinesSink(tmp_path / "records.jsonl"))
    observers.post("on_attempt", object())
    observers.post("on_decision", object())
    assert runner.posted == ["on_decision"]  # the sink still gets every decision
