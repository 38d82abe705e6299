"""Span and metric attributes from kycmux's records: pure, and never personal data.

Only fields that describe what kycmux did are read: names of vendors, plugins, operations,
checks and policies, classes, reasons, statuses, numbers and times. The subject's keyed hash,
the evidence, the vendor's message and request id and the explanation sentence are left out:
none is needed to read a trace, and a trace store is not a place kycmux vouches for.
"""

from __future__ import annotations

from kycmux import AttemptRecord, DecisionRecord, ShadowRecord

__all__ = [
    "Attributes",
    "agreement",
    "attempt_attributes",
    "attempt_metric_attributes",
    "decision_attributes",
    "shadow_attributes",
]

Attributes = dict[str, str | bool | int | float | tuple[str, ...]]

ERROR_TYPE = "error.type"  # semantic conventions
HTTP_STATUS = "http.response.status_code"


def decision_attributes(record: DecisionRecord) -> Attributes:
    """The ``kycmux.decision`` span's attributes."""
    found: Attributes = {
        "kycmux.request_id": record.request_id,
        "kycmux.policy": record.policy,
        "kycmux.outcome": record.outcome,
        "kycmux.reasons": tuple(record.reasons),
        "kycmux.checks": tuple(c.check for c in record.checks),
        "kycmux.latency_ms": record.duration_ms,
        "kycmux.attempts": len(record.attempts),
    }
    if record.outcome == "error" and record.reasons:
        found[ERROR_TYPE] = record.reasons[0]
    if record.degraded:
        found["kycmux.degraded"] = tuple(record.degraded)
    if record.experiment:
        found["kycmux.experiment.name"] = record.experiment.get("name", "")
        found["kycmux.experiment.arm"] = record.experiment.get("arm", "")
    for check in record.checks:
        found[f"kycmux.check.{check.check}.verdict"] = check.verdict
        found[f"kycmux.check.{check.check}.reason"] = check.reason
    return found


def attempt_attributes(record: AttemptRecord) -> Attributes:
    """The ``kycmux.attempt`` span's attributes."""
    found: Attributes = {
        **attempt_metric_attributes(record),
        "kycmux.checks": tuple(record.checks),
        "kycmux.attempt": record.attempt,
        "kycmux.latency_ms": record.latency_ms,
        "kycmux.possibly_billed": record.possibly_billed,
        "kycmux.outcome": "failed" if record.error_class else "answered",
    }
    if record.http_status is not None:
        found[HTTP_STATUS] = record.http_status
    if record.reason:
        found["kycmux.reason"] = record.reason
    if record.capture_issue:
        found["kycmux.capture_issue"] = record.capture_issue
    for check, verdict in record.verdicts.items():
        found[f"kycmux.check.{check}.verdict"] = verdict
    if record.plugin:
        # The failing plugin, hook and exception type; never the exception's message.
        for key in ("plugin", "distribution", "hook", "exception"):
            value = record.plugin.get(key)
            if value:
                found[f"kycmux.plugin_error.{key}"] = value
    return found


def attempt_metric_attributes(record: AttemptRecord) -> Attributes:
    """What attempts are counted and timed by: few values each (bounded cardinality)."""
    found: Attributes = {
        "kycmux.vendor": record.vendor,
        "kycmux.vendor.plugin": record.instance_of or record.vendor,
        "kycmux.operation": record.operation,
        "kycmux.attempt.role": record.role,
    }
    if record.error_class:
        found[ERROR_TYPE] = record.error_class
    return found


def agreement(shadow: ShadowRecord, live_outcome: str) -> str:
    """``agree`` / ``disagree`` with the live outcome once the candidate answered, else
    ``none`` (it did not answer within the bound, or was not asked)."""
    if shadow.outcome is None:
        return "none"
    return "agree" if shadow.outcome == live_outcome else "disagree"


def shadow_attributes(shadow: ShadowRecord, live_outcome: str) -> Attributes:
    """The ``kycmux.shadow`` span's attributes (and, less the outcome, its metric's)."""
    found: Attributes = {
        "kycmux.vendor": shadow.vendor,
        "kycmux.experiment.name": shadow.experiment,
        "kycmux.shadow.status": shadow.status,
        "kycmux.shadow.agreement": agreement(shadow, live_outcome),
    }
    if shadow.outcome is not None:
        found["kycmux.outcome"] = shadow.outcome
        found["kycmux.reasons"] = tuple(shadow.reasons)
    if shadow.duration_ms is not None:
        found["kycmux.latency_ms"] = shadow.duration_ms
    return found
