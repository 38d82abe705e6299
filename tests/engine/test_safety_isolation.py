"""A plugin cannot hurt anything but its own vendor's calls, and never passes for a vendor outage.

Defect 2 (issue 10): a slow parse held the event loop, so a decision ran past its deadline and
froze every other decision. Hook work now runs off the loop, bounded by the attempt's timeout.
Defect 5: a plugin's own exception was taken for a malformed answer (retried, maybe billed
twice, counted against the vendor's breaker) or escaped ``verify``. It is now ``plugin_error``:
never retried, never counted against the vendor, failed over, recorded with the plugin's name,
distribution and exception type, never the exception's message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import kycmux
from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    ErrorClass,
    Evidence,
    HttpClient,
    Outcome,
    PluginHost,
    Policy,
    Secret,
    SystemClock,
    VendorConfig,
    VendorSettings,
)
from kycmux.exceptions import PluginError
from kycmux.testing import CANARY, FakeVendor, answer, make_rig, policy

pytestmark = pytest.mark.anyio

# What a plugin bug might quote in its message: it must reach no log and no record.
PERSONAL = "司徒翾翀-330782196809174731"


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-iso")


class SlowParser(FakeVendor):
    """Parses correctly, but only after ``seconds`` of pure-Python work (holding the GIL in
    turns, like a quadratic reader) or of sleeping (like a plugin stuck on something)."""

    def __init__(self, name: str, seconds: float, *, busy: bool) -> None:
        super().__init__(name, base_url=f"https://{name}.example.com")
        self.seconds = seconds
        self.busy = busy

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="parse")
    def slow_parse(self) -> Iterator[None]:
        end = time.perf_counter() + self.seconds
        if self.busy:
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(self.seconds)
        return (yield)


class Broken(FakeVendor):
    """Raises, quoting personal data, in the hook named ``where``."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(name, base_url=f"https://{name}.example.com")
        self.where = where

    def _maybe_raise(self, hook: str) -> None:
        if hook == self.where:
            raise KeyError(PERSONAL)

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="build_request")
    def broken_build_request(self) -> Iterator[None]:
        self._maybe_raise("build_request")
        return (yield)

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="sign")
    def broken_sign(self) -> Iterator[None]:
        self._maybe_raise("sign")
        return (yield)

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="parse")
    def broken_parse(self) -> Iterator[None]:
        self._maybe_raise("parse")
        return (yield)

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="classify_error")
    def broken_classify_error(self) -> Iterator[None]:
        self._maybe_raise("classify_error")
        return (yield)


def real_time_engine(vendors: dict[str, FakeVendor], *policies: Policy) -> tuple[Engine, dict]:
    """An engine on the real clock over ``vendors``, answering as the rig's ``answer()``."""
    calls = dict.fromkeys(vendors, 0)

    def handle(request: httpx.Request) -> httpx.Response:
        calls[request.url.host.split(".")[0]] += 1
        return answer()

    host = PluginHost()
    for name, vendor in vendors.items():
        host.register(vendor, name, distribution=f"kycmux-fake-{name}")
    config = Config(
        vendors={
            name: VendorConfig(name, f"https://{name}.example.com", {"token": Secret(CANARY)})
            for name in vendors
        }
    )
    http = HttpClient.create(async_transport=httpx.MockTransport(handle))
    engine = Engine.from_config(
        config, host=host, http=http, clock=SystemClock(), policies=policies, record_key=b"k"
    )
    return engine, calls


