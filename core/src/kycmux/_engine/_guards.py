"""What protects each vendor, once per engine: its breaker, rate limit, retry budget and
in-flight cap.

Their settings are the vendor's (``[vendors.<name>.resilience]``), not a policy's: every policy
and decision of an engine shares them. Settings a policy still carries in the old place
(``[policies.<p>.vendors.<v>] breaker / rate_limit``) are moved here with a warning, for one
release; two policies, or a policy and the vendor's table, that disagree are an error.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping

import attrs

from kycmux._config._config import VendorConfig, VendorResilience
from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._decision._policy import Policy
from kycmux._resilience import (
    BreakerStats,
    CircuitBreaker,
    Deadline,
    InFlightSlot,
    RateLimiter,
    RetryBudget,
    TransitionListener,
    outcome_for,
)
from kycmux._state._contract import Admission, Refusal
from kycmux._state._fallback import Guarded
from kycmux.exceptions import PolicyError

__all__ = ["Admitted", "VendorGuards"]

_MOVED = ("breaker", "rate_limit")


@attrs.define(eq=False)
class Admitted:
    """A call let through: its in-flight slot and its admission, settled once."""

    slot: InFlightSlot
    admission: Admission


@attrs.define
class VendorGuards:
    """What a decision run asks before and after each vendor call: breaker, rate limit and
    retry budget (in shared state when the engine has a shared store), and this process's
    in-flight cap. The primitives of the local state are reachable for status pages."""

    _state: Guarded
    _settings: dict[str, VendorResilience]
    # What each vendor's own table sets: a policy may not contradict it.
    _given: dict[str, frozenset[str]] = attrs.field(factory=dict)
    _effective: dict[tuple[str, str], tuple[str, object]] = attrs.field(init=False, factory=dict)

    @classmethod
    def from_vendors(cls, state: Guarded, vendors: Mapping[str, VendorConfig]) -> VendorGuards:
        return cls(
            state,
            {name: vendor.resilience for name, vendor in vendors.items()},
            {name: vendor.resilience_given for name, vendor in vendors.items()},
        )

    @property
    def state(self) -> Guarded:
        return self._state

    def adopt(self, policy: Policy, *, warn: bool = True) -> None:
        """Take a policy's old-style per-vendor breaker / rate limit (with a warning unless
        ``warn`` is false: an experiment's policies derive from ones already adopted), and
        refuse one that disagrees with another policy's or with the vendor's own."""
        for vendor in sorted(policy.used_vendors()):
            settings = policy.settings(vendor)
            for name in _MOVED:
                self._adopt(policy.name, vendor, name, getattr(settings, name), warn)

    # this process's primitives ----------------------------------------------------------

    def breaker(self, vendor: str) -> CircuitBreaker:
        return self._state.local.breaker(vendor, self._of(vendor))

    def limiter(self, vendor: str) -> RateLimiter:
        return self._state.local.limiter(vendor, self._of(vendor))

    def budget(self, vendor: str) -> RetryBudget:
        return self._state.local.budget(vendor, self._of(vendor))

    def on_transition(self, listener: TransitionListener) -> None:
        self._state.on_transition(listener)

    async def breaker_stats(self, vendor: str) -> BreakerStats:
        return await self._state.breaker_stats(vendor, self._of(vendor))

    def has_capacity(self, vendor: str) -> bool:
        """A call could start now without waiting, as far as this process knows (for
        optional traffic: shadows)."""
        return self.limiter(vendor).has_capacity()

    def surely_refused(self, vendor: str) -> Classification | None:
        """Why ``admit`` would refuse a call to ``vendor`` now, if that is known without
        asking anyone: this process's own breaker is open and this process's state is the
        whole state (no shared store). Lets a decision skip building a request that could
        not be sent; ``admit`` still decides for every call that is built."""
        if self._state.is_shared or not self.breaker(vendor).refuses_now():
            return None
        return Classification(_REFUSED[Refusal.CIRCUIT_OPEN], Refusal.CIRCUIT_OPEN.value)

    # around each call ---------------------------------------------------------------------

    async def admit(
        self, vendor: str, attempt: int, deadline: Deadline
    ) -> Admitted | Classification:
        """An in-flight slot here, then the breaker and a rate token (one step in the
        store), then the token's wait; or why the call may not go (nothing kept)."""
        slot = await self.limiter(vendor).acquire_slot(deadline)
        if slot is None:
            return Classification(ErrorClass.RATE_LIMITED, Refusal.CLIENT_RATE_LIMIT.value)
        try:
            admission = await self._state.admit(
                vendor, self._of(vendor), first=attempt == 1, max_wait=deadline.remaining()
            )
        except BaseException:
            slot.release()
            raise
        if admission.refusal is not None:
            slot.release()
            return Classification(_REFUSED[admission.refusal], admission.refusal.value)
        admitted = Admitted(slot, admission)
        if admission.wait <= 0:
            return admitted
        try:
            if await self._sit_out(vendor, admission.wait, deadline):
                return admitted
        except BaseException:
            await self.release(vendor, admitted)
            raise
        await self.release(vendor, admitted)
        return Classification(ErrorClass.RATE_LIMITED, Refusal.CLIENT_RATE_LIMIT.value)

    async def _sit_out(self, vendor: str, wait: float, deadline: Deadline) -> bool:
        """Wait for the reserved token; a vendor-ordered pause that came in meanwhile (this
        process heard it) applies too. ``False``: the pause outlasts the deadline."""
        clock, limiter = self._state.local.clock, self.limiter(vendor)
        await clock.sleep(wait)
        while (pause := limiter.paused_for()) > 0:
            if pause >= deadline.remaining():
                return False
            await clock.sleep(pause)
        return True

    async def settle(self, vendor: str, admitted: Admitted, error_class: ErrorClass | None) -> None:
        admitted.slot.release()
        outcome = outcome_for(error_class)
        await self._state.settle(vendor, self._of(vendor), admitted.admission, outcome)

    async def release(self, vendor: str, admitted: Admitted) -> None:
        """The call produced no outcome (cancelled): free the slot and a half-open probe."""
        admitted.slot.release()
        await self._state.release(vendor, self._of(vendor), admitted.admission)

    async def retry(self, vendor: str) -> bool:
        return await self._state.retry(vendor, self._of(vendor))

    async def pause(self, vendor: str, seconds: float | None) -> None:
        await self._state.pause(vendor, self._of(vendor), seconds)

    def _of(self, vendor: str) -> VendorResilience:
        return self._settings.get(vendor, _DEFAULT)

    def _adopt(self, policy: str, vendor: str, name: str, given: object | None, warn: bool) -> None:
        key = f"policies.{policy}.vendors.{vendor}.{name}"
        configured = getattr(self._of(vendor), name)
        explicit = name in self._given.get(vendor, ())
        if given is not None and explicit and configured != given:
            raise PolicyError(key, f"differs from vendors.{vendor}.resilience.{name}")
        effective = configured if given is None else given
        earlier = self._effective.setdefault((vendor, name), (policy, effective))
        if earlier[1] != effective:
            raise PolicyError(
                key, f"differs from policy {earlier[0]!r}; a vendor has one per engine"
            )
        if given is None:
            return
        if warn:
            warnings.warn(
                f"{key} is deprecated: a vendor's {name} is one per engine; "
                f"move it to [vendors.{vendor}.resilience] (read here for one more release)",
                FutureWarning,
                stacklevel=_caller(),
            )
        self._settings[vendor] = attrs.evolve(self._of(vendor), **{name: given})  # type: ignore[arg-type]


_DEFAULT = VendorResilience()
_REFUSED = {
    Refusal.CIRCUIT_OPEN: ErrorClass.VENDOR_UNAVAILABLE,
    Refusal.CLIENT_RATE_LIMIT: ErrorClass.RATE_LIMITED,
}


def _caller() -> int:
    """The ``stacklevel`` of the first frame outside kycmux: the user's call."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("kycmux."):
        frame, level = frame.f_back, level + 1
    return level
