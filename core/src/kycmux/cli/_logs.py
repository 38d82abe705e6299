"""``--log-level``: kycmux's loggers on standard error, for the command line.

The library never configures logging (that is the embedding service's job); the command line
does, only when asked, so a plain run prints what Python's last-resort handler prints
(warnings and worse) and nothing more.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LEVELS", "LOGGERS", "configure_logging"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LOGGERS = {
    "kycmux.plugins": "plugin discovery: a plugin that failed to load",
    "kycmux.engine": "decisions: observers, record sinks, shadows, subjects, worker threads",
    "kycmux.call": "one vendor call's hooks (a plugin bug, by exception type)",
    "kycmux.http": "each request the default async client sends (query values masked)",
    "kycmux.resilience": "circuit-breaker transitions",
    "kycmux.state": "shared state (Redis) unreachable or slow, and the fallback",
    "kycmux.records": "decision records in PostgreSQL",
    "kycmux.results": "comparison results in PostgreSQL",
    "kycmux.compare": "offline comparison runs",
    "kycmux.simkit": "the simulators (sandbox, demo)",
    "kycmux.otel": "the OpenTelemetry plugin: an exporter it cannot set up",
}
"""Every logger kycmux writes to, all under ``kycmux``; what each one reports."""


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (a test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str) -> None:
    """Send the ``kycmux`` loggers at ``level`` and above to standard error, once."""
    root = logging.getLogger("kycmux")
    root.setLevel(level.upper())
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
