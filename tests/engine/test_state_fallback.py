"""What an engine does when its shared state store fails: unit cases, no server.

``Flaky`` is a shared store (a ``MemoryState`` saying it is shared) whose calls can be made to
fail or to hang. The same behaviour against a real Redis that is stopped, paused or slow is in
``tests/state/test_engine_redis.py``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

import kycmux
from kycmux import Check, CheckPolicy, Config, Engine, Evidence, Outcome, VendorResilience
from kycmux.exceptions import ConfigError, InvalidEvidenceError, StateUnavailableError
from kycmux.resilience import LockoutSettings, RateLimitSettings
from kycmux.state import Admission, MemoryState, SharedState
from kycmux.testing import FakeVendor, answer, make_rig, policy

pytestmark = pytest.mark.anyio


@attrs.define(eq=False)
class Flaky(MemoryState):
    """A shared store whose calls fail (``down``) or never answer (``hung``)."""

    down: bool = False
    hung: bool = False
    garbled: bool = False
    failing: set[str] = attrs.field(factory=set)
    asked: list[str] = attrs.field(factory=list)

    @property
    def shared(self) -> bool:
        return True

    async def _gate(self, operation: str) -> None:
        self.asked.append(operation)
        if self.hung:
            await asyncio.sleep(3600)
        if self.garbled:
            raise ValueError("a reply the store could not read")
        if self.down or operation in self.failing:
            raise StateUnavailableError(operation, "ConnectionError")

    async def subject(self, subject: str) -> Any:
        await self._gate("subject")
        return await super().subject(subject)

    async def count(self, subject: str, event: Any, settings: LockoutSettings) -> Any:
        await self._gate("count")
        return await super().count(subject, event, settings)

    async def admit(self, vendor: str, settings: Any, *, first: bool, max_wait: float) -> Admission:
        await self._gate("admit")
        return await super().admit(vendor, settings, first=first, max_wait=max_wait)

    async def settle(self, vendor: str, settings: Any, admission: Admission, outcome: Any) -> None:
        await self._gate("settle")
        await super().settle(vendor, settings, admission, outcome)


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1")


def test_the_contract_is_met_by_both_stores() -> None:
    assert isinstance(MemoryState(), SharedState)
    assert isinstance(Flaky(), SharedState)


async def test_a_store_down_fails_the_lockout_closed_by_default(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, down=True)
    engine = rig.engine(policy(), state=state)
    decision = await engine.verify(evidence)
    assert (decision.outcome, decision.reasons) == (Outcome.ERROR, ("lockout_unavailable",))
    assert rig.calls == {"alpha": 0, "beta": 0}  # nothing sent
    assert decision.record.degraded == ("lockout",)
    assert "fails closed" in decision.record.explanation
    assert engine.state_fallbacks == {"subject": 1}


async def test_a_store_down_with_lockout_open_decides_on_local_state(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, down=True)
    engine = rig.engine(policy(lockout=LockoutSettings(unavailable="open")), state=state)
    decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert decision.record.degraded == ("breaker_and_rate_limit", "lockout")
    explanation = decision.record.explanation
    assert "the subject lockout was not applied" in explanation
    assert "own breaker and rate limit were used" in explanation
    # The breaker that counted the call is this process's own.
    assert engine.breaker("alpha").stats().calls == 1


async def test_after_a_failure_the_store_is_left_alone_for_a_while(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, down=True)
    engine = rig.engine(policy(lockout=LockoutSettings(unavailable="open")), state=state)
    await engine.verify(evidence)
    asked = len(state.asked)
    await engine.verify(evidence)
    assert len(state.asked) == asked  # the quiet second: not asked again
    state.down = False
    rig.clock.advance(1.0)
    decision = await engine.verify(evidence)
    assert decision.record.degraded == ()
    assert len(state.asked) > asked


async def test_a_hung_store_costs_one_bounded_wait_not_the_deadline(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, hung=True)
    engine = rig.engine(
        policy(lockout=LockoutSettings(unavailable="open"), deadline=5.0), state=state
    )
    began = time.monotonic()
    decision = await engine.verify(evidence)
    # One state_timeout (0.5 s real time) for the lockout, then the quiet period.
    assert time.monotonic() - began < 2.0
    assert decision.outcome is Outcome.ACCEPT
    assert "lockout" in decision.record.degraded
    assert engine.state_fallbacks["subject"] == 1


async def test_a_lost_settlement_is_counted_not_raised(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, failing={"settle"})
    engine = rig.engine(policy(), state=state)
    decision = await engine.verify(evidence)
    await engine.drain()  # the settlement goes on in the background
    assert decision.outcome is Outcome.ACCEPT
    # In the record only when it failed before the decision ended; always in the metric.
    assert decision.record.degraded in ((), ("breaker_outcome",))
    assert engine.state_fallbacks == {"settle": 1}


async def test_a_failure_is_counted_for_the_lockout_through_the_store(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock)
    first, second = rig.engine(policy(), state=state), rig.engine(policy(), state=state)
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        assert (await first.verify(evidence)).outcome is Outcome.REJECT
    locked = await second.verify(evidence)
    assert locked.reasons == ("subject_locked",)


async def test_a_pass_with_nothing_counted_writes_nothing(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock)
    engine = rig.engine(policy(), state=state)
    await engine.verify(evidence)
    await engine.drain()  # the settlement goes on in the background
    assert state.asked == ["subject", "admit", "settle"]  # three round trips, no count


def test_a_shared_store_needs_a_record_key() -> None:
    rig = make_rig()
    with pytest.raises(ConfigError) as info:
        rig.engine(policy(), state=Flaky(rig.clock), record_key=None)
    assert info.value.key == "engine.record_key"


@pytest.mark.parametrize(
    ("table", "key", "rule"),
    [
        ({"state": "http://127.0.0.1:6379"}, "engine.state", "redis://"),
        ({"state": "redis://:6379/0"}, "engine.state", "redis://host"),
        ({"state": "redis://127.0.0.1:port/0"}, "engine.state", "redis://host"),
        ({"state": "unix://"}, "engine.state", "unix:///path"),
        ({"state_namespace": "two words"}, "engine.state_namespace", "without spaces"),
        ({"state_timeout": 0}, "engine.state_timeout", "positive number of seconds"),
    ],
)
def test_state_settings_are_checked(table: dict[str, Any], key: str, rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_mapping({"engine": table}, {})
    assert info.value.key == key
    assert rule in info.value.rule


def test_the_state_url_may_come_from_a_variable_and_is_never_shown() -> None:
    url = "redis://:hunter2-redis@127.0.0.1:6379/0"
    config = Config.from_mapping({"engine": {"state": "${REDIS}"}}, {}, {"REDIS": url})
    assert config.engine.state == url
    assert "hunter2" not in repr(config.engine)
    assert "hunter2" not in repr(config)


def test_lockout_unavailable_takes_closed_or_open() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(
            {"policies": {"p": {"liveness": {"vendors": ["x"]}, "lockout": {"unavailable": "no"}}}},
            {},
        )
    assert info.value.key == "policies.p.lockout.unavailable"
    assert "must be one of closed, open" in info.value.rule


def test_engine_takes_a_state_object() -> None:
    rig = make_rig()
    engine: Engine = rig.engine(policy(), state=Flaky(rig.clock))
    assert engine.state_fallbacks == {}


async def test_the_lockout_check_is_part_of_the_deadline(evidence: Evidence) -> None:
    rig = make_rig()
    state = Flaky(rig.clock, hung=True)
    # A deadline far shorter than state_timeout (0.5 s): the check gets what is left of it.
    engine = rig.engine(policy(deadline=0.001), state=state)
    began = time.monotonic()
    decision = await engine.verify(evidence)
    assert time.monotonic() - began < 0.09
    assert decision.reasons == ("lockout_unavailable",)


@pytest.mark.parametrize("unavailable", ["closed", "open"])
async def test_a_store_that_breaks_in_any_way_is_unavailable(
    evidence: Evidence, unavailable: str
) -> None:
    """Not only the store's own error: whatever it raises falls back or fails closed."""
    rig = make_rig()
    state = Flaky(rig.clock, garbled=True)
    lockout = LockoutSettings(unavailable=unavailable)  # type: ignore[arg-type]
    engine = rig.engine(policy(lockout=lockout), state=state)
    decision = await engine.verify(evidence)
    if unavailable == "closed":
        assert decision.reasons == ("lockout_unavailable",)
    else:
        assert decision.outcome is Outcome.ACCEPT
        assert decision.record.degraded == ("breaker_and_rate_limit", "lockout")


