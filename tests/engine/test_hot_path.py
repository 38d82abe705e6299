"""The engine's hot path: work a decision does not need is not done, and nothing else changes.

Failing over past an open breaker builds nothing for the skipped vendor; a record nobody
observes wakes no thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kycmux
from kycmux import (
    Check,
    Evidence,
    Outcome,
    PluginHost,
    RetryPolicy,
    VendorRequest,
    VendorSettings,
    VendorSpec,
)
from kycmux._records._observers import Observers
from kycmux._records._sink import JsonLinesSink
from kycmux.exceptions import InvalidEvidenceError
from kycmux.testing import FakeVendor, answer, make_rig, policy

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


class _Picky(FakeVendor):
    """A fake vendor whose local limits refuse the evidence once ``picky`` is set."""

    picky = False

    @kycmux.hookimpl
    def build_request(self, vendor: VendorSpec, checks: frozenset[Check]) -> VendorRequest:
        if self.picky:
            raise InvalidEvidenceError("selfie", "too small for this test", vendor=vendor.name)
        return super().build_request(vendor, checks)


async def test_evidence_only_a_skipped_vendor_would_refuse_is_a_decision(
    evidence: Evidence,
) -> None:
    """The documented trade-off: an open breaker's vendor is not asked its local limits."""
    rig = make_rig()
    rig.vendors = {n: _Picky(n, base_url=f"https://{n}.example.com") for n in ("alpha", "beta")}
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    engine = rig.engine(policy(vendors={"alpha": no_retry}))
    for _ in range(5):
        rig.script("alpha", answer("DOWN"))
        await engine.verify(evidence)
    for picky in rig.vendors.values():
        picky.picky = True  # type: ignore[attr-defined]
    decision = await engine.verify(evidence)  # alpha open: only beta's limits were asked
    assert decision.outcome is Outcome.ERROR
    reasons = {(s.vendor, s.reason.split(":")[0]) for s in decision.record.skipped}
    assert reasons == {("alpha", "circuit_open"), ("beta", "local_validation")}
    rig.clock.advance(16)  # alpha may be probed again: both are asked, both refuse
    with pytest.raises(InvalidEvidenceError):
        await engine.verify(evidence)


class _Counting:
    def __init__(self) -> None:
        self.posted: list[str] = []

    def post(self, lane: str, run: object, observe: object, hook: str, *arguments: object) -> None:
        self.posted.append(hook)


def test_a_record_nobody_observes_wakes_no_thread(tmp_path: Path) -> None:
    observers = Observers(PluginHost())
    runner = _Counting()
    observers._runner = runner  # type: ignore[assignment]
    observers.post("on_attempt", object())
    observers.post("on_decision", object())
    assert runner.posted == []
    sink = JsonLinesSink(tmp_path / "records.jsonl")
    observers.add_sink(sink)
    observers.post("on_attempt", object())
    observers.post("on_decision", object())
    assert runner.posted == []  # offered to the sink's own queue, on this thread
    assert sink.flush()
    assert sink.written + sink.lost == 1  # the sink still gets every decision
    sink.close()
