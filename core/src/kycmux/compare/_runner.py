"""Offline comparison runs: every manifest row through every chosen vendor, resumably.

Each (row, vendor) pair is claimed in the result store before it is sent and stored as a
``Result`` once answered. A pair already done is never sent again: vendors bill per call. A
pair an earlier run claimed but never stored is *interrupted*: it may have reached the vendor,
so re-sending it (the default) may be billed twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any, Protocol

import attrs

from kycmux._contract._host import PluginHost
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import Policy, vendor_names
from kycmux._engine._engine import Engine
from kycmux._model._evidence import Check
from kycmux.compare._manifest import Manifest, ManifestRow
from kycmux.exceptions import ConfigError
from kycmux.results._model import Result, Role
from kycmux.results._store import Claim, ResultStore, StudyInfo

__all__ = [
    "MAX_CONCURRENCY",
    "CompareSettings",
    "CompareSummary",
    "ProgressCallback",
    "common_checks",
    "prepare_study",
    "run_comparison",
]

log = logging.getLogger("kycmux.compare")

MAX_CONCURRENCY = 256
"""The most verifications a run keeps in flight: the engine's HTTP pool holds 256 connections."""

_KIND = "offline"
_MAX_STUDY_NAME = 200


# settings ------------------------------------------------------------------------------------


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


def _concurrency(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError("concurrency", f"must be a whole number from 1 to {MAX_CONCURRENCY}")


@attrs.frozen
class CompareSettings:
    """What an offline comparison run sends, and how.

    Build it directly, or with ``from_host`` to default the checks to the common ones. Invalid
    values raise ``ConfigError`` whose key names the setting.

    Attributes:
        study: The study (run) name results are stored under; re-running it resumes it.
        vendors: The vendors compared: every row goes to each of them, alone.
        checks: The checks each vendor is asked for (the same for all, so they compare).
        policy: The engine policy giving thresholds, retries, deadline and vendor settings;
            ``None``: the engine's default. Subject lockout is always off (a subject's many
            rows are not repeated attempts).
        concurrency: Verifications in flight at once, each one row for one vendor; the
            engine's per-vendor rate limits and in-flight bounds apply on top.
        resend_interrupted: Re-send pairs an earlier run left in flight (they may have reached
            the vendor and be billed twice); ``False`` skips them and leaves them interrupted.
    """

    study: str = attrs.field(validator=_study_name)
    vendors: tuple[str, ...] = attrs.field(converter=vendor_names, validator=_vendor_list)
    checks: tuple[Check, ...] = attrs.field(converter=_check_values, validator=_check_list)
    policy: str | None = attrs.field(default=None, validator=_policy_name)
    concurrency: int = attrs.field(default=4, validator=_concurrency)
    resend_interrupted: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )

    @classmethod
    def from_host(
        cls,
        host: PluginHost,
        *,
        study: str,
        vendors: Iterable[str],
        checks: Iterable[Check | str] = (),
        policy: str | None = None,
        concurrency: int = 4,
        resend_interrupted: bool = True,
    ) -> CompareSettings:
        """Settings whose checks default to those every vendor offers (``common_checks``)."""
        names = vendor_names(vendors)
        chosen = _check_values(checks) or common_checks(host, names)
        return cls(study, names, chosen, policy, concurrency, resend_interrupted)


def _spec(specs: Mapping[str, VendorSpec], vendor: str) -> VendorSpec:
    spec = specs.get(vendor)
    if spec is None:
        known = ", ".join(sorted(specs)) or "none"
        raise ConfigError("vendors", f"no loaded plugin provides {vendor!r} (loaded: {known})")
    return spec


def common_checks(host: PluginHost, vendors: Iterable[str]) -> tuple[Check, ...]:
    """The checks every one of ``vendors`` offers, in ``Check`` order: what they compare on.

    ``ConfigError`` (key ``vendors``) for an unknown vendor, or when they share no check.
    """
    names = vendor_names(vendors)
    if not names:
        raise ConfigError("vendors", "choose at least one vendor")
    specs = [_spec(host.vendors, name) for name in names]
    common = tuple(check for check in Check if all(spec.offer(check) for spec in specs))
    if not common:
        offered = "; ".join(
            f"{spec.name}: {', '.join(o.check.value for o in spec.offers) or 'nothing'}"
            for spec in specs
        )
        raise ConfigError("vendors", f"{', '.join(names)} have no check in common ({offered})")
    return common


@attrs.frozen
class CompareSummary:
    """What one run did, in (row, vendor) pairs.

    Attributes:
        sent: Pairs sent in this run (re-sent interrupted ones included).
        skipped_done: Pairs an earlier run already stored: not sent again.
        interrupted_resent: Pairs an earlier run left in flight, sent again (a vendor may bill
            them twice).
        interrupted_skipped: Pairs an earlier run left in flight, skipped because
            ``resend_interrupted`` was off; they stay interrupted and out of reports.
        failed: Sent pairs whose outcome is ``error``: no vendor answer within the policy,
            or the runner caught an exception (reason ``runner:<ExceptionType>``).
    """

    sent: int = 0
    skipped_done: int = 0
    interrupted_resent: int = 0
    interrupted_skipped: int = 0
    failed: int = 0


