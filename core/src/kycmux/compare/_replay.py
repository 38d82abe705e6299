"""What-if replay: recorded vendor answers re-decided under another policy, no vendor called.

Every stored result keeps its masked decision (or shadow) record, and with it each attempt's
answer per check: the normalized score, the verdict, the error class of a failed call. Replay
feeds those answers to the same ``DecisionMachine`` a live decision runs (no second decision
logic), under another policy: other thresholds (``max_far``, ``raw_thresholds``), another
combine rule or mode, another vendor order *within the vendors that were asked*, fewer checks.

A row is replayed only if the machine never needs an answer nobody recorded. It is refused,
with the reason, when the policy would ask a vendor that was not asked for a check (or was
skipped: breaker open, rate limit), asks for a check the decision did not make, would judge a
scored answer by the vendor's own verdict (not recorded apart from the threshold applied), or
the record has no attempts. Retries, deadlines and hedging are not replayed: each vendor's
last recorded answer stands for its call, as it ended.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kycmux._contract._score import Score, ScoreKind
from kycmux._contract._taxonomy import CaptureIssue, Classification, ErrorClass
from kycmux._contract._vendor import VendorSpec
from kycmux._contract._wire import CheckAnswer, CheckReading
from kycmux._decision._machine import Conclusion, DecisionMachine, Group
from kycmux._decision._policy import Policy
from kycmux._model._evidence import Check
from kycmux.exceptions import KycmuxError
from kycmux.results._model import CheckResult, Result, Role

__all__ = ["ReplayReport", "Replayed", "replay_result", "replay_results", "replayed_result"]

# Skips that say a vendor could never have been asked, as the engine's own planning has them.
_INELIGIBLE = ("not_configured", "check_not_offered", "evidence_missing")
_NEGATIVE = {Check.LIVENESS: ErrorClass.NOT_LIVE}
_PER_CHECK_CLASS = {
    "retry_capture": ErrorClass.CAPTURE_UNUSABLE,
    "review": ErrorClass.REGISTRY_UNUSABLE,
}
EXAMPLES = 10


@attrs.frozen
class Replayed:
    """One row re-decided.

    Attributes:
        result: The stored result.
        conclusion: How the decision comes out under the new policy; ``None`` when refused.
        refused: Why the row cannot be replayed (``None`` when it was).
    """

    result: Result
    conclusion: Conclusion | None = None
    refused: str | None = None

    @property
    def after(self) -> str | None:
        return None if self.conclusion is None else self.conclusion.outcome.value


Answers = dict[tuple[str, Check], CheckReading | str]


def _score(plain: Mapping[str, Any], spec: VendorSpec | None) -> Score:
    low, high = plain["scale"]
    declared = spec.score_spec(plain["name"]) if spec is not None else None
    return Score(
        name=plain["name"],
        raw=float(plain["raw"]),
        low=float(low),
        high=float(high),
        kind=ScoreKind(plain["kind"]),
        far=plain.get("far"),
        extrapolated=bool(plain.get("extrapolated", False)),
        inclusive=declared.inclusive if declared is not None else True,
    )


def _reading(
    attempt: Mapping[str, Any], check: Check, record: Mapping[str, Any], spec: VendorSpec | None
) -> CheckReading | str:
    """The reading one recorded attempt gives a check, or why it cannot be rebuilt."""
    reason = attempt.get("reason") or "recorded"
    issue = CaptureIssue(attempt["capture_issue"]) if attempt.get("capture_issue") else None
    if attempt.get("error_class"):
        return CheckReading(
            check, None, Classification(ErrorClass(attempt["error_class"]), reason, issue)
        )
    verdict = (attempt.get("verdicts") or {}).get(check.value)
    score = (attempt.get("scores") or {}).get(check.value)
    if score is not None:
        # The recorded verdict is the vendor's own only where no threshold was applied.
        own = _threshold_source(record, check, attempt["vendor"]) == "vendor_verdict"
        answer = CheckAnswer(check, True, "recorded", passed=(verdict == "pass") if own else None)
        return CheckReading(check, answer, None, _score(score, spec))
    if verdict == "pass":
        return CheckReading(check, CheckAnswer(check, True, "recorded", passed=True), None)
    if verdict == "fail":
        negative = _NEGATIVE.get(check, ErrorClass.IDENTITY_MISMATCH)
        return CheckReading(check, None, Classification(negative, reason))
    if verdict in _PER_CHECK_CLASS:
        return CheckReading(check, None, Classification(_PER_CHECK_CLASS[verdict], reason, issue))
    known = _check_error_class(record, check, attempt["vendor"])
    if verdict == "error" and known is not None:
        return CheckReading(check, None, Classification(known, reason))
    return f"{attempt['vendor']}'s {check.value} answer has no recorded verdict or error class"


def _threshold_source(record: Mapping[str, Any], check: Check, vendor: str) -> str | None:
    for entry in record.get("checks") or ():
        if entry.get("check") == check.value:
            threshold = ((entry.get("scores") or {}).get(vendor) or {}).get("threshold") or {}
            return threshold.get("source")
    return None


def _check_error_class(record: Mapping[str, Any], check: Check, vendor: str) -> ErrorClass | None:
    for entry in record.get("checks") or ():
        if entry.get("check") == check.value and vendor in (entry.get("error_classes") or {}):
            return ErrorClass(entry["error_classes"][vendor])
    return None


def _answers(record: Mapping[str, Any], specs: Mapping[str, VendorSpec]) -> Answers:
    """Each (vendor, check)'s last recorded answer: what that vendor's call ended with."""
    found: Answers = {}
    for attempt in record.get("attempts") or ():
        vendor = attempt["vendor"]
        for name in attempt.get("checks") or ():
            check = Check(name)
            found[vendor, check] = _reading(attempt, check, record, specs.get(vendor))
    return found


def _row_policy(result: Result, policy: Policy, specs: Mapping[str, VendorSpec]) -> Policy | str:
    """The policy the row is re-decided under: the checks it was decided on, and for a
    vendor's own row (offline, shadow) that vendor alone, as ``kycmux compare`` asks it."""
    asked = {Check(c) for c in result.checks}
    extra = sorted(c.value for c in policy.checks if c not in asked)
    if extra:
        return f"the policy asks for {', '.join(extra)}, which this decision did not"
    vendor = result.system if result.role is not Role.LIVE and result.system in specs else None
    try:
        return policy.only([c for c in policy.checks if c in asked], vendor).validate(specs)
    except KycmuxError as exc:
        return f"the policy does not apply to this row ({exc})"


