"""The observer plugin: a span tree and metrics from each record, on kycmux's observer thread.

Spans are drawn after the fact from the decision record, with the record's own times, so the
decision's hot path carries nothing of tracing: the engine runs observers after the decision,
off its time, in a copy of the caller's context, which is where the decision span's parent
(the caller's current span, if any) comes from. With no provider anywhere, the plugin says so
through ``observes`` and the engine does not even hand it the records (no thread woken for
it); a provider the application sets later is seen at the next record.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from kycmux import AttemptRecord, DecisionRecord, hookimpl
from kycmux_otel import _attributes as attributes
from kycmux_otel._setup import EnvProviders, app_meter_provider, app_tracer_provider

if TYPE_CHECKING:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["BREAKER_STATES", "Telemetry"]

_SCOPE = "kycmux_otel"
BREAKER_STATES = ("closed", "open", "half_open")
_LOCKED = "subject_locked"
_ERROR_OUTCOMES = frozenset({"error"})


class _Instruments:
    """kycmux's instruments on one meter (one set per meter provider)."""

    def __init__(self, meter: metrics.Meter, breakers: dict[str, str]) -> None:
        self._breakers = breakers
        self.decisions = meter.create_counter(
            "kycmux.decisions", unit="{decision}", description="Decisions, by outcome."
        )
        self.decision_duration = meter.create_histogram(
            "kycmux.decision.duration", unit="s", description="Wall time of a decision."
        )
        self.attempts = meter.create_counter(
            "kycmux.attempts",
            unit="{attempt}",
            description="Vendor attempts, by vendor and error class.",
        )
        self.attempt_duration = meter.create_histogram(
            "kycmux.attempt.duration", unit="s", description="Wall time of a vendor attempt."
        )
        self.lockouts = meter.create_counter(
            "kycmux.lockouts",
            unit="{decision}",
            description="Decisions refused because the subject is locked out.",
        )
        self.shadow_results = meter.create_counter(
            "kycmux.shadow.results",
            unit="{result}",
            description="Shadow vendor results, by vendor and agreement with the live outcome.",
        )
        self.breaker_transitions = meter.create_counter(
            "kycmux.breaker.transitions",
            unit="{transition}",
            description="Circuit breaker transitions, by vendor and state entered.",
        )
        meter.create_observable_gauge(
            "kycmux.breaker.state",
            callbacks=[self._breaker_state],
            unit="1",
            description="1 for the state each vendor's breaker is in, 0 for the others.",
        )

    def _breaker_state(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        for vendor, current in list(self._breakers.items()):
            for state in BREAKER_STATES:
                yield Observation(
                    int(state == current),
                    {"kycmux.vendor": vendor, "kycmux.breaker.state": state},
                )


class Telemetry:
    """The kycmux observer plugin reporting to OpenTelemetry.

    The entry point registers one built from the environment; tests and applications wanting
    their own providers (without making them global) pass them.

    Attributes:
        tracer_provider: Providers to use instead of the application's global ones (and of
            the environment's).
        meter_provider: As ``tracer_provider``, for metrics.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        env: EnvProviders | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._env = EnvProviders() if env is None else env
        self._lock = threading.Lock()
        self._tracers: dict[int, trace.Tracer] = {}
        self._instruments: dict[int, _Instruments] = {}
        self._breakers: dict[str, str] = {}

    # the hooks -------------------------------------------------------------------------

    @hookimpl
    def observes(self, hook: str) -> bool:
        """Whether there is anywhere to report ``hook``'s observation to, answered at once.

        Yes with providers of our own or an application's global ones (a ``sys.modules``
        lookup and a type check), and while the environment's are not built yet: building
        them may import the SDK, which happens in the observer hook, on the observers'
        thread, never here. No once the environment gave nothing and no provider is set.
        Breaker transitions are always taken (they are rare): the state gauge must know every
        vendor's state when a meter provider appears later.
        """
        if hook == "on_breaker_transition":
            return True
        if self._may_meter():
            return True
        return hook != "on_attempt" and self._may_trace()  # attempts are metrics only here

    def _may_meter(self) -> bool:
        if self.meter_provider is not None or app_meter_provider() is not None:
            return True
        return not self._env.resolved or self._env.meter_provider() is not None

    def _may_trace(self) -> bool:
        if self.tracer_provider is not None or app_tracer_provider() is not None:
            return True
        return not self._env.resolved or self._env.tracer_provider() is not None

    @hookimpl
    def on_attempt(self, record: AttemptRecord) -> None:
        found = self._metrics()
        if found is None:
            return
        labels = attributes.attempt_metric_attributes(record)
        found.attempts.add(1, labels)
        found.attempt_duration.record(record.latency_ms / 1000.0, labels)

    @hookimpl
    def on_decision(self, record: DecisionRecord) -> None:
        tracer = self._tracer()
        if tracer is not None:
            self._spans(tracer, record)
        found = self._metrics()
        if found is not None:
            self._count(found, record)

    @hookimpl
    def on_breaker_transition(self, vendor: str, old: str, new: str, at: float) -> None:
        self._breakers[vendor] = new
        found = self._metrics()
        if found is not None:
            found.breaker_transitions.add(1, {"kycmux.vendor": vendor, "kycmux.breaker.state": new})

    # where to report -------------------------------------------------------------------

    def _tracer(self) -> trace.Tracer | None:
        provider = self.tracer_provider or app_tracer_provider() or self._env.tracer_provider()
        if provider is None:
            return None
        tracer = self._tracers.get(id(provider))
        if tracer is None:
            with self._lock:
                tracer = provider.get_tracer(_SCOPE, _version())
                self._tracers[id(provider)] = tracer
        return tracer

    def _metrics(self) -> _Instruments | None:
        provider = self.meter_provider or app_meter_provider() or self._env.meter_provider()
        if provider is None:
            return None
        found = self._instruments.get(id(provider))
        if found is None:
            with self._lock:
                meter = provider.get_meter(_SCOPE, _version())
                found = _Instruments(meter, self._breakers)
                self._instruments[id(provider)] = found
        return found

    # what to report --------------------------------------------------------------------

    def _spans(self, tracer: trace.Tracer, record: DecisionRecord) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        # The observer runs in the caller's context: its current span is the parent.
        span = tracer.start_span(
            "kycmux.decision",
            context=otel_context.get_current(),
            attributes=attributes.decision_attributes(record),
            start_time=_ns(record.started_at),
        )
        if record.outcome in _ERROR_OUTCOMES:
            span.set_status(trace.StatusCode.ERROR)
        inside = trace.set_span_in_context(span)
        self._attempt_spans(tracer, record.attempts, inside)
        for shadow in record.shadow:
            start = shadow.attempts[0].started_at if shadow.attempts else record.started_at
            child = tracer.start_span(
                "kycmux.shadow",
                context=inside,
                attributes=attributes.shadow_attributes(shadow, record.outcome),
                start_time=_ns(start),
            )
            self._attempt_spans(tracer, shadow.attempts, trace.set_span_in_context(child))
            child.end(end_time=_ns(start + (shadow.duration_ms or 0.0) / 1000.0))
        span.end(end_time=_ns(record.started_at + record.duration_ms / 1000.0))

    def _attempt_spans(
        self,
        tracer: trace.Tracer,
        attempts: Sequence[AttemptRecord],
        parent: otel_context.Context,
    ) -> None:
        from opentelemetry import trace

        for attempt in attempts:
            span = tracer.start_span(
                "kycmux.attempt",
                context=parent,
                kind=trace.SpanKind.CLIENT,
                attributes=attributes.attempt_attributes(attempt),
                start_time=_ns(attempt.started_at),
            )
            if attempt.error_class:
                span.set_status(trace.StatusCode.ERROR)
            span.end(end_time=_ns(attempt.started_at + attempt.latency_ms / 1000.0))

    def _count(self, found: _Instruments, record: DecisionRecord) -> None:
        labels: attributes.Attributes = {
            "kycmux.outcome": record.outcome,
            "kycmux.policy": record.policy,
        }
        found.decisions.add(1, labels)
        found.decision_duration.record(record.duration_ms / 1000.0, labels)
        if _LOCKED in record.reasons:
            found.lockouts.add(1, {"kycmux.policy": record.policy})
        for shadow in record.shadow:
            found.shadow_results.add(
                1,
                {
                    "kycmux.vendor": shadow.vendor,
                    "kycmux.shadow.status": shadow.status,
                    "kycmux.shadow.agreement": attributes.agreement(shadow, record.outcome),
                },
            )


@functools.cache
def _version() -> str:
    from importlib.metadata import version

    return version("kycmux-otel")


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)