class LoopWatch:
    """The longest the event loop went without running a 5 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - before - 0.005)

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def one_vendor(name: str, deadline: float, attempt_timeout: float = 5.0) -> Policy:
    return Policy(
        f"only_{name}",
        {Check.LIVENESS: CheckPolicy((name,))},
        deadline=deadline,
        vendors={name: VendorSettings(attempt_timeout=attempt_timeout)},
    )


@pytest.mark.parametrize("busy", [True, False], ids=["cpu-bound", "blocked"])
async def test_a_slow_parse_neither_stalls_the_loop_nor_outlives_the_deadline(
    evidence: Evidence, busy: bool
) -> None:
    slow = SlowParser("slow", 1.5, busy=busy)
    engine, _ = real_time_engine(
        {"slow": slow, "fast": FakeVendor("fast", base_url="https://fast.example.com")},
        one_vendor("slow", deadline=0.5),
        one_vendor("fast", deadline=0.5),
    )
    async with engine, LoopWatch() as watch:
        began = time.perf_counter()
        stuck = asyncio.ensure_future(engine.verify(evidence, policy="only_slow"))
        # Decisions on another vendor go on while the slow parse runs.
        others = [await engine.verify(evidence, policy="only_fast") for _ in range(20)]
        others_done = time.perf_counter() - began
        decision = await stuck
        took = time.perf_counter() - began
    # The busy plugin's thread runs on after its decision gave up: let it end before the
    # next test, which it would slow down.
    await asyncio.sleep(max(0.0, 1.5 - (time.perf_counter() - began)))
    assert all(d.outcome is Outcome.ACCEPT for d in others)
    assert others_done < 0.5  # before the slow decision's deadline; it took 1.5 s before
    assert decision.outcome is Outcome.ERROR
    assert took < 0.5 + 0.3  # the deadline held (it was 1.5 s and more before)
    # Off the loop: a 1.5 s parse left the loop idle for well under its switch interval
    # times a few, not for 1.5 s.
    assert watch.worst < 0.25


async def test_a_plugin_overrunning_its_attempt_leaves_the_answer_unread_without_failover(
    evidence: Evidence,
) -> None:
    slow = SlowParser("slow", 1.5, busy=False)
    fast = FakeVendor("fast", base_url="https://fast.example.com")
    failover = Policy(
        "failover",
        {Check.LIVENESS: CheckPolicy(("slow", "fast"))},
        deadline=2.0,
        vendors={"slow": VendorSettings(attempt_timeout=0.3)},
    )
    engine, calls = real_time_engine({"slow": slow, "fast": fast}, failover)
    async with engine:
        began = time.perf_counter()
        decision = await engine.verify(evidence)
        took = time.perf_counter() - began
    # The vendor answered; what it said is unknown (it may have been "not live"), so no
    # other vendor is asked, and the attempt ends at its own budget, not at the deadline.
    assert decision.outcome is Outcome.ERROR
    assert calls == {"slow": 1, "fast": 0}
    assert took < 0.3 + 0.3
    first = decision.record.attempts[0]
    assert (first.vendor, first.error_class) == ("slow", "answer_unread")
    assert first.possibly_billed
    assert first.plugin is not None
    assert (first.plugin["hook"], first.plugin["exception"]) == ("parse", "Timeout")


class LoopStaller(FakeVendor):
    """Reads the answer at once, then holds the event loop (as a busy neighbour would)."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name, base_url=f"https://{name}.example.com")
        self.loop = loop

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="parse")
    def read_while_the_loop_stalls(self) -> Iterator[None]:
        result = yield
        self.loop.call_soon_threadsafe(time.sleep, 0.4)
        time.sleep(0.05)  # done well within the budget, while the loop is held
        return result


async def test_a_late_event_loop_does_not_lose_an_answer_already_read(
    evidence: Evidence,
) -> None:
    """The answer was read in time, but the loop was held past the attempt's budget before it
    could take it: the answer counts."""
    staller = LoopStaller("alpha", asyncio.get_running_loop())
    engine, _ = real_time_engine({"alpha": staller}, one_vendor("alpha", 2.0, attempt_timeout=0.2))
    async with engine:
        decision = await engine.verify(evidence)
    assert decision.record.attempts[0].error_class is None
    assert decision.outcome is Outcome.ACCEPT


@pytest.mark.parametrize("where", ["build_request", "sign", "parse", "classify_error"])
async def test_a_plugin_bug_fails_over_without_retry_or_blame_on_the_vendor(
    evidence: Evidence, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    broken = Broken("alpha", where)
    rig.vendors["alpha"] = broken
    if where == "classify_error":
        rig.script("alpha", answer("DOWN"))  # classify_error runs on failures only
    engine = rig.engine(policy())
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    # Never retried: a request that reached the vendor was sent exactly once.
    assert rig.calls["alpha"] == (0 if where in ("build_request", "sign") else 1)
    assert rig.calls["beta"] == 1
    stats = engine.breaker("alpha").stats()
    assert stats.failures == 0
    recorded = decision.record.to_dict()
    before_sending = where in ("build_request", "sign")  # refused while planning
    entries = recorded["skipped"] if before_sending else recorded["attempts"]
    fault = next(e["plugin"] for e in entries if e["vendor"] == "alpha")
    assert fault["hook"] == where
    assert fault["plugin"] == "alpha"
    assert fault["exception"] == "KeyError"
    text = json.dumps(recorded, ensure_ascii=False) + caplog.text
    assert PERSONAL not in text
    assert "plugin alpha" in caplog.text


async def test_the_record_names_the_distribution_of_the_faulty_plugin(evidence: Evidence) -> None:
    broken = Broken("alpha", "parse")
    engine, calls = real_time_engine(
        {"alpha": broken, "beta": FakeVendor("beta", base_url="https://beta.example.com")},
        policy(),
    )
    async with engine:
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    fault = decision.record.attempts[0].plugin
    assert fault is not None
    assert fault["distribution"] == "kycmux-fake-alpha"
    assert decision.record.attempts[0].error_class == ErrorClass.PLUGIN_ERROR.value
    assert calls == {"alpha": 1, "beta": 1}


class RaisingWrapper:
    """A cross-cutting plugin (no vendors) whose parse wrapper is the one that breaks."""

    @kycmux.hookimpl(wrapper=True)
    def parse(self) -> Iterator[None]:
        yield
        raise ValueError(PERSONAL)


async def test_a_cross_cutting_plugin_is_blamed_for_its_own_bug(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    engine.host.register(RaisingWrapper(), "meddler", distribution="kycmux-meddler")
    decision = await engine.verify(evidence)
    fault = decision.record.attempts[0].plugin
    assert fault is not None
    assert (fault["plugin"], fault["distribution"]) == ("meddler", "kycmux-meddler")
    # Every vendor's parse goes through the meddler: no vendor could answer, and neither
    # vendor's breaker holds it against them.
    assert decision.outcome is Outcome.ERROR
    assert engine.breaker("alpha").stats().failures == 0
    assert "plugin_error:meddler:parse:ValueError" in decision.record.explanation


async def test_plugin_error_names_the_plugin_on_the_sync_api(evidence: Evidence) -> None:
    class Silent(FakeVendor):
        @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="build_request")
        def silent_build_request(self) -> Iterator[None]:
            yield
            return None

    host = PluginHost()
    host.register(Silent("alpha"), "alpha-plugin")
    config = VendorConfig("alpha", "https://api.example.com", {"token": Secret(CANARY)})
    client = kycmux.VendorClient(host, {"alpha": config}, HttpClient.create())
    with pytest.raises(PluginError) as raised:
        client.prepare("alpha", frozenset({Check.LIVENESS}), evidence, "req")
    assert raised.value.plugin == "alpha-plugin"
    assert "build_request" in str(raised.value)


class BrokenOnFaceMatch(FakeVendor):
    """Normalizes liveness fine, raises on face match's score."""

    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="normalize_score")
    def broken_normalize(self, check: Check) -> Iterator[None]:
        if check is Check.FACE_MATCH:
            raise RuntimeError(PERSONAL)
        return (yield)


