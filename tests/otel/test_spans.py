"""The span tree and metrics of decisions, on fake vendors (httpx.MockTransport)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import kycmux
from kycmux import Evidence, Outcome, RetryPolicy, VendorSettings
from kycmux.testing import answer, make_rig, policy
from otel.otel_support import Collected, attributes

pytestmark = pytest.mark.anyio


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-1", id_number="11010519491231002X")


def _tree(collected: Collected) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (decision,) = collected.finished("kycmux.decision")
    attempts = collected.finished("kycmux.attempt")
    for attempt in attempts:
        assert attempt.parent is not None
        assert attempt.parent.span_id == decision.context.span_id
        assert attempt.context.trace_id == decision.context.trace_id
    return decision, attempts  # in the record's order: start order


async def test_an_accepted_decision_is_one_span_with_its_attempt(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    async with collected.attach(rig.engine(policy())) as engine:
        decision = await engine.verify(evidence, request_id="req-1")
    assert decision.outcome is Outcome.ACCEPT
    span, (attempt,) = _tree(collected)
    found = attributes(span)
    assert found["kycmux.outcome"] == "accept"
    assert found["kycmux.request_id"] == "req-1"
    assert found["kycmux.policy"] == "p"
    assert found["kycmux.check.liveness.verdict"] == "pass"
    assert span.status.status_code is trace.StatusCode.UNSET
    assert span.parent is None  # no caller span: a root
    assert span.end_time is not None
    assert span.start_time is not None
    took = (span.end_time - span.start_time) / 1e6
    assert took == pytest.approx(decision.record.duration_ms, abs=1e-3)
    one = attributes(attempt)
    assert one["kycmux.vendor"] == one["kycmux.vendor.plugin"] == "alpha"
    assert one["kycmux.checks"] == ("face_match", "liveness")
    assert one["http.response.status_code"] == 200
    assert one["kycmux.attempt"] == 1
    assert one["kycmux.attempt.role"] == "primary"
    assert one["kycmux.possibly_billed"] is True
    assert one["kycmux.outcome"] == "answered"
    assert "error.type" not in one
    assert attempt.kind is trace.SpanKind.CLIENT
    assert collected.sums("kycmux.decisions", "kycmux.outcome") == {("accept",): 1}
    assert collected.sums("kycmux.attempts", "kycmux.vendor", "error.type") == {("alpha", None): 1}
    ((_, latency),) = collected.points("kycmux.attempt.duration")
    assert latency.count == 1
    assert latency.sum == pytest.approx(decision.record.attempts[0].latency_ms / 1000)
    ((_, whole),) = collected.points("kycmux.decision.duration")
    assert whole.sum == pytest.approx(decision.record.duration_ms / 1000)


async def test_a_definitive_negative_has_one_attempt_span_and_no_failover(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    rig.script("alpha", answer("SPOOF"))
    async with collected.attach(rig.engine(policy())) as engine:
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.REJECT
    span, attempts = _tree(collected)
    assert [attributes(a)["kycmux.vendor"] for a in attempts] == ["alpha"]
    assert attributes(span)["kycmux.outcome"] == "reject"
    assert "liveness:alpha:SPOOF" in attributes(span)["kycmux.reasons"]
    assert attributes(attempts[0])["kycmux.check.liveness.verdict"] == "fail"
    assert collected.sums("kycmux.decisions", "kycmux.outcome") == {("reject",): 1}


async def test_failover_after_an_outage_has_every_attempt_with_its_error_class(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    rig.script("alpha", answer("DOWN"), answer("DOWN"), answer("DOWN"))
    async with rig.clock.autojump(), collected.attach(rig.engine(policy())) as engine:
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    _, attempts = _tree(collected)
    seen = [
        (a["kycmux.vendor"], a["kycmux.attempt"], a["kycmux.attempt.role"], a.get("error.type"))
        for a in map(attributes, attempts)
    ]
    outage = decision.record.attempts[0].error_class
    assert outage is not None
    assert seen == [
        ("alpha", 1, "primary", outage),
        ("alpha", 2, "retry", outage),
        ("alpha", 3, "retry", outage),
        ("beta", 1, "failover", None),
    ]
    assert [a.status.status_code for a in attempts] == [trace.StatusCode.ERROR] * 3 + [
        trace.StatusCode.UNSET
    ]
    assert collected.sums("kycmux.attempts", "kycmux.vendor", "error.type") == {
        ("alpha", outage): 3,
        ("beta", None): 1,
    }


class _Broken(kycmux.testing.FakeVendor):  # type: ignore[misc]
    """alpha, whose parse has a bug of its own."""

    @kycmux.hookimpl(tryfirst=True)
    def parse(self, vendor: kycmux.VendorSpec) -> None:
        if vendor.name == "alpha":
            raise ValueError("a bug")


async def test_a_plugin_error_names_the_plugin_and_hook_not_the_message(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    rig.vendors["alpha"] = _Broken("alpha", base_url="https://alpha.example.com")
    async with collected.attach(rig.engine(policy())) as engine:
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT  # beta answered
    _, attempts = _tree(collected)
    broken = attributes(attempts[0])
    assert broken["error.type"] == "plugin_error"
    assert broken["kycmux.plugin_error.hook"] == "parse"
    assert broken["kycmux.plugin_error.plugin"] == "alpha"
    assert broken["kycmux.plugin_error.exception"] == "ValueError"
    assert not any("a bug" in str(v) for a in attempts for v in attributes(a).values())
    assert collected.sums("kycmux.attempts", "kycmux.vendor", "error.type") == {
        ("alpha", "plugin_error"): 1,
        ("beta", None): 1,
    }


async def test_a_locked_subject_is_counted_and_its_decision_has_no_attempt(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    async with collected.attach(rig.engine(policy())) as engine:
        for _ in range(5):
            rig.script("alpha", answer("SPOOF"))
            await engine.verify(evidence)
        locked = await engine.verify(evidence)
    assert locked.reasons == ("subject_locked",)
    last = collected.finished("kycmux.decision")[-1]  # finished in order
    assert attributes(last)["kycmux.reasons"] == ("subject_locked",)
    assert attributes(last)["kycmux.attempts"] == 0
    assert collected.sums("kycmux.lockouts", "kycmux.policy") == {("p",): 1}
    assert collected.sums("kycmux.decisions", "kycmux.outcome") == {("reject",): 6}


async def test_breaker_transitions_reach_the_state_gauge(
    collected: Collected, evidence: Evidence
) -> None:
    rig = make_rig()
    no_retry = VendorSettings(retry=RetryPolicy(max_attempts=1))
    async with collected.attach(rig.engine(policy(vendors={"alpha": no_retry}))) as engine:
        for _ in range(5):
            rig.script("alpha", answer("DOWN"))
            await engine.verify(evidence)
        await engine.drain()
        state = {
            labels["kycmux.breaker.state"]: point.value
            for labels, point in collected.points("kycmux.breaker.state")
        }
        assert state == {"closed": 0, "open": 1, "half_open": 0}
        rig.clock.advance(16)
        await engine.verify(evidence)  # the probe answers: open, half-open, closed
        await engine.drain()
    state = {
        labels["kycmux.breaker.state"]: point.value
        for labels, point in collected.points("kycmux.breaker.state")
        if labels["kycmux.vendor"] == "alpha"
    }
    assert state == {"closed": 1, "open": 0, "half_open": 0}
    assert collected.sums("kycmux.breaker.transitions", "kycmux.breaker.state") == {
        ("open",): 1,
        ("half_open",): 1,
        ("closed",): 1,
    }


async def test_a_decision_inside_the_callers_span_is_its_child(
    collected: Collected, evidence: Evidence
) -> None:
    tracer = collected.tracer_provider.get_tracer("caller")
    rig = make_rig()
    async with collected.attach(rig.engine(policy())) as engine:
        with tracer.start_as_current_span("caller.request") as caller:
            await engine.verify(evidence)
        await engine.verify(evidence)  # outside it: a root of its own
    inside, outside = collected.finished("kycmux.decision")  # finished in order
    assert inside.parent is not None
    assert inside.parent.span_id == caller.get_span_context().span_id
    assert inside.context.trace_id == caller.get_span_context().trace_id
    assert outside.parent is None


def test_a_sync_decision_inside_the_callers_span_is_its_child(
    collected: Collected, evidence: Evidence
) -> None:
    """``verify_sync`` decides on its portal's event loop, on another thread: the caller's
    context still reaches the observers."""
    tracer = collected.tracer_provider.get_tracer("caller")
    rig = make_rig()
    with collected.attach(rig.engine(policy())) as engine:
        with tracer.start_as_current_span("caller.request") as caller:
            assert engine.verify_sync(evidence).outcome is Outcome.ACCEPT
        engine.verify_sync(evidence)
    inside, outside = collected.finished("kycmux.decision")  # finished in order
    assert inside.parent is not None
    assert inside.parent.span_id == caller.get_span_context().span_id
    assert outside.parent is None
    assert len(collected.finished("kycmux.attempt")) == 2


class _Failing(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0
        self.thread: str | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.thread = threading.current_thread().name
        raise ConnectionError("collector down")


class _Raising:
    @kycmux.hookimpl
    def on_decision(self) -> None:
        raise RuntimeError("observer bug")


@pytest.fixture
def failing(collected: Collected) -> _Failing:
    exporter = _Failing()
    collected.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_a_failing_exporter_or_raising_observer_never_changes_a_decision(
    collected: Collected, failing: _Failing, evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    rig.script("alpha", answer("SPOOF"))
    engine = rig.engine(policy())
    engine.host.register(_Raising(), "test.raising")
    async with collected.attach(engine):
        rejected = await engine.verify(evidence)
        accepted = await engine.verify(Evidence(selfie=evidence.selfie, subject_id="other"))
    assert (rejected.outcome, accepted.outcome) == (Outcome.REJECT, Outcome.ACCEPT)
    assert failing.calls > 0  # it was asked, and broke, on the observers' thread
    assert failing.thread != threading.current_thread().name
    assert len(collected.finished("kycmux.decision")) == 2  # the other processor still had them
    assert "test.raising.on_decision raised RuntimeError" in caplog.text


async def test_with_no_provider_and_no_environment_nothing_is_reported(
    evidence: Evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed plugin with no provider set and no ``OTEL_*``: inert."""
    from kycmux_otel import EnvProviders, Telemetry

    plugin = Telemetry(env=EnvProviders({}))
    rig = make_rig()
    engine = rig.engine(policy())
    engine.host.register(plugin, "test.otel")
    async with engine:
        await engine.verify(evidence)
    assert plugin._tracers == {}
    assert plugin._instruments == {}
