"""Policies: which vendors answer which checks, how they combine, and within what limits.

A policy is written in TOML (``[policies.<name>]``) or built in Python; both go through the same
validation against the loaded vendor specs, and errors name the dotted key.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kycmux._config._schema import choices
from kycmux._contract._score import LogLinearCalibration, Score, ScoreKind, ScoreSpec
from kycmux._contract._vendor import VendorSpec
from kycmux._model._evidence import Check
from kycmux._model._rules import number
from kycmux._records._record import to_plain
from kycmux._resilience import BreakerSettings, LockoutSettings, RateLimitSettings, RetryPolicy
from kycmux.exceptions import PolicyError

__all__ = [
    "CheckPolicy",
    "Combine",
    "Mode",
    "Policy",
    "Threshold",
    "VendorSettings",
    "vendor_names",
]

DEFAULT_MAX_FAR = 1e-4


class Mode(enum.StrEnum):
    """How a check uses its vendor list.

    Attributes:
        FAILOVER: The first vendor that can serve the check answers; the next one is asked only
            after an error class that allows failing over (never after a definitive answer).
        ALL: Every listed vendor that can serve the check is asked; ``Combine`` decides.
    """

    FAILOVER = "failover"
    ALL = "all"


class Combine(enum.StrEnum):
    """How ``all`` mode combines answers. Never "first positive wins".

    Attributes:
        ANY_NEGATIVE_REJECTS: Any definitive negative fails the check; it passes only when every
            vendor that answered passed and none failed to answer (else: review).
        DISAGREEMENT_REVIEWS: All negative fails; all positive passes; a mix goes to review.
    """

    ANY_NEGATIVE_REJECTS = "any_negative_rejects"
    DISAGREEMENT_REVIEWS = "disagreement_reviews"


@attrs.frozen
class Threshold:
    """How one vendor's score for one check is turned into pass / fail.

    Attributes:
        source: ``max_far``, ``raw``, ``vendor_verdict`` or ``vendor_recommended``.
        max_far: Pass when the score's FAR is at most this (calibrated scores only).
        raw: Pass when the raw score is on the passing side of this value.
        allow_extrapolation: ``max_far`` may lie outside the FARs a calibration published
            (the check's ``allow_extrapolation``; the declared tables are checked when the
            policy loads, a table published in an answer when the answer is judged).
    """

    source: str
    max_far: float | None = None
    raw: float | None = None
    allow_extrapolation: bool = False

    def unpublished(self, score: Score) -> bool:
        """``max_far`` lies outside the FARs published in the answer ``score`` was read on,
        and the policy does not accept extrapolation: no verdict can rest on it."""
        used = score.calibration
        if self.max_far is None or self.raw is not None or self.allow_extrapolation:
            return False
        if used is None or used.source == "declared":
            return False  # the declared table was checked when the policy loaded
        low, high = used.table.far_range
        return not low <= self.max_far <= high

    def passes(self, score: Score) -> bool:
        """Compare as the vendor documents (``score.inclusive``: "at least" or "greater than")."""
        if self.max_far is not None and self.raw is None:
            if score.far is None:
                return False
            # FAR falls as the score rises: "score > t" is "FAR(score) < FAR(t)".
            return score.far <= self.max_far if score.inclusive else score.far < self.max_far
        assert self.raw is not None
        if score.kind is ScoreKind.ATTACK:
            return score.raw <= self.raw if score.inclusive else score.raw < self.raw
        return score.raw >= self.raw if score.inclusive else score.raw > self.raw

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "max_far": self.max_far, "raw": self.raw}


_positive = number("must be a positive number", lambda v: v > 0, error=PolicyError, optional=True)


def _far(_inst: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1
    ):
        raise PolicyError(attribute.name, "must be a false-accept rate in (0, 1), e.g. 1e-4")


def vendor_names(value: Iterable[str]) -> tuple[str, ...]:
    """A list of vendor names as a tuple; a bare string is a mistake, not a list of letters."""
    if isinstance(value, str):
        raise PolicyError("vendors", "must be a list of vendor names, not one string")
    try:
        names = tuple(value)
    except TypeError:
        raise PolicyError("vendors", "must be a list of vendor names") from None
    if not all(isinstance(name, str) for name in names):
        raise PolicyError("vendors", "must be a list of vendor names (strings)")
    return names


@attrs.frozen
class CheckPolicy:
    """The rule for one check.

    Attributes:
        vendors: Vendor names, in order of preference.
        mode: ``failover`` or ``all``.
        combine: For ``all``: how answers combine.
        max_far: Maximum false-accept rate for calibrated scores, in (0, 1); it must lie
            within each vendor's published calibration unless ``allow_extrapolation``.
        raw_thresholds: Explicit raw thresholds by vendor (required for uncalibrated scores
            unless the vendor gives its own verdict).
        allow_extrapolation: Accept a ``max_far`` outside a vendor's published points, whose
            threshold then rests on a continuation of the vendor's table, not on its numbers.
    """

    vendors: tuple[str, ...] = attrs.field(converter=vendor_names)
    mode: Mode = attrs.field(default=Mode.FAILOVER, converter=Mode)
    combine: Combine = attrs.field(default=Combine.ANY_NEGATIVE_REJECTS, converter=Combine)
    max_far: float | None = attrs.field(default=None, validator=_far)
    raw_thresholds: Mapping[str, float] = attrs.field(factory=dict)
    allow_extrapolation: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )

    @property
    def negative_decides(self) -> bool:
        """One definitive negative fails the check and ends the decision: always in failover
        (no vendor-shopping), and in an ensemble whose ``combine`` is any-negative-rejects."""
        return self.mode is Mode.FAILOVER or self.combine is Combine.ANY_NEGATIVE_REJECTS


@attrs.frozen
class VendorSettings:
    """How a policy asks one vendor.

    Attributes:
        retry: Retries for transient errors.
        attempt_timeout: Upper bound of one attempt (the deadline may cut it shorter).
        rate_limit: Deprecated here (one release): a vendor has one rate limit per engine,
            so it belongs to ``[vendors.<name>.resilience]`` (``VendorResilience``); a value
            given here is moved there, with a warning.
        breaker: Deprecated here likewise: use ``[vendors.<name>.resilience] breaker``.
    """

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    attempt_timeout: float = attrs.field(default=5.0, validator=_positive)
    rate_limit: RateLimitSettings | None = None
    breaker: BreakerSettings | None = None


@attrs.frozen
class Policy:
    """Everything one kind of decision needs.

    Attributes:
        name: The policy name (in records).
        checks: The rule for each check the decision needs.
        deadline: Seconds for the whole decision.
        hedge_after: Opt-in: in failover mode, ask the next vendor too if the first has not
            answered after this many seconds; the first definitive answer wins, the other call
            is cancelled.
        vendors: Per-vendor settings (defaults for vendors not listed).
        lockout: Consecutive definitive failures per subject before a cool-down, and its length;
            ``None`` (TOML: ``lockout = false``) turns it off, for offline comparisons where one
            subject's many rows are not repeated attempts.
        checks_from_evidence: Ask only for the checks some listed vendor can serve from the
            evidence given (the implicit ``default`` policy does; a written policy requires
            every check it names).
    """

    name: str
    checks: Mapping[Check, CheckPolicy]
    deadline: float = attrs.field(default=10.0, validator=_positive)
    hedge_after: float | None = attrs.field(default=None, validator=_positive)
    vendors: Mapping[str, VendorSettings] = attrs.field(factory=dict)
    lockout: LockoutSettings | None = attrs.field(factory=LockoutSettings)
    checks_from_evidence: bool = False
    # ``digest()``, once computed: a policy is frozen, and every decision's record names it.
    _digest: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def settings(self, vendor: str) -> VendorSettings:
        return self.vendors.get(vendor) or _DEFAULT_SETTINGS

    def used_vendors(self) -> frozenset[str]:
        """Every vendor the policy may call or configures."""
        return frozenset(v for rule in self.checks.values() for v in rule.vendors) | set(
            self.vendors
        )

    def only(self, checks: Iterable[Check] | None, vendor: str | None) -> Policy:
        """This policy narrowed to some checks and/or one vendor (CLI ``--check``/``--vendor``)."""
        wanted = dict(self.checks)
        if checks is not None:
            chosen = set(checks)
            missing = chosen - set(wanted)
            if missing:
                names = ", ".join(sorted(c.value for c in missing))
                raise PolicyError(f"policies.{self.name}", f"has no rule for {names}")
            wanted = {c: p for c, p in wanted.items() if c in chosen}
        if vendor is not None:
            wanted = {c: _only_vendor(p, vendor) for c, p in wanted.items()}
        return attrs.evolve(self, checks=wanted)

    def digest(self) -> str:
        """A stable hash of the settings: equal hashes, equal rules."""
        digest = self._digest
        if digest is None:
            settings = to_plain(self)
            del settings["_digest"]  # the cache is not a setting
            canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
            digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
            object.__setattr__(self, "_digest", digest)  # frozen: set once, to the same value
        return digest

    def threshold(self, spec: VendorSpec, check: Check, score_spec: ScoreSpec | None) -> Threshold:
        """The threshold for a vendor's score on a check (see ``validate`` for the rules)."""
        rule = self.checks[check]
        raw = rule.raw_thresholds.get(spec.name)
        if raw is not None:
            return Threshold("raw", raw=raw)
        if score_spec is not None and score_spec.calibrated:
            max_far = rule.max_far or DEFAULT_MAX_FAR
            return Threshold("max_far", max_far, allow_extrapolation=rule.allow_extrapolation)
        if score_spec is not None and score_spec.recommended_threshold is not None:
            return Threshold("vendor_recommended", raw=score_spec.recommended_threshold)
        return Threshold("vendor_verdict")

    def validate(self, specs: Mapping[str, VendorSpec]) -> Policy:
        """Check the policy against the loaded vendors; raises ``PolicyError`` naming the key."""
        for check, rule in self.checks.items():
            key = f"policies.{self.name}.{check.value}"
            if not rule.vendors:
                raise PolicyError(f"{key}.vendors", "must list at least one vendor")
            for vendor in rule.vendors:
                spec = specs.get(vendor)
                if spec is None:
                    loaded = choices(vendor, specs, "loaded")
                    raise PolicyError(
                        f"{key}.vendors", f"no loaded plugin provides {vendor!r}{loaded}"
                    )
                if spec.offer(check) is None:
                    raise PolicyError(f"{key}.vendors", f"{vendor} does not offer {check.value}")
                _check_thresholds(key, rule, spec, check)
            for vendor in rule.raw_thresholds:
                if vendor not in rule.vendors:
                    raise PolicyError(f"{key}.raw_thresholds.{vendor}", "vendor is not listed")
        if self.hedge_after is not None and self.hedge_after >= self.deadline:
            raise PolicyError(f"policies.{self.name}.hedge_after", "must be below the deadline")
        return self

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> Policy:
        """Read a ``[policies.<name>]`` TOML table (errors name the dotted key)."""
        from kycmux._config._tables import policy_from_table  # the schema lives with config

        return policy_from_table(name, table)

    @classmethod
    def default(cls, specs: Mapping[str, VendorSpec], configured: Iterable[str]) -> Policy:
        """Failover over every configured vendor offering each check, in config order."""
        order = [v for v in configured if v in specs]
        checks = {}
        for check in Check:
            vendors = tuple(v for v in order if specs[v].offer(check))
            if vendors:
                checks[check] = CheckPolicy(vendors, max_far=_published_far(specs, vendors, check))
        return cls("default", checks, checks_from_evidence=True)