def _serve(
    machine: DecisionMachine, group: Group, answers: Answers, skips: Mapping[Any, str]
) -> dict[Check, CheckReading] | str:
    readings = {}
    for check in group.checks:
        reading = answers.get((group.vendor, check))
        if reading is None:
            why = skips.get((group.vendor, check.value))
            return f"{group.vendor} was not asked for {check.value}" + (f" ({why})" if why else "")
        if isinstance(reading, str):
            return reading
        spec = machine.specs[group.vendor]
        score_spec = spec.score_spec(reading.score.name) if reading.score else None
        threshold = machine.policy.threshold(spec, check, score_spec)
        own = reading.answer is not None and reading.answer.passed is not None
        if reading.score is not None and threshold.source == "vendor_verdict" and not own:
            return (
                f"{group.vendor}'s own {check.value} verdict was not recorded apart from its score"
            )
        readings[check] = reading
    return readings


def replay_result(result: Result, policy: Policy, specs: Mapping[str, VendorSpec]) -> Replayed:
    """Re-decide one stored result under ``policy`` (pure: no I/O, no vendor)."""
    record = result.record or {}
    if not record.get("attempts"):
        return Replayed(result, refused="no vendor answer was recorded")
    chosen = _row_policy(result, policy, specs)
    if isinstance(chosen, str):
        return Replayed(result, refused=chosen)
    skipped = record.get("skipped") or ()
    skips = {(s["vendor"], s["check"]): s["reason"] for s in skipped}
    ineligible = {
        (vendor, Check(check)): reason
        for (vendor, check), reason in skips.items()
        if reason.startswith(_INELIGIBLE) and Check(check) in chosen.checks
    }
    machine = DecisionMachine.plan(chosen, specs, ineligible)
    answers = _answers(record, specs)
    queue = deque(machine.start())
    calls = 0
    while queue:
        group = queue.popleft()
        readings = _serve(machine, group, answers, skips)
        if isinstance(readings, str):
            return Replayed(result, refused=readings)
        calls += 1
        step = machine.absorb(group, machine.judge(group, readings))
        machine.done(group)
        if step.ended:
            break
        queue.extend(step.calls)
    return Replayed(result, machine.conclude(calls))


