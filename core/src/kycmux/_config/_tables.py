"""``[policies.<name>]`` and ``[experiments.<name>]`` tables, structured into their objects.

A policy table mixes its settings (``deadline``, ``vendors``...) with one table per check it
needs (``[policies.p.liveness]``), so it is split before the converter sees it; everything else
is the schema's (``kycmux._config._schema``) doing. Errors name the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from kycmux._config._schema import Reference, choices, converter, structure, to_bool
from kycmux._decision._policy import CheckPolicy, Policy, VendorSettings
from kycmux._experiments._experiment import Arm, LateShadow, ShadowExperiment, SplitExperiment
from kycmux._model._evidence import Check
from kycmux._resilience import LockoutSettings
from kycmux.exceptions import ConfigError, PolicyError

__all__ = ["experiment_from_table", "policy_from_table"]

T = TypeVar("T")

_CHECKS = {c.value: c for c in Check}


@attrs.frozen
class _Lockout:
    """``lockout = false`` (off, for offline comparisons) or a ``[...lockout]`` table."""

    settings: LockoutSettings | None


def _lockout(value: Any, _: Any) -> _Lockout:
    if isinstance(value, bool | Reference):
        on = to_bool(value)
        return _Lockout(LockoutSettings() if on else None)
    # Keyed from the table itself: the caller's error handling prefixes the path to it.
    return _Lockout(structure(value, LockoutSettings, ""))


_CONVERTER = converter()
_CONVERTER.register_structure_hook(_Lockout, _lockout)


@attrs.frozen
class _PolicySettings:
    """A policy table's own keys (the checks aside)."""

    deadline: float = 10.0
    hedge_after: float | None = None
    vendors: dict[str, VendorSettings] = attrs.field(factory=dict)
    lockout: _Lockout = attrs.field(factory=lambda: _Lockout(LockoutSettings()))


@attrs.frozen
class _ArmTable:
    """An arm's keys: its name is the table's."""

    weight: float = 1.0
    policy: str | None = None
    vendors: tuple[str, ...] = ()


@attrs.frozen
class _SplitTable:
    policy: str
    arms: dict[str, dict[str, Any]]
    salt: str = ""
    enabled: bool = True


@attrs.frozen
class _ShadowTable:
    policy: str
    shadow: str
    sample: float = 1.0
    timeout: float = 10.0
    max_delay: float = 0.0
    on_late: LateShadow = LateShadow.BACKGROUND
    max_far: float | None = None
    raw_thresholds: dict[str, float] = attrs.field(factory=dict)
    salt: str = ""
    enabled: bool = True


def policy_from_table(name: str, table: Mapping[str, Any]) -> Policy:
    """Read a ``[policies.<name>]`` table."""
    prefix = f"policies.{name}"
    table = _table(table, prefix)
    own = {f.name for f in attrs.fields(_PolicySettings)}
    for key in table:
        if key not in own and key not in _CHECKS:
            valid = choices(key, {*own, *_CHECKS})
            raise PolicyError(f"{prefix}.{key}", f"unknown key{valid}")
    checks = {
        _CHECKS[key]: _check(f"{prefix}.{key}", value)
        for key, value in table.items()
        if key in _CHECKS
    }
    if not checks:
        raise PolicyError(prefix, f"needs at least one check table ({', '.join(_CHECKS)})")
    settings = _structure({k: v for k, v in table.items() if k in own}, _PolicySettings, prefix)
    return _make(
        prefix,
        Policy,
        name=name,
        checks=checks,
        deadline=settings.deadline,
        hedge_after=settings.hedge_after,
        vendors=settings.vendors,
        lockout=settings.lockout.settings,
    )


def experiment_from_table(
    name: str, table: Mapping[str, Any]
) -> SplitExperiment | ShadowExperiment:
    """Read an ``[experiments.<name>]`` table: ``arms`` (a split) or ``shadow`` (a candidate)."""
    prefix = f"experiments.{name}"
    table = _table(table, prefix)
    if ("arms" in table) == ("shadow" in table):
        raise PolicyError(prefix, "give either arms (split traffic) or shadow (a candidate)")
    if "arms" in table:
        split = _structure(table, _SplitTable, prefix)
        arms = tuple(_arm(f"{prefix}.arms.{arm}", arm, value) for arm, value in split.arms.items())
        return _make(
            prefix,
            SplitExperiment,
            name=name,
            policy=split.policy,
            arms=arms,
            salt=split.salt,
            enabled=split.enabled,
        )
    shadow = _structure(table, _ShadowTable, prefix)
    fields = attrs.asdict(shadow, recurse=False)
    vendor = fields.pop("shadow")
    return _make(prefix, ShadowExperiment, name=name, vendor=vendor, **fields)


def _check(key: str, value: Any) -> CheckPolicy:
    table = _table(value, key)
    if isinstance(table.get("vendors"), str):
        raise PolicyError(f"{key}.vendors", "must be a list of vendor names, not one string")
    return _structure(table, CheckPolicy, key)


def _arm(key: str, name: str, value: Any) -> Arm:
    table = _table(value, key)
    if isinstance(table.get("vendors"), str):
        raise PolicyError(f"{key}.vendors", "must be a list of vendor names, not one string")
    arm = _structure(table, _ArmTable, key)
    return _make(key, Arm, name=name, **attrs.asdict(arm, recurse=False))


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(key, "must be a table")
    return value


def _structure(data: Any, kind: type[T], key: str) -> T:
    try:
        return structure(data, kind, key, _CONVERTER)
    except PolicyError:
        raise
    except ConfigError as exc:
        problem: ConfigError = exc
    # Policies and experiments say so: a PolicyError is also a ConfigError.
    raise PolicyError(problem.key, problem.rule)


def _make(key: str, kind: type[T], **fields: Any) -> T:
    """``kind(**fields)``; a validator's error gets the dotted key."""
    try:
        return kind(**fields)
    except PolicyError as exc:
        error = PolicyError(exc.key if exc.key.startswith(key) else f"{key}.{exc.key}", exc.rule)
    raise error