async def test_a_pause_heard_while_waiting_for_a_token_holds_the_call(png_file: Path) -> None:
    """The token came due at 1.0, but the vendor ordered a 5 s pause at 0.5: no call before
    5.5 (as ``RateLimiter.acquire`` does on its own)."""
    rig = make_rig()

    async def limited(clock: Any) -> Any:
        await clock.sleep(0.5)
        return answer("LIMIT")

    rig.script("alpha", limited, answer(), answer())
    limits = RateLimitSettings(rate=1.0, burst=1, pause_on_limit=5.0)
    engine = rig.engine(
        policy(deadline=20.0, checks={Check.LIVENESS: CheckPolicy(("alpha",))}),
        resilience={"alpha": VendorResilience(rate_limit=limits)},
    )
    start = rig.clock.time()
    async with rig.clock.autojump(idle_for=0.01):
        first = asyncio.ensure_future(engine.verify(Evidence(selfie=png_file, subject_id="a")))
        # The first call must hold the one token (and get the LIMIT answer): the second
        # decision starts only once that call reached the vendor, whatever the threads do.
        for _ in range(100_000):
            if rig.calls["alpha"]:
                break
            await asyncio.sleep(0)
        assert rig.calls["alpha"] == 1
        second = await engine.verify(Evidence(selfie=png_file, subject_id="b"))
        await first
    (call,) = second.record.attempts
    assert call.started_at - start >= 5.5


class _Refusing(FakeVendor):
    """Refuses every selfie locally (as a vendor with a size limit refuses a larger one)."""

    @kycmux.hookimpl(tryfirst=True, specname="build_request")
    def refuse(self) -> None:
        raise InvalidEvidenceError("selfie", "file is over this vendor's limit", vendor=self.name)


async def test_with_a_shared_store_a_lock_outranks_evidence_no_vendor_takes(
    evidence: Evidence,
) -> None:
    """The lockout is asked while the run plans; a refusal of the evidence found by the plan
    must not hide that the subject is locked."""
    rig = make_rig()
    state = Flaky(rig.clock)
    locking = rig.engine(policy(), state=state)
    for _ in range(5):
        rig.script("alpha", answer("SPOOF"))
        await locking.verify(evidence)
    for name in ("alpha", "beta"):
        rig.vendors[name] = _Refusing(name, base_url=f"https://{name}.example.com")
    refusing = rig.engine(policy(), state=state)
    locked = await refusing.verify(evidence)
    assert locked.reasons == ("subject_locked",)
    with pytest.raises(InvalidEvidenceError):  # a subject that is not locked: the refusal
        await refusing.verify(Evidence(selfie=evidence.selfie, subject_id="someone-else"))
