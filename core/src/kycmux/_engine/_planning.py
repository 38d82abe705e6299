"""Which of a policy's checks can be asked, from pure facts: the vendors' specs and
configurations, the evidence, and (for shadows) the experiment and the vendors' capacity."""

from __future__ import annotations

from collections.abc import Mapping

from kycmux._config._config import VendorConfig
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._machine import ineligible
from kycmux._decision._policy import Policy
from kycmux._engine._guards import VendorGuards
from kycmux._experiments._experiment import ShadowExperiment
from kycmux._model._evidence import Check, Consent, Evidence

__all__ = ["challenged", "servable", "shadow_plan"]


def servable(
    policy: Policy,
    specs: Mapping[str, VendorSpec],
    vendors: Mapping[str, VendorConfig],
    evidence: Evidence,
) -> list[Check]:
    """The policy's checks that some configured vendor can serve from ``evidence``."""
    cannot = ineligible(policy, specs, vendors, evidence)
    return [
        check
        for check, rule in policy.checks.items()
        if any((vendor, check) not in cannot for vendor in rule.vendors)
    ]


def challenged(policy: Policy, specs: Mapping[str, VendorSpec], check: Check) -> bool:
    """Some vendor of ``policy`` needs a challenge for ``check``."""
    return any(specs[v].challenged([check]) for v in policy.checks[check].vendors)


def shadow_plan(
    experiment: ShadowExperiment,
    policy: Policy,
    evidence: Evidence,
    *,
    sample: tuple[bytes, str | None, str],
    specs: Mapping[str, VendorSpec],
    vendors: Mapping[str, VendorConfig],
    guards: VendorGuards,
) -> Policy | str:
    """A shadow's policy narrowed to what it can serve, or why it is not asked.

    ``sample``: the experiment key, the subject's keyed hash and the request id that decide
    whether this decision is in the shadow's sample.
    """
    if Consent.SHADOW_EVALUATION not in evidence.consents:
        return "no_consent"
    if not experiment.sampled(*sample):
        return "not_sampled"
    checks = servable(policy, specs, vendors, evidence)
    if not checks:
        return "nothing_to_ask"
    if evidence.challenge is not None:
        # Sent elsewhere the digits leak; sent to their own vendor a shadow may use them up
        # before the live call does. Checks needing a challenge are not shadowed.
        checks = [c for c in checks if not challenged(policy, specs, c)]
        if not checks:
            return "challenge_not_shared"
    if not guards.has_capacity(experiment.vendor):
        return "no_capacity"
    return policy.only(checks, None)
