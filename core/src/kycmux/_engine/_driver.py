"""The async driver of one decision: it performs what the decision machine asks for.

The rules (who is asked first, failover, when to stop, retries, hedging wins, the outcome) live
in ``kycmux._decision._machine``. The driver builds requests on the vendors' lanes, makes the
calls concurrently (one task per call), consults each vendor's breaker, rate limiter and retry
budget, runs the hedge timer, cancels what is left when the machine says the decision ended,
and records every attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping

import attrs

from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._decision._machine import Conclusion, DecisionMachine, Group, Skip, ineligible
from kycmux._decision._policy import Policy
from kycmux._decision._verdict import VendorVerdict
from kycmux._engine._guards import VendorGuards
from kycmux._model._evidence import Check, Evidence
from kycmux._records._builder import attempt_record, cancelled_attempt
from kycmux._records._record import AttemptRecord
from kycmux._resilience import Clock, ClockTimeout, Deadline, clock_timeout
from kycmux._resilience._deadline import SharedTimeout
from kycmux._transport._call import VendorClient
from kycmux._transport._outcome import CallOutcome, Prepared, Refusal

__all__ = ["DecisionRun"]

Verdicts = Mapping[Check, VendorVerdict]


class _Ended(Exception):
    """Raised inside the run to stop every call: the machine says the decision ended."""


@attrs.define
class DecisionRun:
    """One decision while it runs. Built and driven by ``Engine``."""

    client: VendorClient
    policy: Policy
    evidence: Evidence
    request_id: str
    clock: Clock
    resilience: VendorGuards
    rng: random.Random
    on_attempt: Callable[[AttemptRecord], None]
    role: str = "primary"
    attempts: list[AttemptRecord] = attrs.field(factory=list)
    machine: DecisionMachine | None = None
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set)
    _deadline: Deadline | None = None
    # The planning and then the calls are bounded by the deadline: one timer for both.
    _bound_by_deadline: SharedTimeout | None = None
    _requests: dict[tuple[str, frozenset[Check]], Prepared | Refusal] = attrs.field(factory=dict)

    async def plan(self) -> None:
        """Decide who is asked first, building those requests before anything is sent.

        Raises ``InvalidEvidenceError`` when the evidence given breaks the local limits of
        every vendor that could serve some check (nothing is sent then, to anyone).
        """
        if self.machine is not None:
            return
        specs = {v: self.client.spec(v) for r in self.policy.checks.values() for v in r.vendors}
        configured = [v for v in specs if self.client.is_configured(v)]
        cannot = ineligible(self.policy, specs, configured, self.evidence)
        self.machine = DecisionMachine.plan(
            self.policy, specs, cannot, self.role, bound=self._bound()
        )
        if self._deadline is None:  # the engine may have started it (the lockout's check)
            self._deadline = Deadline(self.clock, self.policy.deadline)
        bound = self._bound_by_deadline = SharedTimeout(self._deadline)
        try:
            async with bound.scope():
                await self._build_first_requests(self.machine)
        except TimeoutError:
            self.machine.time_out()
        refused = self.machine.unservable_evidence()
        if refused is not None or self.machine.timed_out:
            bound.cancel()  # no calls follow
        if refused is not None:
            raise refused

    async def run(self) -> None:
        """Run every call until all checks are decided, one ends the decision, or time is up."""
        await self.plan()
        machine, bound = self._machine(), self._bound_by_deadline
        assert bound is not None
        if machine.timed_out:
            return
        for group in machine.start():
            self._spawn(group)
        try:
            async with bound.scope():
                await self._drain()
        except TimeoutError:
            machine.time_out()
        finally:
            bound.cancel()
            await self._cancel_all()

    def conclude(self) -> Conclusion:
        return self._machine().conclude(calls=len(self.attempts))

    @property
    def skipped(self) -> list[Skip]:
        """Vendors not asked, with why (none before planning)."""
        return [] if self.machine is None else self.machine.skipped

    # planning -------------------------------------------------------------------------

    def _bound(self) -> dict[Check, str]:
        """The checks the evidence's challenge binds to its vendor. A shadow is not bound: it
        decides nothing, so there is no downgrade to guard against."""
        challenge = self.evidence.challenge
        if challenge is None or self.role == "shadow":
            return {}
        spec = self.client.spec(challenge.vendor)
        return dict.fromkeys(spec.challenged(self.policy.checks), challenge.vendor)

    async def _build_first_requests(self, machine: DecisionMachine) -> None:
        seen: set[tuple[str, frozenset[Check]]] = set()
        changed = True
        while changed:  # a vendor passed over brings the next one into the first calls
            changed = False
            for group in machine.first_groups():
                if (group.vendor, group.checks) in seen:
                    continue
                seen.add((group.vendor, group.checks))
                if self.resilience.surely_refused(group.vendor) is not None:
                    continue  # its breaker is open: nothing to build (``_call_vendor``)
                prepared = await self._request(group)
                if isinstance(prepared, Refusal):
                    fault = prepared.fault.as_dict() if prepared.fault else None
                    reason = prepared.classification
                    changed |= machine.refuse(group, reason, prepared.evidence, fault)

    async def _request(self, group: Group) -> Prepared | Refusal:
        key = (group.vendor, group.checks)
        if key not in self._requests:
            self._requests[key] = await self.client.aprepare(
                group.vendor,
                group.checks,
                self.evidence,
                self.request_id,
                self._attempt_timeout(group.vendor),
                timer=self._timer,
            )
        return self._requests[key]

    # running --------------------------------------------------------------------------

    def _spawn(self, group: Group) -> None:
        self._tasks.add(asyncio.get_running_loop().create_task(self._serve(group)))

    async def _drain(self) -> None:
        while self._tasks:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._tasks.discard(task)
                if task.cancelled():
                    continue
                if isinstance(task.exception(), _Ended):
                    return
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    async def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _serve(self, group: Group) -> None:
        machine = self._machine()
        while True:
            try:
                partner = machine.hedge_partner(group)
                if partner is None:
                    verdicts = await self._call_vendor(group)
                else:
                    verdicts = await self._race(group, partner)
                if verdicts is None:
                    return
                step = machine.absorb(group, verdicts)
                if step.ended:
                    raise _Ended
            finally:
                machine.done(group)
            if len(step.calls) != 1:
                for call in step.calls:
                    self._spawn(call)
                return
            # The one call that follows (a failover) goes on in this task: no new task.
            group = step.calls[0]

    async def _race(self, group: Group, partner: tuple[str, str]) -> Verdicts | None:
        """Ask ``group``'s vendor; after ``hedge_after`` also the partner; the machine says
        which answer wins (``decisive``); the other call is cancelled."""
        machine = self._machine()
        assert self.policy.hedge_after is not None
        primary = asyncio.ensure_future(self._call_vendor(group))
        tasks = {primary}
        try:
            try:
                async with clock_timeout(self.clock, self.policy.hedge_after):
                    return await asyncio.shield(primary)
            except TimeoutError:
                pass
            tasks.add(asyncio.ensure_future(self._call_vendor(machine.hedge(group, partner))))
            last: Verdicts | None = None
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    last = task.result()
                    if machine.decisive(last):
                        return last
            return last
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # one vendor, with retries ----------------------------------------------------------

    async def _call_vendor(self, group: Group) -> Verdicts | None:
        """Call one vendor for a group of checks, retrying as the machine says.

        Returns a verdict per check; a call refused before it left (breaker open, rate limit,
        a request that cannot be built) comes back as error verdicts.
        """
        machine = self._machine()
        if (group.vendor, group.checks) not in self._requests:
            # The breaker before the build: failing over past an open breaker builds nothing.
            refusal = self.resilience.surely_refused(group.vendor)
            if refusal is not None:
                return machine.refused(group, refusal)
        prepared = await self._request(group)
        if isinstance(prepared, Refusal):
            fault = prepared.fault.as_dict() if prepared.fault else None
            return machine.refused(group, prepared.classification, fault)
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(group, prepared, attempt)
            if isinstance(outcome, Classification):
                return machine.refused(group, outcome)
            verdicts = machine.judge(group, outcome.readings)
            self._record(attempt_record(group, outcome, verdicts))
            failure = outcome.failure
            if _maybe_used(outcome) and machine.challenge_sent(group):
                return verdicts  # a resend would replay a challenge the vendor may have used
            if failure is not None and failure.error_class is ErrorClass.RATE_LIMITED:
                await self.resilience.pause(group.vendor, failure.retry_after)
            assert self._deadline is not None
            remaining = self._deadline.remaining()
            delay = machine.retry_delay(group, failure, attempt, remaining, self.rng)
            if delay is None or not await self.resilience.retry(group.vendor):
                return verdicts
            await self.clock.sleep(delay)

    async def _attempt(
        self, group: Group, prepared: Prepared, attempt: int
    ) -> CallOutcome | Classification:
        assert self._deadline is not None
        admitted = await self.resilience.admit(group.vendor, attempt, self._deadline)
        if isinstance(admitted, Classification):
            return admitted
        started, began = self.clock.time(), self.clock.monotonic()
        try:
            outcome = await self.client.acall(
                prepared.request,
                self.request_id,
                attempt,
                self._attempt_timeout(group.vendor),
                timer=self._timer,
                # Signed with the request, in the same hop; every retry signs anew.
                signed=prepared.signed if attempt == 1 else None,
            )
        except asyncio.CancelledError:
            # Recorded first: a second cancellation during the release must not lose it.
            self._record(cancelled_attempt(group, attempt, started, self.clock.time()))
            # Cut off mid-call (the deadline): the challenge it carried may be used up.
            self._machine().challenge_sent(group)
            await self.resilience.release(group.vendor, admitted)
            raise
        failure = outcome.failure
        await self.resilience.settle(
            group.vendor, admitted, failure.error_class if failure else None
        )
        # Latency on the engine's clock, so records agree with the deadline arithmetic.
        return attrs.evolve(outcome, latency=self.clock.monotonic() - began)

    # ----------------------------------------------------------------------------------

    def _record(self, record: AttemptRecord) -> None:
        plugin = self.client.plugin(record.vendor)
        if plugin != record.vendor:  # an instance: audits must see which plugin answered
            record = attrs.evolve(record, instance_of=plugin)
        self.attempts.append(record)
        self.on_attempt(record)

    def _attempt_timeout(self, vendor: str) -> float:
        assert self._deadline is not None
        return self._deadline.timeout_for_attempt(self.policy.settings(vendor).attempt_timeout)

    def _timer(self, seconds: float) -> ClockTimeout:
        return clock_timeout(self.clock, seconds)

    def _machine(self) -> DecisionMachine:
        assert self.machine is not None, "plan() first"
        return self.machine


def _maybe_used(outcome: CallOutcome) -> bool:
    """The whole request left and the answer was no success: the vendor may have processed
    it. Whatever the answer (a timeout, a reset, a 502 or 504 from a gateway after the vendor
    used it, an error code of the vendor's own), nothing proves the challenge unused — but for
    "rate limited": a request turned away for its rate was not processed."""
    failure = outcome.failure
    if failure is None or not outcome.body_sent:
        return False
    return failure.error_class is not ErrorClass.RATE_LIMITED
