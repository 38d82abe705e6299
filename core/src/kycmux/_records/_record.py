"""Decision records: what every decision leaves behind, masked, JSON-serialisable, stable.

Field names here are a public schema (``docs/engine.md``); add fields, never rename them.
Secrets never get here, and personal data only as keyed hashes or masks.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "AttemptRecord",
    "CheckRecord",
    "DecisionRecord",
    "ShadowRecord",
    "SkipRecord",
    "canonical_json",
    "record_json",
    "to_plain",
]

SCHEMA_VERSION = 1

_SCALARS = frozenset({str, int, float, bool})


def to_plain(value: Any) -> Any:
    """attrs values, enums, mappings and sequences as JSON-ready data (sets sorted)."""
    # Most of a record is scalars (a score's numbers, a calibration's points): answered first,
    # by exact type, so an enum (a str subclass) still goes on to be converted.
    if value is None or type(value) in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return {k: to_plain(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [to_plain(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value


def _plain(value: Any) -> Any:
    """``to_plain`` for what a record's free-form fields hold (scores, plugin faults, an
    experiment): exact-type checks for the usual dicts, lists and tuples first, ``to_plain``
    for anything else."""
    kind = type(value)
    if value is None or kind in _SCALARS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(to_plain(k)): _plain(v) for k, v in value.items()}
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    return to_plain(value)


def _texts(values: Sequence[Any]) -> list[Any]:
    return [v if type(v) is str else to_plain(v) for v in values]


def canonical_json(plain: Mapping[str, Any]) -> str:
    """A record's plain data (``to_dict()``, or a line read back) as its one JSON text.

    Sinks write it and the records chain hashes it, so a verifier reading a record back
    recomputes the very bytes that were hashed: it must give the same text for its own output
    parsed again (``canonical_json(json.loads(canonical_json(x))) == canonical_json(x)``).
    """
    return json.dumps(plain, ensure_ascii=False, sort_keys=True)


def record_json(record: DecisionRecord) -> str:
    """``record`` as the JSON text every sink writes: the one place a record is serialised."""
    return canonical_json(record.to_dict())


@attrs.frozen
class AttemptRecord:
    """One call to one vendor.

    Attributes:
        vendor: Vendor name.
        operation: Vendor operation.
        checks: Checks the call served.
        attempt: 1 for the first call to this vendor in this decision, then 2, 3...
        role: ``primary``, ``failover``, ``retry``, ``hedge`` or ``shadow``.
        started_at: UNIX time the attempt began.
        latency_ms: Wall time of the attempt.
        http_status: HTTP status, if a response came.
        error_class: Taxonomy class of the failure, ``None`` when the vendor answered.
        reason: Machine-readable reason for the failure or the verdicts.
        vendor_code: The vendor's code or status string.
        vendor_message: The vendor's message (never containing personal data we sent).
        vendor_request_id: The vendor's id for the request.
        possibly_billed: The request reached the vendor, so it may have been billed.
        verdicts: Per check: ``pass``, ``fail`` or an error class value.
        scores: Per check: the normalized score as a dict.
        capture_issue: For capture errors, which issue.
        plugin: For ``plugin_error``: the failing ``hook``, the ``plugin`` and its
            ``distribution``, the ``exception`` type (never its message) and kycmux's
            ``detail``.
        instance_of: When ``vendor`` is an instance of another vendor (``[vendors.<vendor>]
            plugin = "<name>"``): that vendor, whose plugin answered. ``None``: ``vendor`` is
            the vendor's own name.
    """

    vendor: str
    operation: str
    checks: tuple[str, ...]
    attempt: int
    role: str
    started_at: float
    latency_ms: float
    http_status: int | None = None
    error_class: str | None = None
    reason: str | None = None
    vendor_code: str | None = None
    vendor_message: str | None = None
    vendor_request_id: str | None = None
    possibly_billed: bool = False
    verdicts: Mapping[str, str] = attrs.field(factory=dict)
    scores: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    capture_issue: str | None = None
    plugin: Mapping[str, str | None] | None = None
    instance_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Written out field by field: a decision's records are serialised on every decision,
        # and this is ~5x faster than ``to_plain`` (the test holds the two equal).
        return {
            "vendor": self.vendor,
            "operation": self.operation,
            "checks": _texts(self.checks),
            "attempt": self.attempt,
            "role": self.role,
            "started_at": self.started_at,
            "latency_ms": self.latency_ms,
            "http_status": self.http_status,
            "error_class": self.error_class,
            "reason": self.reason,
            "vendor_code": self.vendor_code,
            "vendor_message": self.vendor_message,
            "vendor_request_id": self.vendor_request_id,
            "possibly_billed": self.possibly_billed,
            "verdicts": _plain(self.verdicts),
            "scores": _plain(self.scores),
            "capture_issue": self.capture_issue,
            "plugin": _plain(self.plugin),
            "instance_of": self.instance_of,
        }


@attrs.frozen
class SkipRecord:
    """A vendor that was not asked for a check, and why.

    Attributes:
        vendor: The vendor.
        check: The check.
        reason: Machine-readable reason (``evidence_missing:video (file)``, ``circuit_open``...).
        plugin: When a plugin bug was the reason, as in ``AttemptRecord.plugin``.
    """

    vendor: str
    check: str
    reason: str
    plugin: Mapping[str, str | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "check": self.check,
            "reason": self.reason,
            "plugin": _plain(self.plugin),
        }


@attrs.frozen
class CheckRecord:
    """How one check of the decision came out.

    Attributes:
        check: The check.
        verdict: ``pass``, ``fail``, ``retry_capture``, ``review`` or ``error``.
        vendors: The vendors whose answers decided it.
        reason: Why, machine-readable.
        scores: The deciding scores, by vendor.
        error_classes: The taxonomy class of each deciding vendor's answer that was not a
            pass (``not_live``, ``identity_mismatch``, ``vendor_unavailable``...), by vendor.
    """

    check: str
    verdict: str
    vendors: tuple[str, ...]
    reason: str
    scores: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    error_classes: Mapping[str, str] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "verdict": self.verdict,
            "vendors": _texts(self.vendors),
            "reason": self.reason,
            "scores": _plain(self.scores),
            "error_classes": _plain(self.error_classes),
        }


@attrs.frozen
class ShadowRecord:
    """A candidate vendor asked alongside a live decision; it never changes the outcome.

    Attributes:
        experiment: The shadow experiment's name.
        vendor: The candidate vendor.
        status: ``answered`` (done within the bound), ``background`` (still running when the
            decision returned; its result goes to the result store), ``cancelled`` (cut at the
            bound), ``failed`` (the shadow run itself broke; never surfaced to the caller),
            ``no_consent``, ``not_sampled``, ``nothing_to_ask`` (the candidate can serve none
            of the policy's checks from this evidence), ``evidence_refused`` (the evidence
            breaks the candidate's local limits; nothing was sent) or ``no_capacity`` (the
            candidate's rate limit had no slot; live traffic comes first) or
            ``challenge_not_shared`` (every check it could serve needs the live decision's
            challenge, which a shadow never carries; with some left, those are not asked).
        outcome: What the candidate alone would have decided, once it answered.
        reasons: Machine-readable reasons for that outcome.
        duration_ms: Wall time of the shadow run, once it ended.
        checks: Per-check results, as the candidate alone would have had them.
        attempts: The candidate's attempts (role ``shadow``).
        skipped: The candidate's skips, with reasons.
    """

    experiment: str
    vendor: str
    status: str
    outcome: str | None = None
    reasons: tuple[str, ...] = ()
    duration_ms: float | None = None
    checks: Sequence[CheckRecord] = ()
    attempts: Sequence[AttemptRecord] = ()
    skipped: Sequence[SkipRecord] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "vendor": self.vendor,
            "status": self.status,
            "outcome": self.outcome,
            "reasons": _texts(self.reasons),
            "duration_ms": self.duration_ms,
            "checks": _records(self.checks),
            "attempts": _records(self.attempts),
            "skipped": _records(self.skipped),
        }


@attrs.frozen
class DecisionRecord:
    """Everything one decision did and why.

    Attributes:
        schema: Record schema version.
        request_id: The decision's id (also sent to vendors as ``seq`` / ``session_id``).
        started_at: UNIX time the decision began.
        duration_ms: Wall time of the whole decision.
        policy: Policy name.
        policy_hash: Hash of the policy's settings: two records with the same hash were
            decided under the same rules.
        subject: Keyed hash of the subject id (or of the ID number when no subject id).
        evidence: Which evidence was present (kinds and forms, never content).
        outcome: ``accept``, ``reject``, ``retry_capture``, ``review`` or ``error``.
        reasons: Machine-readable reasons for the outcome.
        explanation: One sentence a person can read.
        hint: For ``retry_capture``, what to tell the user.
        checks: Per-check results.
        attempts: Every vendor attempt, in start order.
        skipped: Vendors not asked, with reasons.
        experiment: The traffic-splitting experiment that chose the policy, when one applied:
            ``name``, ``arm``, ``policy`` and ``assignment`` (``subject``: sticky by the
            subject's keyed hash; ``request``: no subject, assigned by the request id).
        shadow: Candidate vendors asked alongside (never affecting the outcome).
        degraded: Parts of the shared state the shared store did not answer for during this
            decision: ``rate_limit``, ``breaker_and_rate_limit`` and ``retry_budget`` (this
            process's own state stood in), ``breaker_outcome`` (a call's outcome did not
            reach the shared breaker), ``lockout`` (not applied, or refused under
            ``lockout.unavailable = "closed"``) and ``lockout_count`` (the outcome was not
            counted).
        challenge: The vendor challenge the decision's evidence carried: ``source``
            ``"vendor"`` with the issuing ``vendor``, ``kind``, its ``id`` (if the vendor has
            one), ``request_id`` of the issuing call, ``issued_at`` and ``expires_at`` (never
            the digits); or ``source`` ``"caller"`` with the ``vendor`` that was sent digits
            the caller chose (under that vendor's opt-in). ``None`` when neither.
    """

    request_id: str
    started_at: float
    duration_ms: float
    policy: str
    policy_hash: str
    subject: str | None
    evidence: Mapping[str, str]
    outcome: str
    reasons: tuple[str, ...]
    explanation: str
    hint: str | None = None
    checks: Sequence[CheckRecord] = ()
    attempts: Sequence[AttemptRecord] = ()
    skipped: Sequence[SkipRecord] = ()
    experiment: Mapping[str, str] | None = None
    shadow: Sequence[ShadowRecord] = ()
    degraded: tuple[str, ...] = ()
    schema: int = SCHEMA_VERSION
    challenge: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "policy": self.policy,
            "policy_hash": self.policy_hash,
            "subject": self.subject,
            "evidence": _plain(self.evidence),
            "outcome": self.outcome,
            "reasons": _texts(self.reasons),
            "explanation": self.explanation,
            "hint": self.hint,
            "checks": _records(self.checks),
            "attempts": _records(self.attempts),
            "skipped": _records(self.skipped),
            "experiment": _plain(self.experiment),
            "shadow": _records(self.shadow),
            "degraded": _texts(self.degraded),
            "schema": self.schema,
            "challenge": _plain(self.challenge),
        }


def _records(values: Sequence[Any]) -> list[Any]:
    # A nested record's own ``to_dict`` (what ``to_plain`` would give, faster).
    return [v.to_dict() if isinstance(v, _RECORDS) else to_plain(v) for v in values]


_RECORDS = (AttemptRecord, CheckRecord, ShadowRecord, SkipRecord)