def replay_results(
    results: Sequence[Result], policy: Policy, specs: Mapping[str, VendorSpec]
) -> list[Replayed]:
    """Every result re-decided under ``policy``, in order."""
    return [replay_result(r, policy, specs) for r in results]


def replayed_result(replayed: Replayed, study: str) -> Result:
    """The result a replayed row stands for, in study ``study`` (its record is dropped: the
    record describes the decision as it was made, not as replayed)."""
    assert replayed.conclusion is not None
    old = replayed.result
    checks = {}
    for check, verdict in replayed.conclusion.checks.items():
        first = verdict.deciding[0] if verdict.deciding else None
        score = first.score if first is not None else None
        checks[check.value] = CheckResult(
            verdict=verdict.verdict.value,
            vendor=first.vendor if first is not None else None,
            score_name=score.name if score else None,
            raw=score.raw if score else None,
            kind=score.kind.value if score else None,
            far=score.far if score else None,
        )
    return attrs.evolve(
        old,
        study=study,
        outcome=replayed.conclusion.outcome.value,
        reasons=replayed.conclusion.reasons,
        checks=checks,
        record=None,
    )


@attrs.frozen
class ReplayReport:
    """How outcomes change under the new policy, per system (JSON: ``to_dict``).

    Attributes:
        study: The study replayed.
        policy: The policy name.
        policy_hash: Its digest.
        rows: Every row, replayed or refused.
    """

    study: str
    policy: str
    policy_hash: str
    rows: Sequence[Replayed]

    def to_dict(self, examples: int = EXAMPLES) -> dict[str, Any]:
        systems = sorted({r.result.system for r in self.rows})
        return {
            "study": self.study,
            "policy": self.policy,
            "policy_hash": self.policy_hash,
            "vendors_called": 0,
            "systems": {s: self._system(s, examples) for s in systems},
        }

    def _system(self, system: str, examples: int) -> dict[str, Any]:
        rows = [r for r in self.rows if r.result.system == system]
        done = [r for r in rows if r.conclusion is not None]
        moves = Counter((r.result.outcome, r.after) for r in done)
        changed: dict[str, dict[str, Any]] = {}
        for before, after in sorted(k for k in moves if k[0] != k[1]):
            items = [r.result.item for r in done if (r.result.outcome, r.after) == (before, after)]
            changed[f"{before}->{after}"] = {"count": len(items), "examples": items[:examples]}
        refused = Counter(r.refused for r in rows if r.refused is not None)
        return {
            "n": len(rows),
            "replayed": len(done),
            "unchanged": sum(n for (b, a), n in moves.items() if b == a),
            "accept_to_reject": moves.get(("accept", "reject"), 0),
            "reject_to_accept": moves.get(("reject", "accept"), 0),
            "changed": changed,
            "refused": {
                "count": sum(refused.values()),
                "reasons": dict(refused.most_common()),
                "examples": [r.result.item for r in rows if r.refused][:examples],
            },
        }