class ProgressCallback(Protocol):
    """Told about each (row, vendor) pair once it is finished: ``progress(vendor, result,
    skipped)``; ``result`` is what was stored for a pair sent in this run, ``None`` for a
    skipped one. It runs on the event loop, so it must be quick; if it raises, the run stops
    as if cancelled (pairs in flight stay interrupted) and the exception propagates.
    """

    def __call__(self, vendor: str, result: Result | None, skipped: bool, /) -> None: ...


# planning ------------------------------------------------------------------------------------


@attrs.frozen
class _Plan:
    """What a run sends each vendor, checked against the engine before anything is sent.

    Attributes:
        settings: The run's settings.
        base: The base policy, lockout off.
        policies: The policy each vendor is asked under: ``base`` narrowed to it and the checks.
    """

    settings: CompareSettings
    base: Policy
    policies: Mapping[str, Policy]

    @classmethod
    def build(cls, engine: Engine, settings: CompareSettings) -> _Plan:
        specs = engine.host.vendors
        for vendor in settings.vendors:
            spec = _spec(specs, vendor)
            if vendor not in engine.vendor_configs:
                raise ConfigError("vendors", f"{vendor} is not configured in this engine")
            missing = [c.value for c in settings.checks if spec.offer(c) is None]
            if missing:
                raise ConfigError("checks", f"{vendor} does not offer {', '.join(missing)}")
        # A subject's many rows are not repeated attempts: lockout would refuse later ones.
        base = attrs.evolve(engine.policy(settings.policy), lockout=None)
        policies = {
            vendor: base.only(settings.checks, vendor).validate(specs)
            for vendor in settings.vendors
        }
        return cls(settings, base, policies)

    def meta(self, manifest: Manifest) -> dict[str, Any]:
        return {
            "manifest": str(manifest.path),
            "manifest_digest": manifest.digest,
            "rows": len(manifest.rows),
            "vendors": list(self.settings.vendors),
            "checks": [c.value for c in self.settings.checks],
            "policy": self.base.name,
            "policy_hash": self.base.digest(),
            "policy_hashes": {v: p.digest() for v, p in self.policies.items()},
        }

    def open(self, store: ResultStore, manifest: Manifest) -> StudyInfo:
        meta = self.meta(manifest)
        info = store.open_study(self.settings.study, kind=_KIND, meta=meta)
        _check_same_study(info, meta)
        return info


def _check_same_study(info: StudyInfo, meta: Mapping[str, Any]) -> None:
    """A resumed study must still be the same comparison, or its rows would not compare."""
    old, name = info.meta, info.name
    if old.get("manifest_digest") != meta["manifest_digest"]:
        raise ConfigError(
            "study",
            f"{name!r} was run over another manifest ({old.get('manifest', '?')}, "
            f"{old.get('manifest_digest', 'no digest')}), not {meta['manifest']} "
            f"({meta['manifest_digest']}): give this comparison another study name",
        )
    if old.get("checks") != meta["checks"]:
        raise ConfigError(
            "study",
            f"{name!r} compares {', '.join(old.get('checks') or ['nothing'])}, not "
            f"{', '.join(meta['checks'])}: give this comparison another study name",
        )
    before: Mapping[str, str] = old.get("policy_hashes") or {}
    now: Mapping[str, str] = meta["policy_hashes"]
    changed = sorted(v for v in now if v in before and before[v] != now[v])
    if changed:
        raise ConfigError(
            "study",
            f"{name!r} asked {', '.join(changed)} under other policy settings (thresholds, "
            "retries, deadline); mixed settings do not compare: give this run another study "
            "name, or use the earlier policy",
        )


def prepare_study(
    engine: Engine, manifest: Manifest, store: ResultStore, settings: CompareSettings
) -> StudyInfo:
    """Check ``settings`` against the engine and open (or resume) the study; sends nothing.

    ``run_comparison`` does this itself; call it first to fail early or to look at what an
    earlier run left. ``ConfigError`` / ``PolicyError`` name the setting at fault; key
    ``study`` when the study exists for another manifest, other checks or other policy
    settings.
    """
    return _Plan.build(engine, settings).open(store, manifest)


# running -------------------------------------------------------------------------------------


