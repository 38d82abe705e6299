"""Issuing a vendor challenge for a decision to come (``Engine.challenge``).

The vendor is the one the policy would ask first for a challenged check, passing over vendors
not configured or whose breaker or rate limit refuses the call, as a decision's planning does.
The issuing call goes through the same lane, signing, transport, timeout and classification as
every vendor call, and leaves an attempt record (role ``challenge``) for the observers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import attrs

from kycmux._contract._taxonomy import Classification
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._machine import Group
from kycmux._decision._policy import Policy
from kycmux._engine._guards import VendorGuards
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Evidence
from kycmux._records._builder import attempt_record
from kycmux._records._record import AttemptRecord
from kycmux._resilience import Clock, ClockTimeout, Deadline, clock_timeout
from kycmux._transport._call import VendorClient
from kycmux.exceptions import ChallengeUnavailableError, InvalidEvidenceError

__all__ = ["ChallengeIssuer", "check_challenge"]

ROLE = "challenge"


@attrs.frozen
class ChallengeIssuer:
    """Asks the policy's first challenging vendor for a challenge. Built by ``Engine``."""

    client: VendorClient
    guards: VendorGuards
    clock: Clock
    on_attempt: Callable[[AttemptRecord], None]

    def candidates(self, policy: Policy) -> Iterator[str]:
        """Vendors that would be asked first for a check and need a challenge for it, in the
        policy's order; a check whose first usable vendor needs none contributes nothing."""
        seen: set[str] = set()
        for check, rule in policy.checks.items():
            for vendor in rule.vendors:
                if not self.client.is_configured(vendor):
                    continue
                spec = self.client.spec(vendor)
                if spec.offer(check) is None:
                    continue
                if not spec.challenged([check]):
                    break  # this check's first vendor needs no challenge
                if vendor not in seen:
                    seen.add(vendor)
                    yield vendor

    async def issue(self, policy: Policy, request_id: str) -> Challenge:
        """A challenge from the first candidate that can issue one, within the policy's
        deadline; ``ChallengeUnavailableError`` with every vendor's reason otherwise."""
        deadline = Deadline(self.clock, policy.deadline)
        reasons: list[str] = []
        attempts: list[AttemptRecord] = []
        for vendor in self.candidates(policy):
            if deadline.remaining() <= 0:
                reasons.append(f"{vendor}:deadline_exceeded")
                break
            answer = await self._ask(vendor, policy, request_id, deadline, attempts)
            if isinstance(answer, Challenge):
                return answer
            reasons.append(f"{vendor}:{answer.reason}")
            if not answer.error_class.may_fail_over:
                break
        raise ChallengeUnavailableError(policy.name, tuple(reasons), tuple(attempts))

    async def _ask(
        self,
        vendor: str,
        policy: Policy,
        request_id: str,
        deadline: Deadline,
        attempts: list[AttemptRecord],
    ) -> Challenge | Classification:
        admitted = await self.guards.admit(vendor, 1, deadline)
        if isinstance(admitted, Classification):
            return admitted
        spec = self.client.spec(vendor)
        assert spec.challenge is not None  # a candidate declares one
        timeout = deadline.timeout_for_attempt(policy.settings(vendor).attempt_timeout)
        began = self.clock.monotonic()

        try:
            outcome, challenge = await self.client.achallenge(
                vendor, request_id, timeout, timer=self._timer
            )
        except BaseException:
            await self.guards.release(vendor, admitted)
            raise
        failure = outcome.failure
        await self.guards.settle(vendor, admitted, failure.error_class if failure else None)
        outcome = attrs.evolve(outcome, latency=self.clock.monotonic() - began)
        group = Group(vendor, spec.challenge.operation, frozenset(), ROLE)
        record = attempt_record(group, outcome, {})
        attempts.append(record)
        self.on_attempt(record)
        if challenge is not None:
            return attrs.evolve(challenge, request_id=request_id)
        assert failure is not None  # no challenge means the call failed
        return failure

    def _timer(self, seconds: float) -> ClockTimeout:
        return clock_timeout(self.clock, seconds)


def check_challenge(specs: Mapping[str, VendorSpec], clock: Clock, evidence: Evidence) -> None:
    """Refuse, before anything is sent, a challenge no vendor here can verify, or one that
    expired on the engine's clock (``InvalidEvidenceError`` naming ``challenge``). ``specs``:
    the vendors and instances by name (an instance issues under its own)."""
    challenge = evidence.challenge
    if challenge is None:
        return
    spec = specs.get(challenge.vendor)
    if spec is None:
        raise InvalidEvidenceError("challenge", "issued by a vendor not loaded here")
    if spec.challenge is None or spec.challenge.kind is not challenge.kind:
        raise InvalidEvidenceError(
            "challenge", f"{challenge.vendor} issues no {challenge.kind.value} challenges"
        )
    evidence.check_challenge(clock.time())
