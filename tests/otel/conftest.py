"""Fixtures of the OpenTelemetry plugin's tests: in-memory SDK providers, not global."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The engine suite's simulators: the canary suite's, and the sandbox the CLI reaches.
from engine.conftest import (  # noqa: F401
    box,
    canary_stage,
    demo,
    rig,
    sim_host,
    sim_sandbox,
)
from kycmux_otel import EnvProviders, Telemetry
from otel.otel_support import Collected


@pytest.fixture
def collected() -> Iterator[Collected]:
    """A ``Telemetry`` plugin reporting to in-memory providers of its own (an empty
    environment: the global providers and ``OTEL_*`` are never looked at)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    plugin = Telemetry(tracer_provider, meter_provider, env=EnvProviders({}))
    yield Collected(plugin, tracer_provider, spans, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()