@attrs.define
class _Run:
    """The state a run's workers share.

    Attributes:
        engine: Sends each verification.
        store: Where claims and results go.
        plan: What to send each vendor, under which policy.
        progress: Told about each finished pair, if given.
        counts: What the run did so far, by ``CompareSummary`` field.
        stopped: A worker failed or was cancelled: take no new pair.
    """

    _engine: Engine
    _store: ResultStore
    _plan: _Plan
    _progress: ProgressCallback | None
    _counts: Counter[str] = attrs.field(init=False, factory=Counter)
    _stopped: bool = attrs.field(init=False, default=False)

    async def drain(self, pairs: Iterator[tuple[ManifestRow, str]]) -> None:
        """Work through ``pairs``, shared with the other workers, until none are left.

        Once any worker fails or is cancelled, the others take no new pair: cancelling them
        takes a few turns of the event loop, in which they could otherwise claim more.
        """
        while not self._stopped:
            pair = next(pairs, None)
            if pair is None:
                return
            try:
                await self._pair(*pair)
            except BaseException:
                self._stopped = True
                raise

    async def _pair(self, row: ManifestRow, vendor: str) -> None:
        # Store calls run in a thread: a server-backed store must not stall the event loop.
        claim = await asyncio.to_thread(self._store.claim, self._study, row.id, vendor)
        if not self._should_send(claim, row, vendor):
            self._tell(vendor, None, skipped=True)
            return
        result = await self._verify(row, vendor)
        await asyncio.to_thread(self._store.add, result)
        self._counts["sent"] += 1
        if result.outcome == "error":
            self._counts["failed"] += 1
        self._tell(vendor, result, skipped=False)

    @property
    def _study(self) -> str:
        return self._plan.settings.study

    def _should_send(self, claim: Claim, row: ManifestRow, vendor: str) -> bool:
        if claim is Claim.DONE:
            self._counts["skipped_done"] += 1
            return False
        if claim is Claim.INTERRUPTED:
            if not self._plan.settings.resend_interrupted:
                self._counts["interrupted_skipped"] += 1
                return False
            if not self._counts["interrupted_resent"]:
                log.warning(
                    "study %s: re-sending rows an earlier run left in flight (first: row %s "
                    "for %s); a vendor may bill them twice",
                    self._study,
                    row.id,
                    vendor,
                )
            self._counts["interrupted_resent"] += 1
        return True

    async def _verify(self, row: ManifestRow, vendor: str) -> Result:
        settings = self._plan.settings
        request_id = uuid.uuid4().hex
        started = time.monotonic()
        try:
            decision = await self._engine.verify(
                row.evidence,
                policy=self._plan.policies[vendor],
                checks=settings.checks,
                vendor=vendor,
                request_id=request_id,
            )
        except Exception as exc:
            # The engine turns vendor failures into outcomes, so this is a fault in kycmux or
            # a plugin: one row must not end a long, paid-for run.
            log.exception(
                "study %s: row %s for %s raised (request %s); stored as an error",
                self._study,
                row.id,
                vendor,
                request_id,
            )
            return Result(
                study=self._study,
                item=row.id,
                system=vendor,
                role=Role.OFFLINE,
                outcome="error",
                latency_ms=round((time.monotonic() - started) * 1000, 3),
                recorded_at=time.time(),
                label=row.label,
                reasons=(f"runner:{type(exc).__name__}",),
            )
        return Result.from_record(
            decision.record,
            study=self._study,
            item=row.id,
            system=vendor,
            role=Role.OFFLINE,
            label=row.label,
        )

    def _tell(self, vendor: str, result: Result | None, *, skipped: bool) -> None:
        if self._progress is not None:
            self._progress(vendor, result, skipped)

    def summary(self) -> CompareSummary:
        return CompareSummary(
            sent=self._counts["sent"],
            skipped_done=self._counts["skipped_done"],
            interrupted_resent=self._counts["interrupted_resent"],
            interrupted_skipped=self._counts["interrupted_skipped"],
            failed=self._counts["failed"],
        )


async def _all_or_none(workers: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``workers`` to the end; if one fails or the caller is cancelled, cancel them all."""
    tasks = [asyncio.create_task(worker) for worker in workers]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_comparison(
    engine: Engine,
    manifest: Manifest,
    store: ResultStore,
    settings: CompareSettings,
    *,
    progress: ProgressCallback | None = None,
) -> CompareSummary:
    """Send every manifest row to every vendor of ``settings`` and store each answer.

    Settings are checked against the engine before anything is sent (see ``prepare_study``).
    Pairs already stored in the study are skipped; interrupted ones are re-sent or skipped
    per ``settings.resend_interrupted``. At most ``settings.concurrency`` verifications are
    in flight, taken in manifest order. A verification that raises is stored as an ``error``
    result and the run goes on. When cancelled (Ctrl-C), nothing new is sent and verifications
    in flight are cancelled; their pairs stay claimed, so the next run sees them interrupted.
    """
    plan = _Plan.build(engine, settings)
    await asyncio.to_thread(plan.open, store, manifest)
    run = _Run(engine, store, plan, progress)
    pairs = ((row, vendor) for row in manifest.rows for vendor in settings.vendors)
    # A few workers pulling from one iterator, not a task per pair: manifests can be huge.
    count = min(settings.concurrency, len(manifest.rows) * len(settings.vendors))
    await _all_or_none([run.drain(pairs) for _ in range(count)])
    return run.summary()
