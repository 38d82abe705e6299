"""Offline comparison runs: every manifest row through every chosen vendor, resumably.

Each (row, vendor) pair is claimed in the result store before it is sent and stored as a
``Result`` once answered. A pair already done is never sent again: vendors bill per call. A
pair an earlier run claimed but never stored is *interrupted*: it may have reached the vendor,
so re-sending it (the default) may be billed twice.

Several workers may run one study on a shared store (``PostgresResultStore``): a pair another
live worker holds is *busy*. It is skipped in the first pass and revisited afterwards, every
``BUSY_POLL`` seconds for at most ``CompareSettings.busy_wait``, until the other worker stores
it (done elsewhere) or its claim's lease lapses because that worker died (then it is
interrupted, handled as above).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any, Protocol

import attrs

from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import Policy
from kycmux._engine._engine import Engine
from kycmux._model._evidence import Check, Evidence, EvidenceKind, FileMedia
from kycmux.compare._manifest import Manifest, ManifestRow
from kycmux.compare._settings import (
    BUSY_WAIT,
    MAX_CONCURRENCY,
    CompareSettings,
    common_checks,
    offered_checks,
    spec_of,
)
from kycmux.exceptions import ConfigError
from kycmux.results._model import Result, Role
from kycmux.results._provenance import AnswerSource, DataSource, answer_source, source_meta
from kycmux.results._store import Claim, ResultStore, StudyInfo

__all__ = [
    "BUSY_WAIT",
    "MAX_CONCURRENCY",
    "CompareSettings",
    "CompareSummary",
    "ProgressCallback",
    "common_checks",
    "evidence_for",
    "offered_checks",
    "prepare_study",
    "run_comparison",
]

log = logging.getLogger("kycmux.compare")

BUSY_POLL = 0.5
"""Seconds between two looks at the pairs other workers hold."""

_KIND = "offline"
# A manifest is judged synthetic or not by its first rows with a file: a mix is not made.
_SNIFFED_ROWS = 20


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
        busy: Pairs another live worker held when first claimed (revisited after the first
            pass; each ends in ``done_elsewhere``, the interrupted counts, or ``busy_left``).
        done_elsewhere: Busy pairs the other worker then stored: not sent here.
        busy_left: Busy pairs still held by another worker when ``busy_wait`` ran out: not
            sent here, not stored yet.
    """

    sent: int = 0
    skipped_done: int = 0
    interrupted_resent: int = 0
    interrupted_skipped: int = 0
    failed: int = 0
    busy: int = 0
    done_elsewhere: int = 0
    busy_left: int = 0


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
        specs: Each vendor's spec.
        checks: The checks each vendor is asked for: those of the study it offers.
        policies: The policy each vendor is asked under: ``base`` narrowed to it and its checks.
    """

    settings: CompareSettings
    base: Policy
    specs: Mapping[str, VendorSpec]
    checks: Mapping[str, tuple[Check, ...]]
    policies: Mapping[str, Policy]
    sources: Mapping[str, AnswerSource] = attrs.field(factory=dict)

    @classmethod
    def build(cls, engine: Engine, settings: CompareSettings) -> _Plan:
        known = engine.vendor_specs  # instances of a vendor included
        specs = {vendor: spec_of(known, vendor) for vendor in settings.vendors}
        for vendor in settings.vendors:
            if vendor not in engine.vendor_configs:
                raise ConfigError("vendors", f"{vendor} is not configured in this engine")
        # Each check is judged by every vendor offering it: a vendor offering fewer checks
        # than another narrows nobody else's comparison.
        checks = {
            vendor: tuple(c for c in settings.checks if spec.offer(c) is not None)
            for vendor, spec in specs.items()
        }
        for vendor, offered in checks.items():
            if not offered:
                wanted = ", ".join(c.value for c in settings.checks)
                rule = f"{vendor} offers none of the checks compared ({wanted})"
                raise ConfigError("checks", rule)
        unserved = [c.value for c in settings.checks if not any(c in o for o in checks.values())]
        if unserved:
            raise ConfigError("checks", f"no vendor compared offers {', '.join(unserved)}")
        # A subject's many rows are not repeated attempts: lockout would refuse later ones.
        base = attrs.evolve(engine.policy(settings.policy), lockout=None)
        policies = {
            vendor: base.only(checks[vendor], vendor).validate(known) for vendor in settings.vendors
        }
        sources = {v: answer_source(engine.vendor_configs[v].base_url) for v in settings.vendors}
        return cls(settings, base, specs, checks, policies, sources)

    def evidence(self, row: ManifestRow, vendor: str) -> Evidence:
        """The row's evidence as ``vendor`` takes it (``evidence_for``)."""
        return evidence_for(row.evidence, self.specs[vendor], self.checks[vendor])

    def meta(self, manifest: Manifest) -> dict[str, Any]:
        return {
            "manifest": str(manifest.path),
            "manifest_digest": manifest.digest,
            "rows": len(manifest.rows),
            "vendors": list(self.settings.vendors),
            "checks": [c.value for c in self.settings.checks],
            "vendor_checks": {v: [c.value for c in cs] for v, cs in self.checks.items()},
            "policy": self.base.name,
            "policy_hash": self.base.digest(),
            "policy_hashes": {v: p.digest() for v, p in self.policies.items()},
            "source": source_meta(self.sources, data_source(manifest)),
        }

    def open(self, store: ResultStore, manifest: Manifest) -> StudyInfo:
        meta = self.meta(manifest)
        info = store.open_study(self.settings.study, kind=_KIND, meta=meta)
        _check_same_study(info, meta)
        return info


