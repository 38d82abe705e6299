"""Subject lockout around a decision: the check before it, the count after it.

The counts live in the engine's state (shared across replicas with a shared store). When
the store does not answer, the policy's ``lockout.unavailable`` decides: ``closed`` refuses
the decision (``Standing.refused``), ``open`` decides without the lockout
(``Standing.skipped``); either way the record says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import attrs

from kycmux._decision._policy import Policy
from kycmux._decision._verdict import Outcome
from kycmux._model._evidence import Evidence
from kycmux._records._builder import refused_record
from kycmux._records._record import DecisionRecord
from kycmux._resilience._deadline import Deadline
from kycmux._resilience._lockout import Lock, LockoutSettings
from kycmux._state._contract import SubjectEvent
from kycmux._state._fallback import Guarded
from kycmux.exceptions import InvalidEvidenceError, StateUnavailableError

__all__ = ["Standing", "SubjectGate"]

log = logging.getLogger("kycmux.engine")

_EVENTS = {
    Outcome.REJECT: SubjectEvent.FAILURE,
    Outcome.RETRY_CAPTURE: SubjectEvent.CAPTURE,
    Outcome.ACCEPT: SubjectEvent.SUCCESS,
}


@attrs.frozen
class Standing:
    """A subject's standing for one decision.

    Attributes:
        settings: The lockout settings applied; ``None``: no lockout for this decision
            (off in the policy, or no subject to count).
        lock: The subject's lock, if it is locked.
        counted: Counts exist for it (a pass must clear them).
        refused: The store did not answer and the lockout fails closed.
        skipped: The store did not answer and the lockout fails open.
    """

    settings: LockoutSettings | None = None
    lock: Lock | None = None
    counted: bool = False
    refused: bool = False
    skipped: bool = False

    def refusal(
        self,
        *,
        request_id: str,
        started_at: float,
        policy: Policy,
        subject: str | None,
        evidence: Evidence,
        duration: float,
    ) -> DecisionRecord:
        """The record of a decision refused here: the subject is locked, or its standing
        could not be read and the lockout fails closed."""
        return refused_record(
            request_id=request_id,
            started_at=started_at,
            policy=policy,
            subject=subject,
            evidence=evidence,
            duration=duration,
            lock=self.lock,
            settings=self.settings,
        )


_NONE = Standing()


@attrs.define
class SubjectGate:
    """The lockout check and count of every decision, in the engine's state."""

    _state: Guarded

    async def enter(
        self,
        subject: str | None,
        settings: LockoutSettings | None,
        deadline: Deadline,
        plan: Callable[[], Awaitable[None]],
    ) -> Standing:
        """The standing of ``subject`` (a keyed hash) under ``settings``, asked within the
        decision's ``deadline`` while the run plans (builds and signs its first requests,
        sending nothing): with a shared store the round trip hides behind the planning. A
        lock outranks evidence the plan refuses."""
        if not self._state.is_shared:
            return await self._standing(subject, settings, deadline)  # no round trip to hide
        asking = asyncio.ensure_future(self._standing(subject, settings, deadline))
        try:
            await plan()
        except InvalidEvidenceError:
            standing = await asking
            if standing.lock is None and not standing.refused:
                raise
            return standing
        except BaseException:
            asking.cancel()
            raise
        return await asking

    async def _standing(
        self, subject: str | None, settings: LockoutSettings | None, deadline: Deadline
    ) -> Standing:
        if settings is None or subject is None:
            return _NONE
        try:
            status = await self._state.subject(subject, deadline.remaining())
        except StateUnavailableError:
            if settings.unavailable == "closed":
                return Standing(settings, refused=True)
            return Standing(None, skipped=True)
        return Standing(settings, status.lock, status.counted)

    async def leave(self, subject: str | None, standing: Standing, outcome: Outcome) -> None:
        """Count the decision's outcome for the subject, if it counts."""
        event = _EVENTS.get(outcome)
        settings = standing.settings
        if subject is None or settings is None or event is None or standing.refused:
            return
        if event is SubjectEvent.SUCCESS and not standing.counted:
            return  # nothing to clear: a pass costs no write on the happy path
        try:
            await self._state.count(subject, event, settings)
        except StateUnavailableError:
            # The decision stands; the record lists lockout as degraded.
            log.warning(
                "lockout count for a %s outcome not stored: state store unavailable", outcome
            )
