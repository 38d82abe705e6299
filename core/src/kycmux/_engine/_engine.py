"""``Engine``: the embeddable entry point. One question in, one explained decision out.

A thin façade: routing (which policy, through an experiment's arm; which shadows), deciding (a
``DecisionRun`` performing the decision machine's steps), recording (the record builder, the
observers and sinks off the decision path). Construction is ``kycmux._engine._build``.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kycmux._config._config import Config, VendorConfig
from kycmux._config._schema import choices
from kycmux._contract._host import PluginHost
from kycmux._contract._vendor import VendorSpec
from kycmux._decision._policy import Policy
from kycmux._decision._verdict import Outcome
from kycmux._engine._answer import Decision
from kycmux._engine._build import assemble
from kycmux._engine._challenge import ChallengeIssuer, challenge_key, check_challenge, seal
from kycmux._engine._driver import DecisionRun
from kycmux._engine._guards import VendorGuards
from kycmux._engine._planning import servable, shadow_plan
from kycmux._engine._portal import Portal
from kycmux._engine._subjects import SubjectGate
from kycmux._experiments._experiment import Assignment, ShadowExperiment, SplitExperiment
from kycmux._experiments._lab import Lab
from kycmux._experiments._shadow import PendingShadow, cancel_all, settle
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Check, Evidence
from kycmux._model._privacy import keyed_hash
from kycmux._records._builder import (
    challenge_audit,
    decision_record,
    degraded_record,
    with_experiments,
)
from kycmux._records._observers import OBSERVER_DRAIN, Observers
from kycmux._records._record import AttemptRecord
from kycmux._records._sink import RecordSink
from kycmux._resilience import (
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    Clock,
    Deadline,
    RateLimiter,
    RetryBudget,
    StateStore,
    TransitionListener,
)
from kycmux._state._contract import SharedState
from kycmux._state._fallback import DEGRADED
from kycmux._transport._call import VendorClient
from kycmux._transport._http import AsyncBackend, HttpClient
from kycmux.exceptions import PolicyError
from kycmux.results import ResultStore

__all__ = ["OBSERVER_DRAIN", "Decision", "Engine"]


log = logging.getLogger("kycmux.engine")


@attrs.define
class Engine:
    """Answers verifications from the configured vendors, safely, within a deadline.

    Build with ``Engine.from_config_file()`` or ``Engine.from_config()``; use it as an async
    context manager (``await engine.verify(...)``) or a sync one (``engine.verify_sync(...)``),
    not both at once. No globals: each engine has its own plugin host, HTTP client and state.
    """

    _host: PluginHost
    _config: Config
    _http: HttpClient
    _clock: Clock
    _guards: VendorGuards
    _record_key: bytes = attrs.field(repr=False)
    _experiment_key: bytes = attrs.field(repr=False)
    _default_policy: str = "default"
    _policies: dict[str, Policy] = attrs.field(factory=dict)
    _gate: SubjectGate = attrs.field(init=False)
    _rng: random.Random = attrs.field(init=False, factory=random.Random)
    _portal: Portal = attrs.field(init=False, factory=Portal)
    _observers: Observers = attrs.field(init=False)
    _client: VendorClient = attrs.field(init=False)
    _lab: Lab = attrs.field(init=False)
    _specs: Mapping[str, VendorSpec] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._specs = self._config.specs(self._host.vendors)  # policies name instances
        self._client = VendorClient.from_config(self._host, self._config, self._http, self._clock)
        self._lab = Lab(self._experiment_key)
        self._gate = SubjectGate(self._guards.state)
        self._observers = Observers(self._host)
        self._guards.on_transition(self._notify_breaker)

    # construction ------------------------------------------------------------------------

    @classmethod
    def from_config_file(
        cls, path: str | os.PathLike[str], *, host: PluginHost | None = None, **kwargs: Any
    ) -> Engine:
        """Load the TOML configuration at ``path`` (vendors, policies, engine settings)."""
        host = PluginHost.from_entry_points() if host is None else host
        env = kwargs.pop("env", None)
        return cls.from_config(Config.from_file(path, host.vendors, env), host=host, **kwargs)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        host: PluginHost | None = None,
        http: HttpClient | None = None,
        clock: Clock | None = None,
        store: StateStore | None = None,
        state: SharedState | None = None,
        record_key: bytes | None = None,
        policies: Iterable[Policy] = (),
        experiments: Iterable[SplitExperiment | ShadowExperiment] = (),
        results: ResultStore | None = None,
        async_backend: AsyncBackend | None = None,
    ) -> Engine:
        """An engine over ``config``; pass ``http`` to bring your own httpx clients.

        ``results`` receives every decision an experiment touched (default: the SQLite file
        at ``[engine] results``, if set). ``state`` is a shared state store (default: the
        one ``[engine] state`` names, else this process's own); ``store`` the key-value store
        this process's own state keeps its breakers and counts in.
        """
        return assemble(
            cls,
            config,
            host=host,
            http=http,
            clock=clock,
            store=store,
            state=state,
            record_key=record_key,
            policies=policies,
            experiments=experiments,
            results=results,
            async_backend=async_backend,
        )

    def add_policy(self, policy: Policy) -> None:
        """Validate and add a policy (its old-style per-vendor breaker or rate limit, if any,
        moves to the vendor, with a warning; it must agree with every other policy's)."""
        policy.validate(self._specs)
        self._guards.adopt(policy)
        self._policies[policy.name] = policy

    def add_experiment(self, experiment: SplitExperiment | ShadowExperiment) -> None:
        """Validate and add a live experiment on one of the engine's policies."""
        used = self._lab.add(experiment, self._policies, self._specs, self._config.vendors)
        for policy in used:  # derived from policies added (and warned about) already
            self._guards.adopt(policy, warn=False)

    def add_sink(self, sink: RecordSink, *, owned: bool = False) -> None:
        """Write every decision record to ``sink`` too (after the decision, off its path);
        ``drain`` flushes it, and closing the engine closes it if ``owned``."""
        self._observers.add_sink(sink, owned=owned)

    def keep_results(self, store: ResultStore, *, owned: bool) -> None:
        """Send experiment results to ``store`` (closed with the engine if ``owned``)."""
        self._lab.results, self._lab.owns_results = store, owned

    def set_default_policy(self, name: str) -> None:
        self.policy(name)
        self._default_policy = name

    def policy(self, name: str | None = None) -> Policy:
        name = name or self._default_policy
        try:
            return self._policies[name]
        except KeyError:
            known = choices(name, self._policies, "defined")
            raise PolicyError(f"policies.{name}", f"no such policy{known}") from None

    @property
    def policies(self) -> Mapping[str, Policy]:
        return dict(self._policies)

    @property
    def host(self) -> PluginHost:
        return self._host

    @property
    def vendor_configs(self) -> Mapping[str, VendorConfig]:
        return self._config.vendors

    @property
    def vendor_specs(self) -> Mapping[str, VendorSpec]:
        """What policies may name: installed vendors and configured instances (``Config.specs``)."""
        return dict(self._specs)

    # the vendors' guards ----------------------------------------------------------------

    def breaker(self, vendor: str) -> CircuitBreaker:
        return self._guards.breaker(vendor)

    def limiter(self, vendor: str) -> RateLimiter:
        return self._guards.limiter(vendor)

    def retry_budget(self, vendor: str) -> RetryBudget:
        return self._guards.budget(vendor)

    def on_breaker_transition(self, listener: TransitionListener) -> None:
        """Call ``listener(vendor, old, new, at)`` on every breaker transition made by this
        engine (with a shared store, other replicas' transitions are theirs to report)."""
        self._guards.on_transition(listener)

    async def breaker_stats(self, vendor: str) -> BreakerStats:
        """The vendor's breaker as the state holds it (the shared store's, with one)."""
        return await self._guards.breaker_stats(vendor)

    async def unlock(self, subject_id: str) -> None:
        """Clear a subject's lock and counts, on every replica (an operator's override)."""
        await self._guards.state.unlock(keyed_hash(self._record_key, subject_id))

    @property
    def state_fallbacks(self) -> Mapping[str, int]:
        """Calls to the shared state store answered by this process's own state (or, for
        ``subject`` and ``count``, lockout refused or skipped) because the store failed,
        by operation, since the engine started: a metric to export and alert on."""
        return dict(self._guards.state.fallbacks)

    # challenges -------------------------------------------------------------------------

    async def challenge(
        self,
        subject: str | None = None,
        *,
        policy: str | Policy | None = None,
        request_id: str | None = None,
    ) -> Challenge:
        """A challenge for the person to perform, from the vendor ``policy`` would ask first
        for a check that needs one (an experiment's arm chosen by ``subject`` as ``verify``
        would). Pass it back as ``Evidence(challenge=...)``: it binds those checks to that
        vendor. ``ChallengeUnavailableError`` when no vendor could issue one."""
        base = policy if isinstance(policy, Policy) else self.policy(policy)
        request_id = request_id or uuid.uuid4().hex
        assignment = self._lab.assign(base, subject, request_id)
        issuer = ChallengeIssuer(self._client, self._guards, self._clock, self._notify_attempt)
        issued = await issuer.issue(assignment.policy if assignment else base, request_id)
        hashed = None if subject is None else keyed_hash(self._record_key, subject)
        return seal(challenge_key(self._record_key), issued, hashed)

    def challenge_sync(self, subject: str | None = None, **kwargs: Any) -> Challenge:
        """``challenge`` for sync callers, on the engine's blocking portal."""
        found: Challenge = self._portal.call(functools.partial(self.challenge, subject, **kwargs))
        return found

    # verification -----------------------------------------------------------------------

    async def verify(
        self,
        evidence: Evidence,
        *,
        policy: str | Policy | None = None,
        checks: Iterable[Check] | None = None,
        vendor: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """Decide on ``evidence`` under ``policy`` (narrowed to ``checks`` / one ``vendor``).

        Experiments on the policy apply unless ``vendor`` is given (the caller chose already).
        """
        key = challenge_key(self._record_key)
        hashed = self._subject(evidence)  # once: the challenge, the lockout and the record
        check_challenge(self._specs, self._clock, evidence, key, hashed)
        base = policy if isinstance(policy, Policy) else self.policy(policy)
        request_id = request_id or uuid.uuid4().hex
        subject = evidence.subject_id or evidence.id_number
        assignment = self._lab.assign(base, subject, request_id) if vendor is None else None
        chosen = self._narrow(assignment.policy if assignment else base, evidence, checks, vendor)
        degraded: set[str] = set()
        token = DEGRADED.set(degraded)
        try:
            decision, shadows = await self._gated(
                chosen, base, evidence, request_id, assignment, vendor is None, hashed
            )
        finally:
            DEGRADED.reset(token)
        if degraded:
            record = degraded_record(decision.record, degraded)
            decision = attrs.evolve(decision, record=record)
        self._lab.record_live(decision.record, assignment, shadows)
        self._observers.post("on_decision", decision.record)
        return decision

    async def _gated(
        self,
        chosen: Policy,
        base: Policy,
        evidence: Evidence,
        request_id: str,
        assignment: Assignment | None,
        shadowed: bool,
        subject: str | None,
    ) -> tuple[Decision, list[PendingShadow]]:
        """The decision behind the subject's lockout (``subject``: its keyed hash): refused
        while it is locked (or while its state cannot be read and the lockout fails closed),
        counted afterwards."""
        began = (self._clock.time(), self._clock.monotonic())
        # The decision's time starts before its lockout check: the check is part of it.
        deadline = Deadline(self._clock, chosen.deadline)
        run = self._run(chosen, evidence, request_id, deadline=deadline)
        standing = await self._gate.enter(subject, chosen.lockout, deadline, run.plan)
        if standing.lock is not None or standing.refused:
            record = standing.refusal(
                request_id=request_id,
                started_at=began[0],
                policy=chosen,
                subject=subject,
                evidence=evidence,
                duration=self._clock.monotonic() - began[1],
            )
            return Decision(Outcome(record.outcome), record.reasons, None, record), []
        decision, shadows = await self._decide(run, base, assignment, shadowed, began, subject)
        counting = self._gate.leave(subject, standing, decision.outcome)
        if deadline.remaining() > self._guards.state.timeout or not self._guards.state.is_shared:
            await counting
        else:  # no time left to wait for the store: the count lands after the answer
            self._lab.keep(counting)
        return decision, shadows

    async def _decide(
        self,
        run: DecisionRun,
        base: Policy,
        assignment: Assignment | None,
        shadowed: bool,
        began: tuple[float, float],
        hashed: str | None,
    ) -> tuple[Decision, list[PendingShadow]]:
        started, begun = began
        # Before any shadow starts: evidence no vendor can take is refused with nothing sent.
        await run.plan()
        subject = run.evidence.subject_id or run.evidence.id_number
        shadows = (
            self._start_shadows(base, run.evidence, subject, run.request_id) if shadowed else []
        )
        try:
            await run.run()
            conclusion = run.conclude()
            record = decision_record(
                request_id=run.request_id,
                started_at=started,
                duration=self._clock.monotonic() - begun,
                policy=run.policy,
                subject=hashed,
                evidence=run.evidence,
                conclusion=conclusion,
                attempts=run.attempts,
                skipped=run.skipped,
                challenge=challenge_audit(run.evidence, run.attempts, self._specs.__getitem__),
            )
            on_done = functools.partial(self._lab.shadow_done, run.request_id, record)
            answers = await settle(shadows, self._clock, on_done=on_done, keep=self._lab.keep)
        except BaseException:
            cancel_all(shadows, self._lab.keep)
            raise
        record = with_experiments(record, assignment, answers)
        return Decision(conclusion.outcome, conclusion.reasons, conclusion.hint, record), shadows

    def verify_sync(self, evidence: Evidence, **kwargs: Any) -> Decision:
        """``verify`` for sync callers, on the engine's own event loop on a thread."""
        result: Decision = self._portal.call(functools.partial(self.verify, evidence, **kwargs))
        return result

    def _narrow(
        self, policy: Policy, evidence: Evidence, checks: Iterable[Check] | None, vendor: str | None
    ) -> Policy:
        if checks is None and policy.checks_from_evidence:
            checks = servable(policy, self._specs, self._config.vendors, evidence) or None
        if checks is not None or vendor is not None:
            return policy.only(checks, vendor).validate(self._specs)
        return policy

    def _run(
        self,
        policy: Policy,
        evidence: Evidence,
        request_id: str,
        role: str = "primary",
        deadline: Deadline | None = None,
    ) -> DecisionRun:
        return DecisionRun(
            client=self._client,
            policy=policy,
            evidence=evidence,
            request_id=request_id,
            clock=self._clock,
            resilience=self._guards,
            rng=self._rng,
            on_attempt=self._notify_attempt,
            role=role,
            deadline=deadline,
        )

    # shadows ----------------------------------------------------------------------------

    def _start_shadows(
        self, base: Policy, evidence: Evidence, subject: str | None, request_id: str
    ) -> list[PendingShadow]:
        started = []
        for experiment, policy in self._lab.shadows(base):
            plan = shadow_plan(
                experiment,
                policy,
                evidence,
                sample=(self._experiment_key, subject, request_id),
                specs=self._specs,
                vendors=self._config.vendors,
                guards=self._guards,
            )
            if isinstance(plan, str):
                started.append(PendingShadow.skipped(experiment, plan))
                continue
            # The challenge is the live decision's alone: a shadow never carries it.
            unchallenged = attrs.evolve(evidence, challenge=None)
            run = self._run(plan, unchallenged, request_id, role="shadow")
            started.append(PendingShadow.start(experiment, run, self._clock))
        return started

    # records and observers --------------------------------------------------------------

    def _subject(self, evidence: Evidence) -> str | None:
        subject = evidence.subject_id or evidence.id_number
        return None if subject is None else keyed_hash(self._record_key, subject)

    def _notify_attempt(self, record: AttemptRecord) -> None:
        self._observers.post("on_attempt", record)

    def _notify_breaker(self, vendor: str, old: BreakerState, new: BreakerState, at: float) -> None:
        self._observers.post(
            "on_breaker_transition", vendor=vendor, old=old.value, new=new.value, at=at
        )

    # lifecycle ----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for background work: shadow runs left running (each within its own timeout),
        result-store writes, and the observers and record sinks (for at most
        ``OBSERVER_DRAIN`` seconds: an observer stuck for ever is given up on, with a
        warning). ``aclose`` / ``close`` do it too."""
        await self._lab.drain()
        await self._guards.state.drain()
        await self._observers.drain()

    async def aclose(self) -> None:
        await self.drain()
        await self._http.aclose()
        await self._guards.state.aclose()
        self._release()

    def close(self) -> None:
        if self._portal.started:
            self._portal.call(self.drain)
            self._portal.call(self._http.aclose)
            self._portal.call(self._guards.state.aclose)
            self._portal.stop()
        else:
            self._http.close()
        self._release()

    def _release(self) -> None:
        self._client.close()
        self._observers.close()
        self._lab.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
