"""What the OpenTelemetry tests read: the finished spans and the metric points, by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kycmux import Engine
from kycmux_otel import Telemetry


@attrs.frozen
class Collected:
    """The plugin under test and where it reported to.

    Attributes:
        plugin: The ``Telemetry`` plugin (register it on an engine's host with ``attach``).
        tracer_provider: Its tracer provider (a caller's own spans come from it too).
        spans: The finished spans.
        reader: The metric reader.
    """

    plugin: Telemetry
    tracer_provider: TracerProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def attach(self, engine: Engine) -> Engine:
        assert engine.host.register(self.plugin, "test.otel"), engine.host.failures
        return engine

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """``(attributes, point)`` of every data point of ``metric`` (empty if none)."""
        found = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend((dict(p.attributes or {}), p) for p in m.data.data_points)
        return found

    def sums(self, metric: str, *keys: str) -> dict[tuple[Any, ...], float]:
        """A counter's values by the attribute ``keys``."""
        totals: dict[tuple[Any, ...], float] = {}
        for labels, point in self.points(metric):
            key = tuple(labels.get(k) for k in keys)
            totals[key] = totals.get(key, 0) + point.value
        return totals


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return dict(span.attributes or {})


def every_value(collected: Collected) -> Iterator[str]:
    """Every span name, attribute key and value and metric attribute, as text."""
    for span in collected.spans.get_finished_spans():
        yield span.name
        for key, value in attributes(span).items():
            yield key
            yield repr(value)
        for event in span.events:
            yield event.name
            yield repr(dict(event.attributes or {}))
        yield span.to_json()
    data = collected.reader.get_metrics_data()
    if data:
        yield data.to_json()
