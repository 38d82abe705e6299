"""The rules of one decision as a state machine: readings in, next calls out, no I/O.

The machine plans which vendor serves which check (one call serving every check a vendor offers
through the same operation), absorbs each call's verdicts, and says what follows: fail over,
stop on a definitive negative, or nothing (the check is decided). It judges each attempt's
readings against the policy, says whether and when to retry, and concludes the outcome and its
explanation. The async driver (``kycmux._engine._driver``) only performs what it is told to
(calls, timers, cancellation) and feeds back what happened, so every rule here is tested
without a network or a clock (``tests/decision``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import attrs

from kycmux._contract._taxonomy import CaptureIssue, Classification
from kycmux._contract._vendor import VendorSpec
from kycmux._contract._wire import CheckReading
from kycmux._decision._explain import explain
from kycmux._decision._policy import Mode, Policy, Threshold
from kycmux._decision._verdict import (
    CheckVerdict,
    Outcome,
    VendorVerdict,
    Verdict,
    combine,
    judge,
    outcome_of,
)
from kycmux._model._evidence import Check, Evidence
from kycmux.exceptions import InvalidEvidenceError

__all__ = [
    "CHALLENGE_LOST",
    "CHALLENGE_SPENT",
    "Conclusion",
    "DecisionMachine",
    "Group",
    "Skip",
    "Step",
    "ineligible",
]

VendorOp = tuple[str, str]
_NO_THRESHOLD = Threshold("vendor_verdict")
# A check bound to a challenge whose vendor could not answer: the capture must start over.
CHALLENGE_LOST = "challenge_vendor_unavailable"
# The same, where the request carrying the challenge left whole: the vendor may have used it.
CHALLENGE_SPENT = "challenge_spent"
_CUT_SHORT = frozenset({"deadline_exceeded", "stopped_by_negative"})


@attrs.frozen
class Group:
    """The checks one call serves: same vendor, same operation.

    Attributes:
        vendor: The vendor.
        operation: Its operation.
        checks: The checks the call serves.
        role: Why it is asked: ``primary``, ``failover``, ``hedge`` or ``shadow``.
    """

    vendor: str
    operation: str
    checks: frozenset[Check]
    role: str


@attrs.frozen
class Skip:
    """A vendor not asked for a check, and why (``fault``: the plugin fault, as a mapping)."""

    vendor: str
    check: Check
    reason: str
    fault: Mapping[str, str | None] | None = None


@attrs.frozen
class Step:
    """What follows a call's verdicts: the decision ended, and the calls to make next."""

    ended: bool
    calls: tuple[Group, ...] = ()


@attrs.frozen
class Conclusion:
    """How the decision came out.

    Attributes:
        checks: Each check's combined verdict.
        outcome: The outcome.
        reasons: Machine-readable reasons.
        hint: What to tell the user, when the capture must be repeated.
        explanation: One readable account naming the cause of every check's end.
    """

    checks: Mapping[Check, CheckVerdict]
    outcome: Outcome
    reasons: tuple[str, ...]
    hint: str | None
    explanation: str


