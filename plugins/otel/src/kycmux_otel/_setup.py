"""Which OpenTelemetry providers kycmux reports to: the application's, or the SDK's from env.

An application that set a global ``TracerProvider`` / ``MeterProvider`` keeps it: kycmux only
uses it. One that set none gets SDK providers built from the SDK's standard variables, but only
for a signal whose exporter is named explicitly (``OTEL_TRACES_EXPORTER``,
``OTEL_METRICS_EXPORTER``): the SDK's own default (``otlp``) would make every install without
a collector retry a connection to localhost, so nothing named means nothing set up, and
kycmux then reports nothing at all. ``OTEL_SDK_DISABLED=true`` turns everything off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider as ApiMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import TracerProvider as ApiTracerProvider

__all__ = ["EnvProviders", "app_meter_provider", "app_tracer_provider"]

log = logging.getLogger("kycmux.otel")

T = TypeVar("T")

_OTLP_EXTRA = "kycmux-otel[otlp]"


# Nothing of OpenTelemetry is imported until something asks for it (its SDK takes a third of
# a second): an application that set a provider imported the API already, and one that did
# not, with no exporter named, never pays for it.


def app_tracer_provider() -> ApiTracerProvider | None:
    """The application's global tracer provider, or ``None`` while it set none."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    return None if isinstance(provider, trace.ProxyTracerProvider) else provider


def app_meter_provider() -> ApiMeterProvider | None:
    """The application's global meter provider, or ``None`` while it set none."""
    if "opentelemetry.metrics" not in sys.modules:
        return None
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    # The API's placeholder until one is set is private; its module names it.
    return None if type(provider).__name__ == "_ProxyMeterProvider" else provider


class EnvProviders:
    """SDK providers from the environment, built once on first use (``None``: not asked for).

    Attributes:
        env: The variables read (``os.environ`` unless given).
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        self._lock = threading.Lock()
        self._built = False
        self._tracer: TracerProvider | None = None
        self._meter: MeterProvider | None = None

    @property
    def resolved(self) -> bool:
        """Whether the providers were built (or found not asked for): from then on, asking
        for them costs nothing; before, it may import the SDK (a third of a second)."""
        return self._built

    def tracer_provider(self) -> TracerProvider | None:
        self._build()
        return self._tracer

    def meter_provider(self) -> MeterProvider | None:
        self._build()
        return self._meter

    def _build(self) -> None:
        if self._built:
            return
        with self._lock:
            if not self._built:
                self._tracer, self._meter = self._providers()
                self._built = True

    def _providers(self) -> tuple[TracerProvider | None, MeterProvider | None]:
        if self.env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None, None
        if not _named(self.env, "OTEL_TRACES_EXPORTER") and not _named(
            self.env, "OTEL_METRICS_EXPORTER"
        ):
            return None, None
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        spans = _exporters(self.env, "OTEL_TRACES_EXPORTER", _span_exporter)
        readers = [
            PeriodicExportingMetricReader(e)
            for e in _exporters(self.env, "OTEL_METRICS_EXPORTER", _metric_exporter)
        ]
        if not spans and not readers:
            return None, None
        resource = _resource(self.env)
        tracer = None
        if spans:
            tracer = TracerProvider(resource=resource)
            for exporter in spans:
                tracer.add_span_processor(BatchSpanProcessor(exporter))
        meter = MeterProvider(resource=resource, metric_readers=readers) if readers else None
        return tracer, meter


def _named(env: Mapping[str, str], variable: str) -> bool:
    return any(n.strip().lower() not in ("", "none") for n in env.get(variable, "").split(","))


def _resource(env: Mapping[str, str]) -> Resource:
    from opentelemetry.sdk.resources import Resource

    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    # Resource.create reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES itself.
    return Resource.create({} if named else {"service.name": "kycmux"})


def _exporters(env: Mapping[str, str], variable: str, make: Callable[[str], T | None]) -> list[T]:
    names = [n.strip().lower() for n in env.get(variable, "").split(",") if n.strip()]
    found = []
    for name in names:
        if name == "none":
            continue
        exporter = make(name)
        if exporter is None:
            log.warning("%s=%s is not an exporter kycmux-otel knows; ignored", variable, name)
        else:
            found.append(exporter)
    return found


def _span_exporter(name: str) -> SpanExporter | None:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        return _otlp("trace_exporter", "OTLPSpanExporter")  # type: ignore[no-any-return]
    return None


def _metric_exporter(name: str) -> MetricExporter | None:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    if name == "console":
        return ConsoleMetricExporter()
    if name == "otlp":
        return _otlp("metric_exporter", "OTLPMetricExporter")  # type: ignore[no-any-return]
    return None


def _otlp(module: str, cls: str) -> Any:
    """The OTLP/HTTP exporter (it reads ``OTEL_EXPORTER_OTLP_*`` itself), from the extra."""
    import importlib

    try:
        found = importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{module}")
    except ImportError:
        log.warning("the otlp exporter needs %s; nothing exported over OTLP", _OTLP_EXTRA)
        return None
    return getattr(found, cls)()
