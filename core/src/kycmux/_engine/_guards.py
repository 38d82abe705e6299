"""What protects each vendor, once per engine: its breaker, rate limiter and retry budget.

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
from kycmux._decision._policy import Policy
from kycmux._resilience import (
    CircuitBreaker,
    Clock,
    RateLimiter,
    RetryBudget,
    StateStore,
    TransitionListener,
)
from kycmux.exceptions import PolicyError

__all__ = ["VendorGuards"]

_MOVED = ("breaker", "rate_limit")


@attrs.define
class VendorGuards:
    """Each vendor's breaker, rate limiter and retry budget, built on first use."""

    _clock: Clock
    _store: StateStore
    _settings: dict[str, VendorResilience]
    # What each vendor's own table sets: a policy may not contradict it.
    _given: dict[str, frozenset[str]] = attrs.field(factory=dict)
    _effective: dict[tuple[str, str], tuple[str, object]] = attrs.field(init=False, factory=dict)
    _breakers: dict[str, CircuitBreaker] = attrs.field(init=False, factory=dict)
    _limiters: dict[str, RateLimiter] = attrs.field(init=False, factory=dict)
    _budgets: dict[str, RetryBudget] = attrs.field(init=False, factory=dict)
    _listeners: list[TransitionListener] = attrs.field(init=False, factory=list)

    @classmethod
    def from_vendors(
        cls, clock: Clock, store: StateStore, vendors: Mapping[str, VendorConfig]
    ) -> VendorGuards:
        return cls(
            clock,
            store,
            {name: vendor.resilience for name, vendor in vendors.items()},
            {name: vendor.resilience_given for name, vendor in vendors.items()},
        )

    def adopt(self, policy: Policy, *, warn: bool = True) -> None:
        """Take a policy's old-style per-vendor breaker / rate limit (with a warning unless
        ``warn`` is false: an experiment's policies derive from ones already adopted), and
        refuse one that disagrees with another policy's or with the vendor's own."""
        for vendor in sorted(policy.used_vendors()):
            settings = policy.settings(vendor)
            for name in _MOVED:
                self._adopt(policy.name, vendor, name, getattr(settings, name), warn)

    def breaker(self, vendor: str) -> CircuitBreaker:
        if vendor not in self._breakers:
            self._breakers[vendor] = CircuitBreaker.from_settings(
                vendor,
                self._of(vendor).breaker,
                clock=self._clock,
                store=self._store,
                listeners=self._listeners,
            )
        return self._breakers[vendor]

    def limiter(self, vendor: str) -> RateLimiter:
        if vendor not in self._limiters:
            self._limiters[vendor] = RateLimiter(vendor, self._of(vendor).rate_limit, self._clock)
        return self._limiters[vendor]

    def budget(self, vendor: str) -> RetryBudget:
        if vendor not in self._budgets:
            self._budgets[vendor] = self._of(vendor).retry_budget.budget(self._clock)
        return self._budgets[vendor]

    def on_transition(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)
        for breaker in self._breakers.values():
            breaker.add_listener(listener)

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


def _caller() -> int:
    """The ``stacklevel`` of the first frame outside kycmux: the user's call."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("kycmux."):
        frame, level = frame.f_back, level + 1
    return level