async def test_a_bug_on_one_check_keeps_the_other_checks_negative(evidence: Evidence) -> None:
    rig = make_rig()
    rig.vendors["alpha"] = BrokenOnFaceMatch("alpha", base_url="https://alpha.example.com")
    rig.script("alpha", answer(live=False))
    decision = await rig.engine(policy()).verify(evidence)
    # Liveness said "not live": the face-match bug cannot turn that into a failover.
    assert decision.outcome is Outcome.REJECT
    assert rig.calls == {"alpha": 1, "beta": 0}
    verdicts = decision.record.attempts[0].verdicts
    assert verdicts == {"liveness": "fail", "face_match": "error"}


class SlowBuilder(FakeVendor):
    @kycmux.hookimpl(tryfirst=True, wrapper=True, specname="build_request")
    def slow_build(self) -> Iterator[None]:
        time.sleep(1.0)
        return (yield)


async def test_a_slow_build_is_passed_over_and_the_deadline_still_decides(
    evidence: Evidence,
) -> None:
    slow, fast = SlowBuilder("slow"), FakeVendor("fast", base_url="https://fast.example.com")
    failover = Policy(
        "failover",
        {Check.LIVENESS: CheckPolicy(("slow", "fast"))},
        deadline=2.0,
        vendors={"slow": VendorSettings(attempt_timeout=0.2)},
    )
    alone = Policy("alone", {Check.LIVENESS: CheckPolicy(("slow",))}, deadline=0.3, lockout=None)
    engine, calls = real_time_engine({"slow": slow, "fast": fast}, failover, alone)
    async with engine:
        passed_over = await engine.verify(evidence, policy="failover")
        # Here the deadline ends the decision while the request is still being built: a
        # decision (error), not an exception escaping verify.
        timed_out = await engine.verify(evidence, policy="alone")
    assert passed_over.outcome is Outcome.ACCEPT
    assert calls == {"slow": 0, "fast": 1}
    (skip,) = [s for s in passed_over.record.skipped if s.vendor == "slow"]
    assert skip.plugin is not None
    assert skip.plugin["exception"] == "Timeout"
    assert timed_out.outcome is Outcome.ERROR
    assert timed_out.reasons == ("liveness:deadline_exceeded",)


class SlowObserver:
    def __init__(self) -> None:
        self.seen = 0

    @kycmux.hookimpl
    def on_attempt(self) -> None:
        time.sleep(0.5)
        self.seen += 1


async def test_a_slow_observer_delays_no_decision(evidence: Evidence) -> None:
    engine, _ = real_time_engine(
        {"fast": FakeVendor("fast", base_url="https://fast.example.com")},
        one_vendor("fast", deadline=0.5),
    )
    observer = SlowObserver()
    engine.host.register(observer, "slow-observer")
    async with engine, LoopWatch() as watch:
        began = time.perf_counter()
        decisions = [await engine.verify(evidence) for _ in range(3)]
        took = time.perf_counter() - began
        assert observer.seen < 3  # still observing: the decisions did not wait for it
        await engine.drain()
    assert observer.seen == 3
    assert all(d.outcome is Outcome.ACCEPT for d in decisions)
    assert took < 0.5  # three 0.5 s observations did not enter the decisions' time
    assert watch.worst < 0.25