@attrs.define
class DecisionMachine:
    """One decision's state: candidates, who is being asked, what each said.

    Build with ``DecisionMachine.plan``. The driver calls ``first_groups`` and ``refuse``
    while it builds the first requests (nothing sent yet), then ``start``; for each call it
    asks ``judge``/``retry_delay`` per attempt, hands the final verdicts to ``absorb`` and
    reports the call's end with ``done``; ``hedge_partner``/``hedge`` and ``decisive`` rule a
    hedged call; ``time_out`` when the deadline passes; ``conclude`` at the end.
    """

    policy: Policy
    specs: Mapping[str, VendorSpec]
    role: str = "primary"
    skipped: list[Skip] = attrs.field(factory=list)
    verdicts: dict[Check, list[VendorVerdict]] = attrs.field(factory=lambda: defaultdict(list))
    timed_out: bool = False
    unfinished: frozenset[Check] = frozenset()
    _started: bool = False
    _candidates: dict[Check, list[VendorOp]] = attrs.field(factory=dict)
    _cursor: dict[Check, int] = attrs.field(factory=dict)
    _pending: dict[tuple[Check, str], int] = attrs.field(factory=lambda: defaultdict(int))
    # Per check, each vendor that refused it (the evidence rule, if that was why): a vendor
    # asked again in a smaller group after a failover refusal counts once.
    _refused: dict[Check, dict[str, InvalidEvidenceError | None]] = attrs.field(
        factory=lambda: defaultdict(dict)
    )
    _stopped: frozenset[Check] = frozenset()
    # Checks the evidence's challenge binds to the vendor that issued it.
    bound: Mapping[Check, str] = attrs.field(factory=dict)
    # Bound checks whose challenge went out in a request that got no usable answer.
    _spent: set[Check] = attrs.field(factory=set)

    @classmethod
    def plan(
        cls,
        policy: Policy,
        specs: Mapping[str, VendorSpec],
        ineligible: Mapping[tuple[str, Check], str],
        role: str = "primary",
        bound: Mapping[Check, str] | None = None,
    ) -> DecisionMachine:
        """The candidates of every check, in the policy's order, minus ``ineligible`` ones
        (``(vendor, check) -> reason``: not configured, evidence missing...). A check in
        ``bound`` (check -> vendor: the evidence carries that vendor's challenge for it) has
        no other candidate: no other vendor can honour the challenge."""
        bound = dict(bound or {})
        machine = cls(policy, specs, role, bound=bound)
        for check, rule in policy.checks.items():
            eligible = []
            for vendor in rule.vendors:
                reason = ineligible.get((vendor, check))
                if check in bound and vendor != bound[check]:
                    reason = f"challenge_bound:{bound[check]}"
                if reason is not None:
                    machine.skipped.append(Skip(vendor, check, reason))
                    continue
                offer = specs[vendor].offer(check)
                assert offer is not None  # validated with the policy
                eligible.append((vendor, offer.operation))
            machine._candidates[check] = eligible
            machine._cursor[check] = 0
        return machine

    # planning: before anything is sent -------------------------------------------------

    def first_groups(self) -> list[Group]:
        """The calls that would go first: each check's first candidate, every one in ``all``."""
        wants: dict[VendorOp, set[Check]] = defaultdict(set)
        for check, rule in self.policy.checks.items():
            candidates = self._candidates[check]
            for vendor_op in candidates if rule.mode is Mode.ALL else candidates[:1]:
                wants[vendor_op].add(check)
        return [Group(v, op, frozenset(c), self.role) for (v, op), c in wants.items()]

    def refuse(
        self,
        group: Group,
        classification: Classification,
        evidence: InvalidEvidenceError | None = None,
        fault: Mapping[str, str | None] | None = None,
    ) -> bool:
        """A first call that cannot be made (its request could not be built or signed).

        In failover the vendor is passed over, as on failover but before anything is sent;
        in ``all`` it stays, and its refusal becomes its (error) verdict when it is called,
        so an ensemble never passes with a member missing. True if a vendor was passed over
        (``first_groups`` has changed).
        """
        dropped = False
        for check in group.checks:
            self._refused[check].setdefault(group.vendor, evidence)
            if self.policy.checks[check].mode is Mode.ALL:
                continue
            self._candidates[check] = [
                c for c in self._candidates[check] if c != (group.vendor, group.operation)
            ]
            self.skipped.append(Skip(group.vendor, check, classification.reason, fault))
            dropped = True
        return dropped

    def unservable_evidence(self) -> InvalidEvidenceError | None:
        """The error to refuse the decision with, before sending anything, when for some
        check every candidate refused the evidence by its local limits."""
        for check, refusals in self._refused.items():
            rule = self.policy.checks[check]
            left = self._candidates[check]
            unservable = len(refusals) >= len(left) if rule.mode is Mode.ALL else not left
            evidence = [e for e in refusals.values() if e is not None]
            if unservable and evidence and len(evidence) == len(refusals):
                return _no_vendor_takes(self.policy.name, check, evidence)
        return None

    # running ---------------------------------------------------------------------------

    def start(self) -> list[Group]:
        """The first calls, now to be made."""
        self._started = True
        groups = self.first_groups()
        for group in groups:
            self._calling(group)
        return groups

    def done(self, group: Group) -> None:
        """The call for ``group`` ended (answered, refused, cancelled)."""
        for check in group.checks:
            self._pending[check, group.vendor] -= 1

    def absorb(self, group: Group, verdicts: Mapping[Check, VendorVerdict]) -> Step:
        """A call's final verdicts: keep them and say what follows.

        A definitive negative ends the decision where the policy lets one negative decide
        (always in failover); a failover check whose vendor failed in a way that allows it
        moves to its next vendor, checks moving to the same vendor sharing one call.
        """
        moving: dict[VendorOp, set[Check]] = defaultdict(set)
        ended = False
        for check in group.checks:
            verdict = verdicts[check]
            self.verdicts[check].append(verdict)
            rule = self.policy.checks[check]
            if verdict.definitive_negative and rule.negative_decides:
                ended = True
            elif rule.mode is Mode.FAILOVER and verdict.may_fail_over:
                nxt = self._advance(check)
                if nxt is not None:
                    moving[nxt].add(check)
        if ended:
            # Checks still waiting on a call are cut short by this negative, not unserved.
            self._stopped = frozenset(c for (c, _), n in self._pending.items() if n > 0)
            return Step(ended=True)
        calls = tuple(Group(v, op, frozenset(c), "failover") for (v, op), c in moving.items())
        for call in calls:
            self._calling(call)
        return Step(ended=False, calls=calls)

    def time_out(self) -> None:
        """The deadline passed: only the checks still waiting on a call end as
        ``deadline_exceeded`` (a check with its answer keeps it), and in ``all`` mode each
        vendor still out counts as unanswered, so the ensemble cannot pass without it."""
        self.timed_out = True
        self.unfinished = (
            frozenset(c for (c, _), n in self._pending.items() if n > 0)
            if self._started
            else frozenset(self.policy.checks)  # still planning: nothing was asked
        )
        for (check, vendor), count in self._pending.items():
            if count > 0 and self.policy.checks[check].mode is Mode.ALL:
                self.verdicts[check].append(
                    VendorVerdict(vendor, check, Verdict.ERROR, "deadline_exceeded")
                )

    # hedging ---------------------------------------------------------------------------

    def hedge_partner(self, group: Group) -> VendorOp | None:
        """The next vendor every check of the group would fail over to, if hedging applies."""
        if self.policy.hedge_after is None or group.role == "hedge":
            return None
        nexts = set()
        for check in group.checks:
            if self.policy.checks[check].mode is not Mode.FAILOVER:
                return None
            candidates, index = self._candidates[check], self._cursor[check] + 1
            if index >= len(candidates):
                return None
            nexts.add(candidates[index])
        return nexts.pop() if len(nexts) == 1 else None

    def hedge(self, group: Group, partner: VendorOp) -> Group:
        """``group``'s vendor is late: its partner is asked as well, as the checks' next."""
        for check in group.checks:
            self._advance(check)
        return Group(partner[0], partner[1], group.checks, "hedge")

    @staticmethod
    def decisive(verdicts: Mapping[Check, VendorVerdict] | None) -> bool:
        """A hedged race is won by the first *definitive* answer, whichever way it points:
        a definitive negative, or an answer no check of which would fail over. Never by
        "first positive", nor by an answer one of whose checks still needs another vendor
        (the partner, already asked, may give it; its answer then decides)."""
        if verdicts is None:
            return False
        values = verdicts.values()
        return any(v.definitive_negative for v in values) or not any(
            v.may_fail_over for v in values
        )

    # one attempt -----------------------------------------------------------------------

    def judge(
        self, group: Group, readings: Mapping[Check, CheckReading]
    ) -> dict[Check, VendorVerdict]:
        """Each check's verdict on one attempt's readings, under the policy's thresholds."""
        spec = self.specs[group.vendor]
        verdicts = {}
        for check in group.checks:
            reading = readings[check]
            score_spec = spec.score_spec(reading.score.name) if reading.score else None
            verdicts[check] = judge(
                group.vendor, reading, self.policy.threshold(spec, check, score_spec)
            )
        return verdicts

    def refused(
        self,
        group: Group,
        classification: Classification,
        fault: Mapping[str, str | None] | None = None,
    ) -> dict[Check, VendorVerdict]:
        """The verdicts of a call refused before it left (breaker open, rate limit, a request
        that could not be built): errors, failing over where their class allows; the vendor
        is recorded as skipped, with why."""
        for check in group.checks:
            self.skipped.append(Skip(group.vendor, check, classification.reason, fault))
        return {
            check: judge(group.vendor, CheckReading(check, None, classification), _NO_THRESHOLD)
            for check in group.checks
        }

    def retry_delay(
        self,
        group: Group,
        failure: Classification | None,
        attempt: int,
        remaining: float,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before asking the same vendor again, or None: no retry (the
        failure is not transient, the retries are spent, or no time is left)."""
        if failure is None or not failure.error_class.retryable:
            return None
        retry = self.policy.settings(group.vendor).retry
        return retry.next_delay(attempt, remaining, rng, retry_after=failure.retry_after)

    def challenge_sent(self, group: Group) -> bool:
        """Whether ``group``'s request carries the evidence's challenge; if so, its checks are
        marked spent. Called when a request left whole and got no usable answer: the vendor
        may have used the challenge (Tencent's digits are single-use, a second use reads as
        a replay attack), so the request must not be sent again."""
        carried = {c for c in group.checks if self.bound.get(c) == group.vendor}
        self._spent |= carried
        return bool(carried)

    # the end ---------------------------------------------------------------------------

    def conclude(self, calls: int) -> Conclusion:
        """Each check's combined verdict, the outcome, its reasons, hint and explanation."""
        results = {
            check: combine(check, rule, self.verdicts.get(check, []))
            for check, rule in self.policy.checks.items()
        }
        results = {c: _timed_out(v) if c in self.unfinished else v for c, v in results.items()}
        results = {c: _stopped(v) if c in self._stopped else v for c, v in results.items()}
        results = {c: self._challenge_lost(c, v) for c, v in results.items()}
        outcome, reasons = outcome_of(results)
        hint = _hint(results) if outcome is Outcome.RETRY_CAPTURE else None
        text = explain(outcome, results, self.verdicts, calls, self.skipped, self.policy.deadline)
        return Conclusion(results, outcome, reasons, hint, text)

    # ----------------------------------------------------------------------------------

    def _challenge_lost(self, check: Check, result: CheckVerdict) -> CheckVerdict:
        """A bound check whose vendor could not answer, where it would otherwise have failed
        over: never a silent downgrade to a vendor that cannot honour the challenge, but a
        new capture (with a new challenge)."""
        vendor = self.bound.get(check)
        if vendor is None or result.verdict is not Verdict.ERROR:
            return result
        # A deadline that cut a call carrying the challenge is a new capture too: the caller
        # must not send the same challenge again (a second use reads as a replay).
        cut_mid_call = result.reason == "deadline_exceeded" and check in self._spent
        if result.reason in _CUT_SHORT and not cut_mid_call:
            return result
        if not all(v.may_fail_over for v in result.deciding):
            return result  # e.g. an unread answer: it may have been a negative
        reason, issue = CHALLENGE_LOST, CaptureIssue.CHALLENGE_VENDOR_UNAVAILABLE
        if check in self._spent:
            reason, issue = CHALLENGE_SPENT, CaptureIssue.CHALLENGE_SPENT
        # The vendor's own verdict keeps the deadline as its reason, so the record says why.
        said = result.reason if result.reason == "deadline_exceeded" else reason
        lost = VendorVerdict(vendor, check, Verdict.RETRY_CAPTURE, said, capture_issue=issue)
        return CheckVerdict(check, Verdict.RETRY_CAPTURE, reason, (*result.deciding, lost))

    def _calling(self, group: Group) -> None:
        for check in group.checks:
            self._pending[check, group.vendor] += 1

    def _advance(self, check: Check) -> VendorOp | None:
        candidates = self._candidates[check]
        index = self._cursor[check] + 1
        self._cursor[check] = index
        return candidates[index] if index < len(candidates) else None


def _timed_out(result: CheckVerdict) -> CheckVerdict:
    if result.verdict in (Verdict.PASS, Verdict.FAIL):
        return result
    if result.verdict is Verdict.ERROR or not result.deciding:
        return attrs.evolve(result, verdict=Verdict.ERROR, reason="deadline_exceeded")
    return result


def _stopped(result: CheckVerdict) -> CheckVerdict:
    if result.verdict is Verdict.ERROR and not result.deciding:
        return attrs.evolve(result, reason="stopped_by_negative")
    return result


def _hint(results: Mapping[Check, CheckVerdict]) -> str | None:
    for result in results.values():
        for verdict in result.deciding:
            if result.verdict is Verdict.RETRY_CAPTURE and verdict.capture_issue is not None:
                return verdict.capture_issue.hint
    return None


def _no_vendor_takes(
    policy: str, check: Check, errors: Sequence[InvalidEvidenceError]
) -> InvalidEvidenceError:
    """One error naming the field and every vendor's limit that refused it."""
    limits = "; ".join(f"{e.vendor or 'every vendor'}: {e.field}: {e.rule}" for e in errors)
    return InvalidEvidenceError(
        errors[0].field,
        f"no vendor of policy {policy!r} can take it for {check.value} ({limits})",
    )


def ineligible(
    policy: Policy, specs: Mapping[str, VendorSpec], configured: Iterable[str], evidence: Evidence
) -> dict[tuple[str, Check], str]:
    """Who cannot be asked for what, before anything is tried, and why: not configured, not
    offering the check, or missing evidence it needs."""
    found: dict[tuple[str, Check], str] = {}
    usable = frozenset(configured)
    for check, rule in policy.checks.items():
        for vendor in rule.vendors:
            offer = specs[vendor].offer(check)
            if vendor not in usable:
                found[vendor, check] = "not_configured"
            elif offer is None:
                found[vendor, check] = "check_not_offered"
            elif missing := offer.missing(evidence, vendor):
                found[vendor, check] = f"evidence_missing:{','.join(missing)}"
    return found
