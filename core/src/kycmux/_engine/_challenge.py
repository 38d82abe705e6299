"""Issuing a vendor challenge for a decision to come (``Engine.challenge``).

The vendor is the one the policy would ask first for a challenged check, passing over vendors
not configured or whose breaker or rate limit refuses the call, as a decision's planning does.
The issuing call goes through the same lane, signing, transport, timeout and classification as
every vendor call, and leaves an attempt record (role ``challenge``) for the observers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
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

__all__ = ["ChallengeIssuer", "challenge_key", "check_challenge", "seal"]

ROLE = "challenge"
# How far in the future a challenge's issued_at may lie (clocks of replicas drift a little).
_SKEW = 5.0


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


def challenge_key(record_key: bytes) -> bytes:
    """The key of challenge seals, derived from the record key (never the record key itself,
    so a seal reveals nothing about the hashes in records)."""
    # HKDF-extract with a label as salt, not HMAC(record_key, label): that is what a subject
    # hash of the label would be, and subject ids are the caller's to choose.
    return hmac.new(b"kycmux challenge seal v1", record_key, hashlib.sha256).digest()


def seal(key: bytes, challenge: Challenge, subject: str | None) -> Challenge:
    """``challenge`` bound to ``subject`` (a keyed hash, or None) and sealed with ``key``."""
    bound = attrs.evolve(challenge, subject=subject, mac=None)
    return attrs.evolve(bound, mac=_mac(key, bound))


def _mac(key: bytes, challenge: Challenge) -> str:
    # Floats through repr: what JSON round-trips exactly, so a stored challenge still verifies.
    fields = [
        challenge.vendor,
        challenge.kind.value,
        challenge.value,
        repr(float(challenge.issued_at)),
        repr(float(challenge.expires_at)),
        challenge.id,
        challenge.request_id,
        challenge.subject,
    ]
    data = json.dumps(fields, separators=(",", ":")).encode()
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def check_challenge(
    specs: Mapping[str, VendorSpec],
    clock: Clock,
    evidence: Evidence,
    key: bytes,
    subject: str | None,
) -> None:
    """Refuse, before anything is sent, a challenge no vendor here can verify, one this
    engine did not seal (or that was changed since), one living longer than its vendor's
    ttl or issued in the future, one issued for another subject than the evidence names, or
    one that expired on the engine's clock (``InvalidEvidenceError`` naming the field).
    ``specs``: the vendors and instances by name (an instance issues under its own);
    ``key``: ``challenge_key``;
    ``subject``: the keyed hash of the evidence's subject."""
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
    _check_seal(challenge, key)
    if challenge.expires_at - challenge.issued_at > spec.challenge.ttl:
        raise InvalidEvidenceError(
            "challenge.expires_at", f"lives longer than {challenge.vendor}'s ttl"
        )
    if challenge.issued_at > clock.time() + _SKEW:
        raise InvalidEvidenceError("challenge.issued_at", "lies in the future")
    if challenge.subject is not None and challenge.subject != subject:
        # Sealed for a subject: only evidence naming that subject may carry it.
        raise InvalidEvidenceError(
            "challenge.subject", "issued for another subject than the evidence's (or none)"
        )
    evidence.check_challenge(clock.time())


def _check_seal(challenge: Challenge, key: bytes) -> None:
    if challenge.mac is None:
        raise InvalidEvidenceError(
            "challenge.mac", "required: pass back the challenge Engine.challenge returned"
        )
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, untyped).
    given = challenge.mac.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(given, _mac(key, challenge).encode()):
        raise InvalidEvidenceError(
            "challenge.mac",
            "does not verify: the challenge was changed, or sealed by an engine with another "
            "[engine] record_key",
        )
