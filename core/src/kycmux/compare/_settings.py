"""What an offline comparison run sends, and how: ``CompareSettings``, checked on creation."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kycmux._contract._host import PluginHost
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import vendor_names
from kycmux._model._evidence import Check
from kycmux.exceptions import ConfigError

__all__ = [
    "BUSY_WAIT",
    "MAX_CONCURRENCY",
    "MAX_ERROR_SHARE",
    "CompareSettings",
    "common_checks",
    "offered_checks",
    "spec_of",
]

MAX_CONCURRENCY = 256
"""The most verifications a run keeps in flight: the engine's HTTP pool holds 256 connections."""
BUSY_WAIT = 600.0
"""Seconds a run revisits pairs other workers hold, by default: twice the default lease."""

MAX_ERROR_SHARE = 0.2
"""Above this share of answers ending in error a system is unusable and never ranked: its
error rates would be measured on the few items it happened to answer (``kycmux.report``)."""

_MAX_STUDY_NAME = 200


def _study_name(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("study", "must be a non-empty name")
    if value != value.strip() or any(unicodedata.category(c).startswith("C") for c in value):
        raise ConfigError("study", "must not have surrounding spaces or control characters")
    if len(value) > _MAX_STUDY_NAME:
        raise ConfigError("study", f"must be at most {_MAX_STUDY_NAME} characters")


def _vendor_list(_inst: Any, _attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError("vendors", "choose at least one vendor")
    if any(not isinstance(name, str) or not name for name in value):
        raise ConfigError("vendors", "vendor names must be non-empty strings")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ConfigError("vendors", f"listed more than once: {', '.join(repeated)}")


def _check_values(value: Iterable[Check | str]) -> tuple[Check, ...]:
    if isinstance(value, str):
        raise ConfigError("checks", "must be a list of checks, not one string")
    checks = []
    for item in value:
        try:
            checks.append(Check(item))
        except ValueError:
            expected = ", ".join(c.value for c in Check)
            raise ConfigError("checks", f"unknown check {item!r} (expected {expected})") from None
    return tuple(checks)


def _check_list(_inst: Any, _attribute: attrs.Attribute[Any], value: tuple[Check, ...]) -> None:
    if not value:
        raise ConfigError("checks", "choose at least one check")
    repeated = sorted({c.value for c in value if value.count(c) > 1})
    if repeated:
        raise ConfigError("checks", f"listed more than once: {', '.join(repeated)}")


def _policy_name(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError("policy", "must be a policy name, or None for the engine's default")


def _busy_wait(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise ConfigError("busy_wait", "must be a number of seconds, 0 or more")


def _concurrency(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError("concurrency", f"must be a whole number from 1 to {MAX_CONCURRENCY}")


@attrs.frozen
class CompareSettings:
    """What an offline comparison run sends, and how.

    Build it directly, or with ``from_host`` to default the checks to those two vendors
    offer. Invalid values raise ``ConfigError`` whose key names the setting.

    Attributes:
        study: The study (run) name results are stored under; re-running it resumes it.
        vendors: The vendors compared: every row goes to each of them, alone.
        checks: The checks compared; each vendor is asked for those it offers, so each check
            is judged by every vendor offering it (a vendor offering none is an error).
        policy: The engine policy giving thresholds, retries, deadline and vendor settings;
            ``None``: the engine's default. Subject lockout is always off (a subject's many
            rows are not repeated attempts).
        concurrency: Verifications in flight at once, each one row for one vendor; the
            engine's per-vendor rate limits and in-flight bounds apply on top.
        resend_interrupted: Re-send pairs an earlier run left in flight (they may have reached
            the vendor and be billed twice); ``False`` skips them and leaves them interrupted.
        busy_wait: Seconds to keep revisiting pairs another worker holds (a shared store's
            ``Claim.BUSY``) after the first pass; those still held then are left to it.
    """

    study: str = attrs.field(validator=_study_name)
    vendors: tuple[str, ...] = attrs.field(converter=vendor_names, validator=_vendor_list)
    checks: tuple[Check, ...] = attrs.field(converter=_check_values, validator=_check_list)
    policy: str | None = attrs.field(default=None, validator=_policy_name)
    concurrency: int = attrs.field(default=4, validator=_concurrency)
    resend_interrupted: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )
    busy_wait: float = attrs.field(default=BUSY_WAIT, validator=_busy_wait)

    @classmethod
    def from_host(
        cls,
        host: PluginHost | Mapping[str, VendorSpec],
        *,
        study: str,
        vendors: Iterable[str],
        checks: Iterable[Check | str] = (),
        policy: str | None = None,
        concurrency: int = 4,
        resend_interrupted: bool = True,
        busy_wait: float = BUSY_WAIT,
    ) -> CompareSettings:
        """Settings whose checks default to those at least two of the vendors offer (all of
        one vendor's), each judged by every vendor offering it (``offered_checks``)."""
        names = vendor_names(vendors)
        chosen = _check_values(checks) or offered_checks(host, names, by_at_least=2)
        return cls(study, names, chosen, policy, concurrency, resend_interrupted, busy_wait)


def spec_of(specs: Mapping[str, VendorSpec], vendor: str) -> VendorSpec:
    spec = specs.get(vendor)
    if spec is None:
        known = ", ".join(sorted(specs)) or "none"
        raise ConfigError("vendors", f"no loaded plugin provides {vendor!r} (loaded: {known})")
    return spec


def offered_checks(
    host: PluginHost | Mapping[str, VendorSpec], vendors: Iterable[str], *, by_at_least: int = 1
) -> tuple[Check, ...]:
    """The checks offered by at least ``by_at_least`` of ``vendors`` (at most all of them),
    in ``Check`` order. ``CompareSettings.from_host`` defaults to those two vendors offer:
    each is then judged by every vendor offering it, and a check only one vendor offers
    (nothing to compare it with) is asked only when chosen.

    ``ConfigError`` (key ``vendors``) for an unknown vendor or none, or when no check is
    offered by that many.
    """
    names = vendor_names(vendors)
    if not names:
        raise ConfigError("vendors", "choose at least one vendor")
    known = host.vendors if isinstance(host, PluginHost) else host
    specs = [spec_of(known, name) for name in names]
    least = min(by_at_least, len(specs))
    chosen = tuple(
        check for check in Check if sum(spec.offer(check) is not None for spec in specs) >= least
    )
    if not chosen:
        raise ConfigError("vendors", f"no check is offered by {least} of {', '.join(names)}")
    return chosen


def common_checks(
    host: PluginHost | Mapping[str, VendorSpec], vendors: Iterable[str]
) -> tuple[Check, ...]:
    """The checks every one of ``vendors`` offers, in ``Check`` order (the whole-decision
    comparison's checks; ``compare`` no longer narrows to them).

    ``host`` is a plugin host, or the vendors by name (``Config.specs``: instances included).

    ``ConfigError`` (key ``vendors``) for an unknown vendor, or when they share no check.
    """
    names = vendor_names(vendors)
    if not names:
        raise ConfigError("vendors", "choose at least one vendor")
    known = host.vendors if isinstance(host, PluginHost) else host
    specs = [spec_of(known, name) for name in names]
    common = tuple(check for check in Check if all(spec.offer(check) for spec in specs))
    if not common:
        offered = "; ".join(
            f"{spec.name}: {', '.join(o.check.value for o in spec.offers) or 'nothing'}"
            for spec in specs
        )
        raise ConfigError("vendors", f"{', '.join(names)} have no check in common ({offered})")
    return common
