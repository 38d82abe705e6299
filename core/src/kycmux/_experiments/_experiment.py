"""Live experiments: split traffic between arms, or shadow a candidate vendor.

Both are written as ``[experiments.<name>]`` tables (or built in Python) and attach to one
policy: a decision under that policy is either routed to an arm (``SplitExperiment``) or also
shown to a candidate vendor whose answer is only recorded (``ShadowExperiment``).

Assignment and sampling are a keyed hash of the subject (the caller's subject id, else the ID
number): the same person always lands in the same arm, in every process that shares the key,
with no shared state. Only a request without any subject falls back to hashing its request id.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kycmux._config._schema import choices
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import CheckPolicy, Combine, Mode, Policy, vendor_names
from kycmux._model._rules import number
from kycmux.exceptions import PolicyError

__all__ = [
    "Arm",
    "Assignment",
    "LateShadow",
    "ShadowExperiment",
    "SplitExperiment",
    "experiment_key",
]


def experiment_key(record_key: bytes | None) -> bytes:
    """The key of assignment hashes: derived from the record key when one is configured.

    Without one, assignment is still sticky across processes (a fixed key) but predictable to
    someone who knows the subject id; set ``[engine] record_key`` so nobody can choose an id
    that lands in the arm they prefer.
    """
    base = record_key if record_key is not None else b"kycmux-unkeyed"
    return hmac.new(base, b"kycmux experiment assignment", hashlib.sha256).digest()


def _unit(key: bytes, *parts: str) -> float:
    """A uniform value in [0, 1) from a keyed hash of ``parts``."""
    digest = hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


_positive = number("must be a positive number", lambda v: v > 0, error=PolicyError)
_share = number("must be a share in (0, 1]", lambda v: 0 < v <= 1, error=PolicyError)
_non_negative = number("must be a number >= 0", lambda v: v >= 0, error=PolicyError)


@attrs.frozen
class Assignment:
    """Where one decision went.

    Attributes:
        experiment: The experiment's name.
        arm: The arm's name.
        policy: The policy the arm decided with.
        by: ``subject`` (sticky) or ``request`` (no subject known: per request).
    """

    experiment: str
    arm: str
    policy: Policy
    by: str

    def as_record(self) -> dict[str, str]:
        return {
            "name": self.experiment,
            "arm": self.arm,
            "policy": self.policy.name,
            "assignment": self.by,
        }


@attrs.frozen
class Arm:
    """One side of a split.

    Attributes:
        name: The arm's name (in records and reports).
        weight: Its share of traffic, relative to the other arms' weights.
        policy: Decide with this whole policy instead of the experiment's.
        vendors: Or: the experiment's policy with these vendors asked first, in this order,
            for every check they offer (the others stay behind them for failover).
    """

    name: str
    weight: float = attrs.field(default=1.0, converter=float, validator=_positive)
    policy: str | None = None
    vendors: tuple[str, ...] = attrs.field(default=(), converter=vendor_names)

    def __attrs_post_init__(self) -> None:
        if self.policy is not None and self.vendors:
            raise PolicyError("vendors", "an arm names a policy or vendors, not both")

    def resolve(self, base: Policy, policies: Mapping[str, Policy], experiment: str) -> Policy:
        """The policy this arm decides with."""
        if self.policy is not None:
            if self.policy not in policies:
                defined = choices(self.policy, policies, "defined")
                raise PolicyError(f"arms.{self.name}.policy", f"no policy {self.policy!r}{defined}")
            return policies[self.policy]
        if not self.vendors:
            return base
        checks = {check: _preferring(rule, self.vendors) for check, rule in base.checks.items()}
        return attrs.evolve(base, name=f"{base.name}[{experiment}:{self.name}]", checks=checks)


def _preferring(rule: CheckPolicy, first: tuple[str, ...]) -> CheckPolicy:
    # Validation against the specs drops vendors that do not offer the check (see
    # SplitExperiment.policies); order: the arm's vendors, then the rule's remaining ones.
    rest = tuple(v for v in rule.vendors if v not in first)
    return attrs.evolve(rule, vendors=first + rest)


def _arm_tuple(value: Iterable[Arm]) -> tuple[Arm, ...]:
    return tuple(value)


@attrs.frozen
class SplitExperiment:
    """Traffic under ``policy`` split between arms by weight, sticky per subject.

    Attributes:
        name: The experiment's name (the study name in the result store).
        policy: The policy whose decisions are split.
        arms: The arms, each with a weight.
        salt: Change it to reshuffle who lands where (a new experiment on the same people).
        enabled: ``False`` keeps the definition, but decisions use ``policy`` as if there were
            no experiment.
    """

    name: str
    policy: str
    arms: tuple[Arm, ...] = attrs.field(converter=_arm_tuple)
    salt: str = ""
    enabled: bool = True

    @arms.validator
    def _arms(self, _attribute: attrs.Attribute[Any], value: tuple[Arm, ...]) -> None:
        if len(value) < 2:
            raise PolicyError("arms", "an experiment needs at least two arms")
        if len({arm.name for arm in value}) != len(value):
            raise PolicyError("arms", "arm names must be unique")

    def pick(self, key: bytes, subject: str | None, request_id: str) -> tuple[Arm, str]:
        """The arm for a subject (or, without one, for the request) and how it was chosen."""
        by, value = ("subject", subject) if subject is not None else ("request", request_id)
        point = _unit(key, "split", self.name, self.salt, value) * sum(a.weight for a in self.arms)
        for arm in self.arms:
            if point < arm.weight:
                return arm, by
            point -= arm.weight
        return self.arms[-1], by  # only float rounding gets here

    def policies(
        self, base: Policy, policies: Mapping[str, Policy], specs: Mapping[str, VendorSpec]
    ) -> dict[str, Policy]:
        """Each arm's policy, validated; errors name ``experiments.<name>.arms.<arm>``."""
        resolved = {}
        for arm in self.arms:
            try:
                policy = arm.resolve(base, policies, self.name)
                if arm.vendors:
                    policy = _offered_only(policy, specs, arm)
                resolved[arm.name] = policy.validate(specs)
            except PolicyError as exc:
                raise PolicyError(f"experiments.{self.name}.arms.{arm.name}", exc.rule) from None
        return resolved