_DEFAULT_SETTINGS = VendorSettings()


def _published_far(
    specs: Mapping[str, VendorSpec], vendors: Iterable[str], check: Check
) -> float | None:
    """``DEFAULT_MAX_FAR``, moved to the nearest FAR every vendor publishes if it lies outside
    one's table (so the implicit policy never rests on extrapolation); None: the default."""
    low, high = 0.0, 1.0
    for vendor in vendors:
        for score in specs[vendor].scores_for(check):
            if score.calibration is not None:
                lowest, highest = score.calibration.far_range
                low, high = max(low, lowest), min(high, highest)
    if low <= DEFAULT_MAX_FAR <= high or low > high:
        return None  # the default fits, or no FAR fits all (validation will say so)
    return min(max(DEFAULT_MAX_FAR, low), high)


def _only_vendor(rule: CheckPolicy, vendor: str) -> CheckPolicy:
    raw = {v: t for v, t in rule.raw_thresholds.items() if v == vendor}
    return attrs.evolve(rule, vendors=(vendor,), raw_thresholds=raw)


def _check_thresholds(key: str, rule: CheckPolicy, spec: VendorSpec, check: Check) -> None:
    for score in spec.scores_for(check):
        if spec.name in rule.raw_thresholds:
            continue
        if score.calibration is not None:
            _check_published(key, rule, spec, score.name, score.calibration)
        elif rule.max_far is not None:
            raise PolicyError(
                f"{key}.raw_thresholds.{spec.name}",
                f"{spec.name}'s {score.name} is uncalibrated (no published FAR): "
                "a max_far cannot apply to it; give an explicit raw threshold",
            )


def _check_published(
    key: str, rule: CheckPolicy, spec: VendorSpec, score: str, calibration: LogLinearCalibration
) -> None:
    """A FAR threshold must rest on the vendor's published points, unless opted out."""
    max_far = rule.max_far or DEFAULT_MAX_FAR
    low, high = calibration.far_range
    if rule.allow_extrapolation or low <= max_far <= high:
        return
    given = "max_far" if rule.max_far is not None else "the default max_far"
    raise PolicyError(
        f"{key}.max_far",
        f"{given} {max_far:g} is outside {spec.name}'s published range for {score} "
        f"(FAR {low:g} to {high:g}): choose one within it, or set allow_extrapolation = true "
        "to accept a threshold on numbers the vendor never published",
    )
