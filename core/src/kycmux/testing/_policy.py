"""The policy the kit decides under: one vendor, every check it offers, quick retries."""

from __future__ import annotations

from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import CheckPolicy, Policy, VendorSettings
from kycmux._model._evidence import Check
from kycmux._resilience import RetryPolicy

__all__ = ["single_vendor_policy"]


def _raw_thresholds(spec: VendorSpec, check: Check) -> dict[str, float]:
    # The vendor's own recommendation, when its scores for the check agree on one.
    recommended = {s.recommended_threshold for s in spec.scores_for(check)} - {None}
    if len(recommended) != 1:
        return {}
    return {spec.name: float(recommended.pop())}  # type: ignore[arg-type]


def single_vendor_policy(
    spec: VendorSpec, *, name: str = "kit", max_attempts: int = 3, deadline: float = 30.0
) -> Policy:
    """Every check ``spec`` offers, asked of that vendor alone at its recommended thresholds.

    Retries wait no time at all, so an engine on a ``FakeClock`` nobody drives still retries
    (and a vendor that hangs never times out: the kit's tests never wait on time).
    """
    retry = RetryPolicy(max_attempts=max_attempts, base_delay=0.0, max_delay=0.0)
    checks = {
        check: CheckPolicy((spec.name,), raw_thresholds=_raw_thresholds(spec, check))
        for check in spec.checks
    }
    return Policy(name, checks, deadline=deadline, vendors={spec.name: VendorSettings(retry=retry)})
