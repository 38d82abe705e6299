"""What one vendor call produces: per-check readings, the attempt's outcome, a refusal to
send, and the plugin faults behind ``plugin_error``. Pure values, shared by the client that makes
the call and the decision that reads it."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._contract._wire import CheckReading, VendorRequest, VendorResult
from kycmux._model._evidence import Check
from kycmux._transport._http import SendResult
from kycmux.exceptions import InvalidEvidenceError, PluginError

__all__ = [
    "CallOutcome",
    "CheckReading",
    "PluginFault",
    "Prepared",
    "Refusal",
    "failed",
    "fault_of",
    "outcome",
    "refused",
    "unsent",
]


@attrs.frozen
class PluginFault:
    """A plugin's own bug: one of its hooks raised, returned nothing, or overran its time.

    Attributes:
        hook: The hook that failed (``parse``...).
        plugin: The plugin's registration name.
        distribution: Its distribution, when it came from an entry point.
        exception: The exception's type name. Never its message: it may quote personal data.
        detail: kycmux's own wording, when kycmux itself noticed the fault.
    """

    hook: str
    plugin: str
    distribution: str | None
    exception: str
    detail: str | None = None

    @property
    def classification(self) -> Classification:
        reason = f"plugin_error:{self.plugin}:{self.hook}:{self.exception}"
        return Classification(ErrorClass.PLUGIN_ERROR, reason)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "hook": self.hook,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "exception": self.exception,
            "detail": self.detail,
        }

    def error(self) -> PluginError:
        problem = self.detail or f"{self.hook} raised {self.exception}"
        return PluginError(self.plugin, problem, fault=self)


@attrs.frozen
class Refusal:
    """Why no request was sent to a vendor: its request could not be built or signed.

    Attributes:
        classification: The error class and reason.
        fault: The plugin fault, when a plugin bug was the reason.
        evidence: The evidence rule the vendor's limits refused, when that was the reason.
    """

    classification: Classification
    fault: PluginFault | None = None
    evidence: InvalidEvidenceError | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Prepared:
    """A request ready to go: as built, and signed for the first attempt (retries sign anew).

    Attributes:
        request: The unsigned request (what retries sign again).
        signed: The request signed for attempt 1, in the same hop as building it.
    """

    request: VendorRequest
    signed: VendorRequest


@attrs.frozen
class CallOutcome:
    """Everything one attempt produced.

    Attributes:
        vendor: Vendor name.
        operation: Vendor operation.
        checks: Checks the call served.
        attempt: Attempt number at this vendor within the decision.
        started_at: Wall-clock start (UNIX seconds).
        latency: Seconds the exchange took.
        result: The parsed result, when the vendor answered readably.
        failure: Why the call as a whole failed (transport, malformed, top-level error code).
        readings: Per-check readings (each carries the call failure when the call failed).
        http_status: The HTTP status, when a response came.
        body_sent: The whole request reached the vendor (it may have been billed).
        fault: The plugin bug behind a ``plugin_error`` failure, if any.
    """

    vendor: str
    operation: str
    checks: frozenset[Check]
    attempt: int
    started_at: float
    latency: float
    result: VendorResult | None
    failure: Classification | None
    readings: Mapping[Check, CheckReading]
    http_status: int | None
    body_sent: bool
    fault: PluginFault | None = None

    @property
    def possibly_billed(self) -> bool:
        """The vendor may bill this attempt: it answered, or the whole request reached it."""
        return self.body_sent


def fault_of(error: PluginError) -> PluginFault:
    fault = error.fault
    if not isinstance(fault, PluginFault):  # raised by ``_hook``, which always attaches one
        raise TypeError("a PluginError without a fault escaped a hook") from error
    return fault


def refused(error: PluginError) -> Refusal:
    fault = fault_of(error)
    return Refusal(fault.classification, fault)


def unsent(
    request: VendorRequest, attempt: int, started_at: float, refusal: Refusal
) -> CallOutcome:
    sent = SendResult(None, None, False, 0.0)
    return failed(request, sent, attempt, started_at, refusal.classification, refusal.fault)


def failed(
    request: VendorRequest,
    sent: SendResult,
    attempt: int,
    started_at: float,
    failure: Classification,
    fault: PluginFault | None,
) -> CallOutcome:
    readings = {c: CheckReading(c, None, failure) for c in request.checks}
    return outcome(request, sent, attempt, started_at, None, failure, readings, fault)


def outcome(
    request: VendorRequest,
    sent: SendResult,
    attempt: int,
    started_at: float,
    result: VendorResult | None,
    failure: Classification | None,
    readings: Mapping[Check, CheckReading],
    fault: PluginFault | None = None,
) -> CallOutcome:
    return CallOutcome(
        vendor=request.vendor,
        operation=request.operation,
        checks=request.checks,
        attempt=attempt,
        started_at=started_at,
        latency=sent.elapsed,
        result=result,
        failure=failure,
        readings=readings,
        http_status=None if sent.response is None else sent.response.status_code,
        body_sent=sent.body_sent,
        fault=fault,
    )
