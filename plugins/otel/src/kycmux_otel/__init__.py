"""kycmux observer plugin reporting decisions to OpenTelemetry: traces and metrics.

Entry point ``kycmux: otel`` registers ``plugin``, a ``Telemetry`` using the application's
global providers, or SDK providers built from the ``OTEL_*`` environment when it set none, or
nothing at all (no cost) when neither. See the documentation's ``telemetry.md``.
"""

from __future__ import annotations

from kycmux_otel._setup import EnvProviders
from kycmux_otel._telemetry import BREAKER_STATES, Telemetry

__all__ = ["BREAKER_STATES", "EnvProviders", "Telemetry", "plugin"]

plugin = Telemetry()
"""The instance the ``kycmux`` entry point registers."""
