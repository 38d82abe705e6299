"""One decision, as it runs: plan the calls, run them concurrently, fail over, hedge, stop.

The run groups the checks that the same vendor serves through the same operation into one
call. Each call retries transient failures within the deadline, then hands its readings to the
checks it served; a failover check whose vendor failed in a way that allows it moves to its next
vendor (checks that fail over together to the same vendor share the next call too). A
definitive negative ends the whole decision at once: outstanding calls are cancelled and no
other vendor is asked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import attrs

from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._decision._policy import Mode, Policy, Threshold
from kycmux._decision._verdict import VendorVerdict, Verdict, judge
from kycmux._model._evidence import Check, Evidence
from kycmux._records._record import AttemptRecord, SkipRecord
from kycmux._resilience import (
    CircuitBreaker,
    Clock,
    Deadline,
    RateLimiter,
    RetryBudget,
    clock_timeout,
    outcome_for,
)
from kycmux._transport._call import VendorClient
from kycmux._transport._outcome import CallOutcome, CheckReading, Prepared, Refusal
from kycmux.exceptions import InvalidEvidenceError

__all__ = ["DecisionRun", "Resilience"]

log = logging.getLogger("kycmux.engine")


@attrs.frozen
class Resilience:
    """The engine-wide, per-vendor state a run draws on."""

    breaker: Callable[[str], CircuitBreaker]
    limiter: Callable[[str], RateLimiter]
    budget: Callable[[str], RetryBudget]


@attrs.frozen
class _Group:
    """Checks one call serves: same vendor, same operation."""

    vendor: str
    operation: str
    checks: frozenset[Check]
    role: str


class _Ended(Exception):
    """Raised inside the run to stop every call: a definitive negative came in."""


@attrs.define
class DecisionRun:
    """The state of one decision while it runs. Built and driven by ``Engine``."""

    client: VendorClient
    policy: Policy
    evidence: Evidence
    request_id: str
    clock: Clock
    resilience: Resilience
    rng: random.Random
    on_attempt: Callable[[AttemptRecord], None]
    role: str = "primary"
    attempts: list[AttemptRecord] = attrs.field(factory=list)
    skipped: list[SkipRecord] = attrs.field(factory=list)
    verdicts: dict[Check, list[VendorVerdict]] = attrs.field(factory=lambda: defaultdict(list))
    timed_out: bool = False
    unfinished: frozenset[Check] = frozenset()
    _candidates: dict[Check, list[tuple[str, str]]] = attrs.field(factory=dict)
    _cursor: dict[Check, int] = attrs.field(factory=dict)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set)
    _ended: bool = False
    _deadline: Deadline | None = None
    _requests: dict[tuple[str, frozenset[Check]], Prepared | Refusal] = attrs.field(factory=dict)
    _pending: dict[tuple[Check, str], int] = attrs.field(factory=lambda: defaultdict(int))

    async def plan(self) -> None:
        """Decide who is asked first, building those requests before anything is sent.

        Raises ``InvalidEvidenceError`` when the evidence given breaks the local limits of
        every vendor that could serve some check (nothing is sent then, to anyone).
        """
        if self._deadline is not None:
            return
        self._deadline = Deadline(self.clock, self.policy.deadline)
        self._choose_candidates()
        try:
            async with clock_timeout(self.clock, self.policy.deadline):
                await self._build_first_requests()
        except TimeoutError:
            self._time_out(frozenset(self.policy.checks))

    async def run(self) -> None:
        """Run every call until all checks are decided, one ends the decision, or time is up."""
        await self.plan()
        if self.timed_out:
            return
        assert self._deadline is not None
        for group in self._initial_groups():
            self._spawn(group)
        try:
            async with clock_timeout(self.clock, self._deadline.remaining()):
                await self._drain()
        except TimeoutError:
            self._time_out(frozenset(c for (c, _), n in self._pending.items() if n > 0))
        finally:
            await self._cancel_all()

    def _time_out(self, unfinished: frozenset[Check]) -> None:
        """Only the checks still waiting on a call end as ``deadline_exceeded``; a check that
        already has its answer (an error included) keeps it. In ``all`` mode each vendor
        still out counts as unanswered, so the ensemble cannot pass without it."""
        self.timed_out = True
        self.unfinished = unfinished
        for (check, vendor), count in self._pending.items():
            if count > 0 and self.policy.checks[check].mode is Mode.ALL:
                self.verdicts[check].append(
                    VendorVerdict(vendor, check, Verdict.ERROR, "deadline_exceeded")
                )

    # planning -------------------------------------------------------------------------

    def _choose_candidates(self) -> None:
        for check, rule in self.policy.checks.items():
            eligible: list[tuple[str, str]] = []
            for vendor in rule.vendors:
                reason = self._ineligible(vendor, check)
                if reason is None:
                    offer = self.client.spec(vendor).offer(check)
                    assert offer is not None  # validated with the policy
                    eligible.append((vendor, offer.operation))
                else:
                    self.skipped.append(SkipRecord(vendor, check.value, reason))
            self._candidates[check] = eligible
            self._cursor[check] = 0

    def _ineligible(self, vendor: str, check: Check) -> str | None:
        if not self.client.is_configured(vendor):
            return "not_configured"
        offer = self.client.spec(vendor).offer(check)
        if offer is None:
            return "check_not_offered"
        missing = offer.missing(self.evidence, vendor)
        return f"evidence_missing:{','.join(missing)}" if missing else None

    async def _build_first_requests(self) -> None:
        """Build the first call's request for every check before anything is sent.

        In failover, a vendor whose request cannot be built (evidence over its limits, a
        plugin bug) is passed over here as it would be on failover, but before any request
        leaves. In ``all`` mode it stays: its refusal is its (error) verdict, so an ensemble
        never passes with a member missing.
        """
        refused: dict[Check, list[Refusal]] = defaultdict(list)
        seen: set[tuple[str, frozenset[Check]]] = set()
        while True:
            dropped = False
            for group in self._initial_groups():
                if (group.vendor, group.checks) in seen:
                    continue
                seen.add((group.vendor, group.checks))
                request = await self._request(group)
                if isinstance(request, Refusal):
                    dropped |= self._drop(group, request, refused)
            if not dropped:
                break
        for check, refusals in refused.items():
            evidence = [r.evidence for r in refusals if r.evidence is not None]
            if self._unservable(check, len(refusals)) and len(evidence) == len(refusals):
                raise _no_vendor_takes(self.policy.name, check, evidence)

    def _drop(self, group: _Group, refusal: Refusal, refused: dict[Check, list[Refusal]]) -> bool:
        """Pass over a refusing vendor for its failover checks; True if any was passed over."""
        dropped = False
        for check in group.checks:
            refused[check].append(refusal)
            if self.policy.checks[check].mode is Mode.ALL:
                continue
            self._candidates[check] = [
                c for c in self._candidates[check] if c != (group.vendor, group.operation)
            ]
            self.skipped.append(_skip(group.vendor, check, refusal))
            dropped = True
        return dropped

    def _unservable(self, check: Check, refusals: int) -> bool:
        if self.policy.checks[check].mode is Mode.ALL:
            return refusals >= len(self._candidates[check])
        return not self._candidates[check]

    def _initial_groups(self) -> list[_Group]:
        wants: dict[tuple[str, str], set[Check]] = defaultdict(set)
        for check, rule in self.policy.checks.items():
            candidates = self._candidates[check]
            chosen = candidates if rule.mode is Mode.ALL else candidates[:1]
            for vendor_op in chosen:
                wants[vendor_op].add(check)
        return [_Group(v, op, frozenset(c), self.role) for (v, op), c in wants.items()]

    # running --------------------------------------------------------------------------

    def _spawn(self, group: _Group) -> None:
        for check in group.checks:  # pending from now, not from when the task first runs
            self._pending[check, group.vendor] += 1
        task = asyncio.get_running_loop().create_task(self._serve(group))
        self._tasks.add(task)

    async def _drain(self) -> None:
        while self._tasks and not self._ended:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._tasks.discard(task)
                if not task.cancelled() and isinstance(task.exception(), _Ended):
                    self._ended = True
                elif not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    async def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _serve(self, group: _Group) -> None:
        try:
            hedge = self._hedge_partner(group)
            if hedge is None:
                readings = await self._call_vendor(group)
            else:
                readings = await self._race(group, hedge)
            if readings is not None:
                self._absorb(group, readings)
        finally:
            for check in group.checks:
                self._pending[check, group.vendor] -= 1

    def _absorb(self, group: _Group, readings: Mapping[Check, VendorVerdict]) -> None:
        moving: dict[tuple[str, str], set[Check]] = defaultdict(set)
        ended = False
        for check in group.checks:
            verdict = readings[check]
            self.verdicts[check].append(verdict)
            rule = self.policy.checks[check]
            if verdict.definitive_negative and _ends_decision(rule.mode, rule.combine.value):
                ended = True
            elif rule.mode is Mode.FAILOVER and verdict.may_fail_over:
                nxt = self._advance(check)
                if nxt is not None:
                    moving[nxt].add(check)
        if ended:
            raise _Ended
        for (vendor, op), checks in moving.items():
            self._spawn(_Group(vendor, op, frozenset(checks), "failover"))

    def _advance(self, check: Check, *, past: str | None = None) -> tuple[str, str] | None:
        candidates = self._candidates[check]
        index = self._cursor[check] + 1
        while index < len(candidates) and candidates[index][0] == past:
            index += 1
        self._cursor[check] = index
        return candidates[index] if index < len(candidates) else None

    # hedging --------------------------------------------------------------------------

    def _hedge_partner(self, group: _Group) -> tuple[str, str] | None:
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

    async def _race(
        self, group: _Group, partner: tuple[str, str]
    ) -> Mapping[Check, VendorVerdict] | None:
        """Ask ``group``'s vendor; after ``hedge_after`` also the partner.

        The first *definitive* answer wins, whichever way it points, and the other call is
        cancelled: never "first positive wins". An answer that allows failing over does not
        win; the other call is awaited instead.
        """
        assert self.policy.hedge_after is not None
        primary = asyncio.ensure_future(self._call_vendor(group))
        tasks = {primary}
        try:
            try:
                async with clock_timeout(self.clock, self.policy.hedge_after):
                    return await asyncio.shield(primary)
            except TimeoutError:
                pass
            for check in group.checks:
                self._advance(check)
            hedge_group = _Group(partner[0], partner[1], group.checks, "hedge")
            tasks.add(asyncio.ensure_future(self._call_vendor(hedge_group)))
            last: Mapping[Check, VendorVerdict] | None = None
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    last = task.result()
                    if last is not None and not all(v.may_fail_over for v in last.values()):
                        return last
            return last
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # one vendor, with retries ----------------------------------------------------------

    async def _call_vendor(self, group: _Group) -> Mapping[Check, VendorVerdict] | None:
        """Call one vendor for a group of checks, retrying transient failures.

        Returns a verdict per check, or local refusals (breaker open, rate limit, evidence
        the vendor cannot take) as error verdicts that allow failing over.
        """
        prepared = await self._request(group)
        if isinstance(prepared, Refusal):
            return self._local_refusal(group, prepared)
        settings = self.policy.settings(group.vendor)
        budget = self.resilience.budget(group.vendor)
        budget.deposit()
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(group, prepared, attempt)
            if isinstance(outcome, Classification):
                return self._local_refusal(group, Refusal(outcome))
            verdicts = self._judge(group, outcome)
            failure = outcome.failure
            if failure is None or not failure.error_class.retryable:
                return verdicts
            if failure.error_class is ErrorClass.RATE_LIMITED:
                self.resilience.limiter(group.vendor).pause(failure.retry_after)
            assert self._deadline is not None
            delay = settings.retry.next_delay(
                attempt, self._deadline.remaining(), self.rng, retry_after=failure.retry_after
            )
            if delay is None or not budget.withdraw():
                return verdicts
            await self.clock.sleep(delay)

    async def _request(self, group: _Group) -> Prepared | Refusal:
        key = (group.vendor, group.checks)
        if key not in self._requests:
            assert self._deadline is not None
            self._requests[key] = await self.client.aprepare(
                group.vendor,
                group.checks,
                self.evidence,
                self.request_id,
                self._deadline.timeout_for_attempt(
                    self.policy.settings(group.vendor).attempt_timeout
                ),
                timer=lambda s: clock_timeout(self.clock, s),
            )
        return self._requests[key]

    async def _attempt(
        self, group: _Group, prepared: Prepared, attempt: int
    ) -> CallOutcome | Classification:
        breaker = self.resilience.breaker(group.vendor)
        permit = breaker.acquire()
        if permit is None:
            return Classification(ErrorClass.VENDOR_UNAVAILABLE, "circuit_open")
        assert self._deadline is not None
        limiter = self.resilience.limiter(group.vendor)
        slot = await limiter.admit(self._deadline)
        if slot is None:
            permit.cancel()
            return Classification(ErrorClass.RATE_LIMITED, "client_rate_limit")
        timeout = self._deadline.timeout_for_attempt(
            self.policy.settings(group.vendor).attempt_timeout
        )
        started, began = self.clock.time(), self.clock.monotonic()
        try:
            with slot:
                outcome = await self.client.acall(
                    prepared.request,
                    self.request_id,
                    attempt,
                    timeout,
                    timer=lambda s: clock_timeout(self.clock, s),
                    # Signed with the request, in the same hop; every retry signs anew.
                    signed=prepared.signed if attempt == 1 else None,
                )
        except asyncio.CancelledError:
            permit.cancel()
            self._record_cancelled(group, attempt, started)
            raise
        permit.record(outcome_for(outcome.failure.error_class if outcome.failure else None))
        # Latency on the engine's clock, so records agree with the deadline arithmetic.
        return attrs.evolve(outcome, latency=self.clock.monotonic() - began)

    def _judge(self, group: _Group, outcome: CallOutcome) -> dict[Check, VendorVerdict]:
        spec = self.client.spec(group.vendor)
        verdicts = {}
        for check in group.checks:
            reading = outcome.readings[check]
            score_spec = spec.score_spec(reading.score.name) if reading.score else None
            threshold = self.policy.threshold(spec, check, score_spec)
            verdicts[check] = judge(group.vendor, reading, threshold)
        self._record_attempt(group, outcome, verdicts)
        return verdicts

    def _local_refusal(self, group: _Group, why: Refusal) -> dict[Check, VendorVerdict]:
        for check in group.checks:
            self.skipped.append(_skip(group.vendor, check, why))
        reading = functools.partial(CheckReading, answer=None, failure=why.classification)
        return {check: judge(group.vendor, reading(check), _NO_THRESHOLD) for check in group.checks}

    # records ---------------------------------------------------------------------------

    def _record_attempt(
        self, group: _Group, outcome: CallOutcome, verdicts: Mapping[Check, VendorVerdict]
    ) -> None:
        result, failure = outcome.result, outcome.failure
        record = AttemptRecord(
            vendor=group.vendor,
            operation=group.operation,
            checks=tuple(sorted(c.value for c in group.checks)),
            attempt=outcome.attempt,
            role=group.role if outcome.attempt == 1 else "retry",
            started_at=outcome.started_at,
            latency_ms=round(outcome.latency * 1000, 3),
            http_status=outcome.http_status,
            error_class=failure.error_class.value if failure else None,
            reason=failure.reason if failure else _first_non_pass(verdicts.values()),
            vendor_code=result.code if result else None,
            vendor_message=result.message if result else None,
            vendor_request_id=result.request_id if result else None,
            possibly_billed=outcome.possibly_billed,
            verdicts={c.value: v.verdict.value for c, v in verdicts.items()},
            scores={c.value: v.score.as_dict() for c, v in verdicts.items() if v.score},
            capture_issue=_first_issue(verdicts.values()),
            plugin=outcome.fault.as_dict() if outcome.fault else None,
        )
        self.attempts.append(record)
        self.on_attempt(record)

    def _record_cancelled(self, group: _Group, attempt: int, started: float) -> None:
        record = AttemptRecord(
            vendor=group.vendor,
            operation=group.operation,
            checks=tuple(sorted(c.value for c in group.checks)),
            attempt=attempt,
            role=group.role,
            started_at=started,
            latency_ms=round((self.clock.time() - started) * 1000, 3),
            reason="cancelled",
            # Cancelled mid-flight: the request may have reached the vendor.
            possibly_billed=True,
        )
        self.attempts.append(record)
        self.on_attempt(record)


_NO_THRESHOLD = Threshold("vendor_verdict")


def _skip(vendor: str, check: Check, refusal: Refusal) -> SkipRecord:
    fault = refusal.fault
    return SkipRecord(
        vendor, check.value, refusal.classification.reason, fault.as_dict() if fault else None
    )


def _no_vendor_takes(
    policy: str, check: Check, errors: list[InvalidEvidenceError]
) -> InvalidEvidenceError:
    """One error naming the field and every vendor's limit that refused it."""
    limits = "; ".join(f"{e.vendor or 'every vendor'}: {e.field}: {e.rule}" for e in errors)
    return InvalidEvidenceError(
        errors[0].field,
        f"no vendor of policy {policy!r} can take it for {check.value} ({limits})",
    )


def _ends_decision(mode: Mode, combine: str) -> bool:
    return mode is Mode.FAILOVER or combine == "any_negative_rejects"


def _first_non_pass(verdicts: Iterable[VendorVerdict]) -> str | None:
    return next((v.reason for v in verdicts if v.verdict is not Verdict.PASS), None)


def _first_issue(verdicts: Iterable[VendorVerdict]) -> str | None:
    return next((v.capture_issue.value for v in verdicts if v.capture_issue), None)
