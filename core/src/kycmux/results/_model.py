"""One system's answer for one item: the row every comparison is computed from.

A *study* is one comparison: an offline run over a manifest, or a live experiment. Within it an
*item* is what was judged (a manifest row, or a live request) and a *system* is who judged it
(a vendor offline; an arm, ``live`` or a shadow vendor live). Items judged by two systems are
*paired*, which is what agreement and paired differences need.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from kycmux._records._record import (
    AttemptRecord,
    CheckRecord,
    DecisionRecord,
    ShadowRecord,
    to_plain,
)

__all__ = ["CHECK_TRUTHS", "CheckResult", "Label", "Result", "Role", "implied_truth"]


class Label(enum.StrEnum):
    """Ground truth for an item.

    Attributes:
        GENUINE: A live person, who is the person in the reference photo.
        IMPOSTOR: A live person, but not the one in the reference photo.
        SPOOF: A presentation attack (photo, screen, mask, replay).
    """

    GENUINE = "genuine"
    IMPOSTOR = "impostor"
    SPOOF = "spoof"

    @property
    def is_attack(self) -> bool:
        return self is not Label.GENUINE


CHECK_TRUTHS: Mapping[str, frozenset[Label]] = {
    "liveness": frozenset({Label.GENUINE, Label.SPOOF}),
    "face_match": frozenset({Label.GENUINE, Label.IMPOSTOR}),
    "id_registry_match": frozenset({Label.GENUINE, Label.IMPOSTOR}),
}
"""The truths each check can have: liveness tells live from spoof, a face check same from other."""


def implied_truth(label: Label | None, check: str) -> Label | None:
    """What a whole-row ``label`` says about one check, or ``None`` if it says nothing.

    An impostor is a live person (genuine for liveness); a spoof may show anyone, so a spoof
    row says nothing about a face check. Rows written before per-check truth are read so.
    """
    if label is None or check not in CHECK_TRUTHS:
        return None
    if check == "liveness":
        return Label.SPOOF if label is Label.SPOOF else Label.GENUINE
    return None if label is Label.SPOOF else label


def _truths(value: Mapping[str, Label | str]) -> Mapping[str, Label]:
    truths = {str(check): Label(truth) for check, truth in dict(value).items()}
    for check, truth in truths.items():
        if truth not in CHECK_TRUTHS.get(check, frozenset()):
            raise ValueError(f"truth: {truth.value!r} is not a truth of check {check!r}")
    return truths


class Role(enum.StrEnum):
    """Where a result came from.

    Attributes:
        OFFLINE: A row of an offline comparison run.
        LIVE: The decision the caller got (an experiment arm, or the live side of a shadow).
        SHADOW: A candidate asked alongside a live decision; it decided nothing.
    """

    OFFLINE = "offline"
    LIVE = "live"
    SHADOW = "shadow"


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _optional_label(value: Label | str | None) -> Label | None:
    return None if value is None else Label(value)


@attrs.frozen
class CheckResult:
    """How one check came out for one system, with the deciding score.

    Attributes:
        verdict: ``pass``, ``fail``, ``retry_capture``, ``review`` or ``error``.
        vendor: The vendor whose answer decided it (the first, if several did).
        score_name: The vendor's score field, when it sent one.
        raw: The raw score.
        kind: ``similarity`` (higher: same person) or ``attack`` (higher: attack).
        far: The score's false-accept rate on the vendor's published calibration, if any.
    """

    verdict: str
    vendor: str | None = None
    score_name: str | None = None
    raw: float | None = None
    kind: str | None = None
    far: float | None = None

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(**data)


@attrs.frozen
class Result:
    """One system's answer for one item of a study.

    Attributes:
        study: The offline run's name or the live experiment's name.
        item: The manifest row id, or the live request id.
        system: Who answered: a vendor (offline, shadow), an arm, or ``live``.
        role: ``offline``, ``live`` or ``shadow``.
        outcome: ``accept``, ``reject``, ``retry_capture``, ``review`` or ``error``.
        latency_ms: Wall time of the decision (or shadow run).
        recorded_at: UNIX time the answer was complete.
        label: Ground truth, when known.
        truth: Per-check ground truth given by the manifest, by check name (``liveness``:
            genuine or spoof; ``face_match``, ``id_registry_match``: genuine or impostor);
            a check not in it takes what ``label`` implies (``truth_for``).
        subject: Keyed hash of the subject, when known (never the id itself).
        reasons: Machine-readable reasons for the outcome.
        error_classes: The error class of every failed attempt, in order.
        checks: Per-check results, by check name.
        calls: Vendor attempts made.
        possibly_billed: Some attempt reached the vendor, so it may have been billed.
        record: The masked decision (or shadow) record it was derived from.
    """

    study: str
    item: str
    system: str
    role: Role = attrs.field(converter=Role)
    outcome: str
    latency_ms: float
    recorded_at: float
    label: Label | None = attrs.field(default=None, converter=_optional_label)
    truth: Mapping[str, Label] = attrs.field(factory=dict, converter=_truths)
    subject: str | None = None
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    error_classes: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    checks: Mapping[str, CheckResult] = attrs.field(factory=dict)
    calls: int = 0
    possibly_billed: bool = False
    record: Mapping[str, Any] | None = attrs.field(default=None, repr=False, eq=False)

    def truth_for(self, check: str) -> Label | None:
        """The ground truth of one check: the manifest's own, else what ``label`` implies."""
        return self.truth.get(check) or implied_truth(self.label, check)

    @classmethod
    def from_record(
        cls,
        record: DecisionRecord,
        *,
        study: str,
        item: str,
        system: str,
        role: Role = Role.LIVE,
        label: Label | str | None = None,
        truth: Mapping[str, Label | str] | None = None,
    ) -> Result:
        """The result a decision record stands for."""
        return cls(
            truth=truth or {},
            study=study,
            item=item,
            system=system,
            role=role,
            outcome=record.outcome,
            latency_ms=record.duration_ms,
            recorded_at=record.started_at + record.duration_ms / 1000,
            label=label,
            subject=record.subject,
            reasons=record.reasons,
            record=record.to_dict(),
            **_tallies(record.attempts, record.checks),
        )

    @classmethod
    def from_shadow(
        cls,
        shadow: ShadowRecord,
        *,
        study: str,
        item: str,
        started_at: float,
        subject: str | None = None,
        label: Label | str | None = None,
    ) -> Result:
        """The result of a shadow run that ended (``answered``, or finished in background)."""
        duration = shadow.duration_ms or 0.0
        return cls(
            study=study,
            item=item,
            system=shadow.vendor,
            role=Role.SHADOW,
            outcome=shadow.outcome or "error",
            latency_ms=duration,
            recorded_at=started_at + duration / 1000,
            label=label,
            subject=subject,
            reasons=shadow.reasons,
            record=shadow.to_dict(),
            **_tallies(shadow.attempts, shadow.checks),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``Result.from_dict`` reads it back."""
        result: dict[str, Any] = to_plain(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        fields = dict(data)
        fields["checks"] = {
            name: CheckResult.from_plain(check) for name, check in fields.get("checks", {}).items()
        }
        return cls(**fields)


def _tallies(attempts: Sequence[AttemptRecord], checks: Sequence[CheckRecord]) -> dict[str, Any]:
    """What a result keeps of a run's attempts and checks."""
    return {
        "error_classes": tuple(a.error_class for a in attempts if a.error_class),
        "checks": {c.check: _check_result(c) for c in checks},
        "calls": len(attempts),
        "possibly_billed": any(a.possibly_billed for a in attempts),
    }


def _check_result(check: CheckRecord) -> CheckResult:
    if not check.scores:
        return CheckResult(check.verdict, vendor=check.vendors[0] if check.vendors else None)
    vendor, score = next(iter(check.scores.items()))
    return CheckResult(
        verdict=check.verdict,
        vendor=vendor,
        score_name=score.get("name"),
        raw=score.get("raw"),
        kind=score.get("kind"),
        far=score.get("far"),
    )