def evidence_for(evidence: Evidence, spec: VendorSpec, checks: Iterable[Check]) -> Evidence:
    """``evidence`` with its reference photo on the vendor's declared reference side.

    In a manifest every column has one role: ``reference_photo`` shows the claimed person, the
    selfie, video and SDK data whoever presented. A vendor whose face comparison takes its
    reference in another field (Linkface's "selfie", per its ``EvidenceRoles``) is sent the
    reference photo there; otherwise it would compare two live captures and pass impostors.
    """
    photo = evidence.reference_photo
    for check in checks:
        offer = spec.offer(check)
        roles = None if offer is None else offer.roles
        if photo is None or roles is None or roles.reference is None:
            continue
        if roles.reference is not EvidenceKind.REFERENCE_PHOTO:
            changes: dict[str, Any] = {roles.reference.value: photo}
            return attrs.evolve(evidence, **changes)
    return evidence


def data_source(manifest: Manifest) -> DataSource:
    """``synthetic`` when the first rows' files carry a synthetic truth (as every file
    ``kycmux synthetic-manifest`` writes does), else ``manifest``: the user's own captures."""
    from kycmux.synthetic import read_truth_file  # stdlib only; read just the first bytes

    for row in manifest.rows[:_SNIFFED_ROWS]:
        for kind in (EvidenceKind.SELFIE, EvidenceKind.REFERENCE_PHOTO, EvidenceKind.VIDEO):
            media = row.evidence.get(kind)
            if isinstance(media, FileMedia):
                return (
                    DataSource.SYNTHETIC
                    if read_truth_file(media.path) is not None
                    else DataSource.MANIFEST
                )
    return DataSource.MANIFEST


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
        busy: Pairs found busy (another worker holds them) since the last look at them.
        deferred: Every pair ever found busy.
    """

    _engine: Engine
    _store: ResultStore
    _plan: _Plan
    _progress: ProgressCallback | None
    _counts: Counter[str] = attrs.field(init=False, factory=Counter)
    _stopped: bool = attrs.field(init=False, default=False)
    _busy: list[tuple[ManifestRow, str]] = attrs.field(init=False, factory=list)
    _deferred: set[tuple[str, str]] = attrs.field(init=False, factory=set)

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

    async def revisit(self, concurrency: int, wait: float) -> None:
        """Ask again, every ``BUSY_POLL`` seconds for at most ``wait``, for the pairs other
        workers held; those still held at the end are left to them (and counted)."""
        deadline = time.monotonic() + wait
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(min(BUSY_POLL, max(0.0, deadline - time.monotonic())))
            held, self._busy = self._busy, []
            pairs = iter(held)  # shared by the workers, as in the first pass
            await _all_or_none([self.drain(pairs) for _ in range(min(concurrency, len(held)))])
        for _row, vendor in self._busy:
            self._counts["busy_left"] += 1
            self._tell(vendor, None, skipped=True)
        self._busy = []

    async def _pair(self, row: ManifestRow, vendor: str) -> None:
        # Store calls run in a thread: a server-backed store must not stall the event loop.
        claim = await asyncio.to_thread(self._store.claim, self._study, row.id, vendor)
        if claim is Claim.BUSY:
            self._defer(row, vendor)
            return
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

    def _defer(self, row: ManifestRow, vendor: str) -> None:
        """Another worker holds the pair: look again after the first pass."""
        if (row.id, vendor) not in self._deferred:
            self._deferred.add((row.id, vendor))
            self._counts["busy"] += 1
            if self._counts["busy"] == 1:
                log.info(
                    "study %s: row %s for %s is in flight at another worker; revisiting such "
                    "rows after the first pass",
                    self._study,
                    row.id,
                    vendor,
                )
        self._busy.append((row, vendor))

    def _should_send(self, claim: Claim, row: ManifestRow, vendor: str) -> bool:
        if claim is Claim.DONE:
            done_here = (row.id, vendor) in self._deferred
            self._counts["done_elsewhere" if done_here else "skipped_done"] += 1
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
        request_id = uuid.uuid4().hex
        started = time.monotonic()
        try:
            decision = await self._engine.verify(
                self._plan.evidence(row, vendor),
                policy=self._plan.policies[vendor],
                checks=self._plan.checks[vendor],
                vendor=vendor,
                request_id=request_id,
            )
        except Exception as exc:
            # The engine turns vendor failures into outcomes, so this is a fault in kycmux or
            # a plugin: one row must not end a long, paid-for run.
            # By type only: an exception's message may quote the evidence it choked on.
            log.error(
                "study %s: row %s for %s raised %s (request %s); stored as an error",
                self._study,
                row.id,
                vendor,
                type(exc).__name__,
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
                truth=row.truth,
                reasons=(f"runner:{type(exc).__name__}",),
            )
        return Result.from_record(
            decision.record,
            study=self._study,
            item=row.id,
            system=vendor,
            role=Role.OFFLINE,
            label=row.label,
            truth=row.truth,
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
            busy=self._counts["busy"],
            done_elsewhere=self._counts["done_elsewhere"],
            busy_left=self._counts["busy_left"],
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
    per ``settings.resend_interrupted``; busy ones (another worker holds them) are revisited
    after the first pass, for at most ``settings.busy_wait`` seconds. At most
    ``settings.concurrency`` verifications are in flight, taken in manifest order. A
    verification that raises is stored as an ``error`` result and the run goes on. When
    cancelled (Ctrl-C), nothing new is sent and verifications in flight are cancelled; their
    pairs stay claimed, so the next run sees them interrupted.
    """
    plan = _Plan.build(engine, settings)
    await asyncio.to_thread(plan.open, store, manifest)
    run = _Run(engine, store, plan, progress)
    pairs = ((row, vendor) for row in manifest.rows for vendor in settings.vendors)
    # A few workers pulling from one iterator, not a task per pair: manifests can be huge.
    count = min(settings.concurrency, len(manifest.rows) * len(settings.vendors))
    await _all_or_none([run.drain(pairs) for _ in range(count)])
    await run.revisit(settings.concurrency, settings.busy_wait)
    return run.summary()