def _offered_only(policy: Policy, specs: Mapping[str, VendorSpec], arm: Arm) -> Policy:
    for vendor in arm.vendors:
        if vendor not in specs:
            loaded = choices(vendor, specs, "loaded")
            raise PolicyError("vendors", f"no loaded plugin provides {vendor!r}{loaded}")
        if not any(specs[vendor].offer(check) for check in policy.checks):
            raise PolicyError("vendors", f"{vendor} offers none of the policy's checks")
    checks = {
        check: attrs.evolve(rule, vendors=tuple(v for v in rule.vendors if specs[v].offer(check)))
        for check, rule in policy.checks.items()
    }
    return attrs.evolve(policy, checks=checks)


class LateShadow(enum.StrEnum):
    """What happens to a shadow call still running when the live decision is ready.

    Attributes:
        BACKGROUND: It finishes in the background within its own timeout; its result goes to
            the result store (the decision record says ``background``).
        CANCEL: It is cancelled (the record says ``cancelled``; the vendor may have billed it).
    """

    BACKGROUND = "background"
    CANCEL = "cancel"


@attrs.frozen
class ShadowExperiment:
    """A candidate vendor asked alongside decisions under ``policy``, never deciding them.

    Shadow calls send biometrics to one more vendor, so they happen only for evidence that
    carries ``Consent.SHADOW_EVALUATION``, and only for the sampled share of subjects.

    Attributes:
        name: The experiment's name (the study name in the result store).
        policy: The live policy it shadows.
        vendor: The candidate vendor.
        sample: Share of consenting subjects shadowed (sticky per subject, like arms).
        timeout: The shadow run's own deadline, in seconds.
        max_delay: The most the live decision waits for the shadow after its own answer is
            ready; 0 (the default) never delays it at all.
        on_late: What to do with a shadow still running then (``background`` or ``cancel``).
        max_far: Maximum FAR for the candidate's calibrated scores (default: the policy's).
        raw_thresholds: Raw thresholds for the candidate's uncalibrated scores, by check.
        salt: Change it to re-draw the sample.
        enabled: ``False`` keeps the definition but shadows nothing.
    """

    name: str
    policy: str
    vendor: str
    sample: float = attrs.field(default=1.0, converter=float, validator=_share)
    timeout: float = attrs.field(default=10.0, converter=float, validator=_positive)
    max_delay: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    on_late: LateShadow = attrs.field(default=LateShadow.BACKGROUND, converter=LateShadow)
    max_far: float | None = None
    raw_thresholds: Mapping[str, float] = attrs.field(factory=dict)
    salt: str = ""
    enabled: bool = True

    def sampled(self, key: bytes, subject: str | None, request_id: str) -> bool:
        value = subject if subject is not None else request_id
        return _unit(key, "shadow", self.name, self.salt, value) < self.sample

    def shadow_policy(self, base: Policy, specs: Mapping[str, VendorSpec]) -> Policy:
        """The candidate alone on the base policy's checks that it offers.

        Lockout is off: the candidate's answers must not lock anybody out of the live flow.
        """
        spec = specs.get(self.vendor)
        key = f"experiments.{self.name}"
        if spec is None:
            loaded = choices(self.vendor, specs, "loaded")
            why = f"no loaded plugin provides {self.vendor!r}{loaded}"
            raise PolicyError(f"{key}.shadow", why)
        checks = {}
        for check, rule in base.checks.items():
            if spec.offer(check) is None:
                continue
            raw = self.raw_thresholds.get(check.value)
            # Evolved, not rebuilt: every setting of the rule the shadow does not override
            # (a new one included) carries over.
            checks[check] = attrs.evolve(
                rule,
                vendors=(self.vendor,),
                mode=Mode.FAILOVER,
                combine=Combine.ANY_NEGATIVE_REJECTS,
                max_far=self.max_far if self.max_far is not None else rule.max_far,
                raw_thresholds={self.vendor: raw} if raw is not None else {},
            )
        if not checks:
            raise PolicyError(f"{key}.shadow", f"{self.vendor} offers none of the policy's checks")
        for name in self.raw_thresholds:
            if name not in {c.value for c in checks}:
                raise PolicyError(f"{key}.raw_thresholds.{name}", "not a check it shadows")
        policy = Policy(
            f"{base.name}[shadow:{self.vendor}]",
            checks,
            deadline=self.timeout,
            vendors={self.vendor: base.settings(self.vendor)},
            lockout=None,
            checks_from_evidence=True,
        )
        try:
            return policy.validate(specs)
        except PolicyError as exc:
            raise PolicyError(f"{key}.{exc.key.rsplit('.', 1)[-1]}", exc.rule) from None
