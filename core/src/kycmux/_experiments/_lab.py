"""The engine's live experiments: which ones apply, where decisions go, what gets stored.

``Lab`` is the engine's private registry of experiments and its link to the result store. It
never sends anything itself; the engine runs the arms' and shadows' decisions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import attrs

from kycmux._config._schema import choices
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import Policy
from kycmux._experiments._experiment import Assignment, ShadowExperiment, SplitExperiment
from kycmux._experiments._shadow import PendingShadow
from kycmux._records._record import DecisionRecord, ShadowRecord
from kycmux.exceptions import PolicyError
from kycmux.results import Result, ResultStore
from kycmux.results._provenance import AnswerSource, DataSource, answer_source, source_meta

__all__ = ["LIVE_SYSTEM", "Lab"]

log = logging.getLogger("kycmux.engine")

LIVE_SYSTEM = "live"
"""The system name of the live side of a shadow experiment in the result store."""

Experiment = SplitExperiment | ShadowExperiment


@attrs.define
class Lab:
    """Experiments by policy, assignment, and result storage off the event loop.

    Attributes:
        key: The key of assignment and sampling hashes.
        results: Where experiment results go (``None``: nowhere).
        owns_results: Close ``results`` with the engine (the engine opened it).
    """

    key: bytes = attrs.field(repr=False)
    results: ResultStore | None = None
    owns_results: bool = False
    _splits: dict[str, SplitExperiment] = attrs.field(init=False, factory=dict)
    _arms: dict[str, dict[str, Policy]] = attrs.field(init=False, factory=dict)
    _shadows: dict[str, list[tuple[ShadowExperiment, Policy]]] = attrs.field(
        init=False, factory=dict
    )
    _names: set[str] = attrs.field(init=False, factory=set)
    _opened: set[str] = attrs.field(init=False, factory=set)
    _sources: dict[str, dict[str, Any]] = attrs.field(init=False, factory=dict)
    _background: set[asyncio.Future[Any]] = attrs.field(init=False, factory=set)

    def add(
        self,
        experiment: Experiment,
        policies: Mapping[str, Policy],
        specs: Mapping[str, VendorSpec],
        configured: Mapping[str, Any],
    ) -> list[Policy]:
        """Validate and register ``experiment``; returns the policies it decides with."""
        key = f"experiments.{experiment.name}"
        if experiment.name in self._names:
            raise PolicyError(key, "an experiment of this name exists")
        base = policies.get(experiment.policy)
        if base is None:
            defined = choices(experiment.policy, policies, "defined")
            raise PolicyError(f"{key}.policy", f"no policy {experiment.policy!r}{defined}")
        if isinstance(experiment, SplitExperiment):
            if experiment.policy in self._splits:
                other = self._splits[experiment.policy].name
                raise PolicyError(f"{key}.policy", f"already split by experiment {other!r}")
            arms = experiment.policies(base, policies, specs)
            self._splits[experiment.policy] = experiment
            self._arms[experiment.name] = arms
            used = list(arms.values())
            systems = {arm: _source(p, configured) for arm, p in arms.items()}
        else:
            if experiment.vendor not in configured:
                raise PolicyError(f"{key}.shadow", f"{experiment.vendor} is not configured")
            shadow = experiment.shadow_policy(base, specs)
            self._shadows.setdefault(experiment.policy, []).append((experiment, shadow))
            used = [shadow]
            systems = {
                LIVE_SYSTEM: _source(base, configured),
                experiment.vendor: _source(shadow, configured),
            }
        self._sources[experiment.name] = source_meta(systems, DataSource.TRAFFIC)
        self._names.add(experiment.name)
        return used

    def assign(self, base: Policy, subject: str | None, request_id: str) -> Assignment | None:
        """The arm a decision under ``base`` goes to, if a split applies."""
        split = self._splits.get(base.name)
        if split is None or not split.enabled:
            return None
        arm, by = split.pick(self.key, subject, request_id)
        return Assignment(split.name, arm.name, self._arms[split.name][arm.name], by)

    def shadows(self, base: Policy) -> list[tuple[ShadowExperiment, Policy]]:
        """The enabled shadow experiments on ``base``, each with its candidate's policy."""
        return [(e, p) for e, p in self._shadows.get(base.name, ()) if e.enabled]

    # results -------------------------------------------------------------------------

    def record_live(
        self, record: DecisionRecord, assignment: Assignment | None, shadows: list[PendingShadow]
    ) -> None:
        """Store the live decision in every study it belongs to."""
        if assignment is not None:
            split = next(s for s in self._splits.values() if s.name == assignment.experiment)
            self._store(split, _live(record, split.name, assignment.arm))
        for pending in shadows:
            if pending.task is not None:
                study = pending.experiment.name
                self._store(pending.experiment, _live(record, study, LIVE_SYSTEM))

    def shadow_done(
        self, request_id: str, live: DecisionRecord, pending: PendingShadow, shadow: ShadowRecord
    ) -> None:
        """Store a shadow run's result, whenever it ends."""
        result = Result.from_shadow(
            shadow,
            study=pending.experiment.name,
            item=request_id,
            started_at=live.started_at,
            subject=live.subject,
        )
        self._store(pending.experiment, result)

    def _store(self, experiment: Experiment, result: Result) -> None:
        """Write off the event loop: a slow disk must not add to anybody's latency."""
        if self.results is None:
            return
        loop = asyncio.get_running_loop()
        self.keep(loop.run_in_executor(None, self._store_now, self.results, experiment, result))

    def _store_now(self, store: ResultStore, experiment: Experiment, result: Result) -> None:
        try:
            if experiment.name not in self._opened:
                meta = {**study_meta(experiment), "source": self._sources[experiment.name]}
                store.open_study(experiment.name, kind="experiment", meta=meta)
                self._opened.add(experiment.name)
            store.add(result)
        except Exception as exc:
            # By type only: a database error's detail can quote the row it refused.
            log.error(
                "result store write for %s failed (%s); ignored",
                experiment.name,
                type(exc).__name__,
            )

    # background work -------------------------------------------------------------------

    def keep(self, future: asyncio.Future[Any] | Coroutine[Any, Any, None]) -> None:
        """Track background work (a shadow left running, a store write) until it ends."""
        if not isinstance(future, asyncio.Future):
            future = asyncio.get_running_loop().create_task(future)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background shadow runs (each within its own timeout) and store writes."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def close(self) -> None:
        if self.results is not None and self.owns_results:
            self.results.close()
            self.results = None


def _live(record: DecisionRecord, study: str, system: str) -> Result:
    return Result.from_record(record, study=study, item=record.request_id, system=system)


def _source(policy: Policy, configured: Mapping[str, Any]) -> AnswerSource:
    """A system is its simulators' if any vendor it may call is reached on loopback: a
    simulated answer is never passed off as a vendor's."""
    sources = {
        answer_source(str(getattr(configured[v], "base_url", "")))
        for v in policy.used_vendors()
        if v in configured
    }
    return AnswerSource.SIMULATOR if AnswerSource.SIMULATOR in sources else AnswerSource.VENDOR


def study_meta(experiment: Experiment) -> dict[str, Any]:
    """What a report needs to know about the experiment behind a study."""
    if isinstance(experiment, SplitExperiment):
        arms = {
            a.name: {"weight": a.weight, "policy": a.policy, "vendors": list(a.vendors)}
            for a in experiment.arms
        }
        return {"type": "split", "policy": experiment.policy, "arms": arms}
    return {
        "type": "shadow",
        "policy": experiment.policy,
        "vendor": experiment.vendor,
        "sample": experiment.sample,
        "timeout": experiment.timeout,
        "max_delay": experiment.max_delay,
        "on_late": experiment.on_late.value,
    }
