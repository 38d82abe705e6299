"""``Engine``: the embeddable entry point. One question in, one explained decision out."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import secrets
import threading
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from kycmux._config._config import Config, VendorConfig, is_loopback_host
from kycmux._contract._host import PluginHost
from kycmux._decision._machine import ineligible
from kycmux._decision._policy import Policy, VendorSettings
from kycmux._decision._verdict import Outcome
from kycmux._engine._driver import DecisionRun, Resilience
from kycmux._experiments._experiment import (
    Assignment,
    ShadowExperiment,
    SplitExperiment,
    experiment_from_table,
    experiment_key,
)
from kycmux._experiments._lab import Lab
from kycmux._experiments._shadow import PendingShadow, cancel_all, settle
from kycmux._model._evidence import Check, Consent, Evidence
from kycmux._model._privacy import keyed_hash
from kycmux._model._secret import reveal
from kycmux._records._builder import decision_record, locked_record
from kycmux._records._record import AttemptRecord, DecisionRecord, ShadowRecord
from kycmux._records._sink import JsonLinesSink
from kycmux._resilience import (
    CircuitBreaker,
    Clock,
    InMemoryStateStore,
    Lock,
    LockoutSettings,
    RateLimiter,
    RetryBudget,
    StateStore,
    SubjectLockout,
    SystemClock,
    TransitionListener,
)
from kycmux._transport._call import VendorClient
from kycmux._transport._http import AsyncBackend, HttpClient
from kycmux._transport._offload import HookRunner
from kycmux.exceptions import ConfigError, PolicyError, UnsafeURLError
from kycmux.results import ResultStore, SqliteResultStore

__all__ = ["OBSERVER_DRAIN", "Decision", "Engine"]

OBSERVER_DRAIN = 10.0
"""Seconds ``Engine.drain`` waits for observers and record sinks to catch up."""
_OBSERVERS = "observers"

log = logging.getLogger("kycmux.engine")
T = TypeVar("T")
_ENGINE_KEYS = {"policy", "record_key", "records", "results", "async_backend"}


@attrs.frozen
class Decision:
    """The answer to one verification.

    Attributes:
        outcome: accept / reject / retry_capture / review / error.
        reasons: Machine-readable reasons (``"liveness:linkface:score_below_threshold"``).
        hint: For ``retry_capture``: what to tell the user, in plain language.
        record: The full decision record (masked; safe to store and log).
    """

    outcome: Outcome
    reasons: tuple[str, ...]
    hint: str | None
    record: DecisionRecord

    @property
    def request_id(self) -> str:
        return self.record.request_id


class _LoopThread:
    """A private event loop in a daemon thread, so sync callers can use the async engine."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="kycmux")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def _configured_key(config: Config, given: bytes | None) -> bytes | None:
    if given is not None:
        return given
    value = config.engine.get("record_key")
    return None if value is None else str(reveal(value)).encode()


def _record_key(config: Config, given: bytes | None) -> bytes:
    # Without a configured key, hashes join records within this process only; set
    # [engine] record_key to join them across processes and restarts.
    return _configured_key(config, given) or secrets.token_bytes(32)


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
    _store: StateStore
    _record_key: bytes = attrs.field(repr=False)
    _experiment_key: bytes = attrs.field(repr=False)
    _default_policy: str = "default"
    _policies: dict[str, Policy] = attrs.field(factory=dict)
    _breakers: dict[str, CircuitBreaker] = attrs.field(init=False, factory=dict)
    _limiters: dict[str, RateLimiter] = attrs.field(init=False, factory=dict)
    _budgets: dict[str, RetryBudget] = attrs.field(init=False, factory=dict)
    _lockouts: dict[LockoutSettings, SubjectLockout] = attrs.field(init=False, factory=dict)
    _listeners: list[TransitionListener] = attrs.field(init=False, factory=list)
    _rng: random.Random = attrs.field(init=False, factory=random.Random)
    _portal: _LoopThread | None = attrs.field(init=False, default=None)
    _sinks: list[JsonLinesSink] = attrs.field(init=False, factory=list)
    _observing: HookRunner = attrs.field(init=False, factory=lambda: HookRunner(workers=1))
    _client: VendorClient = attrs.field(init=False)
    _lab: Lab = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._client = VendorClient(
            self._host, self._config.vendors, self._http, self._clock.time, clock=self._clock
        )
        self._lab = Lab(self._experiment_key)

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
        record_key: bytes | None = None,
        policies: Iterable[Policy] = (),
        experiments: Iterable[SplitExperiment | ShadowExperiment] = (),
        results: ResultStore | None = None,
        async_backend: AsyncBackend | None = None,
    ) -> Engine:
        """An engine over ``config``; pass ``http`` to bring your own httpx clients.

        ``results`` receives every decision an experiment touched (default: the SQLite file
        at ``[engine] results``, if set).
        """
        host = PluginHost.from_entry_points() if host is None else host
        for key in config.engine:
            if key not in _ENGINE_KEYS:
                raise ConfigError(f"engine.{key}", f"unknown key (expected {sorted(_ENGINE_KEYS)})")
        clock = SystemClock() if clock is None else clock
        if http is not None and not http.tls_verified:
            _require_loopback(config)
        backend = async_backend or config.engine.get("async_backend", "aiohttp")
        engine = cls(
            host,
            config,
            HttpClient.create(async_backend=backend) if http is None else http,
            clock,
            InMemoryStateStore(clock) if store is None else store,
            _record_key(config, record_key),
            experiment_key(_configured_key(config, record_key)),
        )
        for name, table in config.policies.items():
            engine.add_policy(Policy.from_table(name, table))
        for policy in policies:
            engine.add_policy(policy)
        if not engine._policies:
            engine.add_policy(Policy.default(host.vendors, config.vendors))
        engine._default_policy = config.engine.get("policy", next(iter(engine._policies)))
        for name, table in config.experiments.items():
            engine.add_experiment(experiment_from_table(name, table))
        for experiment in experiments:
            engine.add_experiment(experiment)
        if results is not None:
            engine._lab.results = results
        elif "results" in config.engine:
            engine._lab.results = SqliteResultStore.open(config.engine["results"])
            engine._lab.owns_results = True
        if "records" in config.engine:
            # The engine's own sink, not a plugin on the (possibly shared) host: another engine
            # on the same host must neither collide with it nor write into it.
            engine._sinks.append(JsonLinesSink(config.engine["records"]))
        return engine

    def add_policy(self, policy: Policy) -> None:
        """Validate and add a policy; per-vendor breaker and rate limit must match the others'.

        A vendor has one breaker and one rate limiter per engine, so two policies cannot give
        it different settings for them.
        """
        policy.validate(self._host.vendors)
        self._check_vendor_settings(policy)
        self._policies[policy.name] = policy

    def _check_vendor_settings(self, policy: Policy) -> None:
        for vendor in policy.used_vendors():
            settings = policy.settings(vendor)
            for other in self._policies.values():
                if vendor not in other.used_vendors():
                    continue
                theirs = other.settings(vendor)
                for name in ("breaker", "rate_limit"):
                    if getattr(theirs, name) != getattr(settings, name):
                        raise PolicyError(
                            f"policies.{policy.name}.vendors.{vendor}.{name}",
                            f"differs from policy {other.name!r}; a vendor has one per engine",
                        )

    def policy(self, name: str | None = None) -> Policy:
        name = name or self._default_policy
        try:
            return self._policies[name]
        except KeyError:
            raise PolicyError(f"policies.{name}", "no such policy") from None

    @property
    def host(self) -> PluginHost:
        return self._host

    @property
    def vendor_configs(self) -> Mapping[str, VendorConfig]:
        return self._config.vendors

    # resilience state ----------------------------------------------------------------------

    def breaker(self, vendor: str) -> CircuitBreaker:
        if vendor not in self._breakers:
            settings = self._vendor_setting(vendor, "breaker")
            self._breakers[vendor] = CircuitBreaker.from_settings(
                vendor, settings, clock=self._clock, store=self._store, listeners=self._listeners
            )
        return self._breakers[vendor]

    def limiter(self, vendor: str) -> RateLimiter:
        if vendor not in self._limiters:
            settings = self._vendor_setting(vendor, "rate_limit")
            self._limiters[vendor] = RateLimiter(vendor, settings, self._clock)
        return self._limiters[vendor]

    def _budget(self, vendor: str) -> RetryBudget:
        if vendor not in self._budgets:
            # Retries add at most 20 % load in an outage, plus 10/s so a quiet service retries.
            self._budgets[vendor] = RetryBudget(ratio=0.2, min_per_second=10, clock=self._clock)
        return self._budgets[vendor]

    def _vendor_setting(self, vendor: str, name: str) -> Any:
        """A per-vendor setting (``add_policy`` made sure every policy agrees on it)."""
        for policy in self._policies.values():
            if vendor in policy.used_vendors():
                return getattr(policy.settings(vendor), name)
        return getattr(VendorSettings(), name)

    def on_breaker_transition(self, listener: TransitionListener) -> None:
        """Call ``listener(vendor, old, new, at)`` on every breaker transition."""
        self._listeners.append(listener)
        for breaker in self._breakers.values():
            breaker.add_listener(listener)

    def _lockout(self, settings: LockoutSettings) -> SubjectLockout:
        if settings not in self._lockouts:
            self._lockouts[settings] = SubjectLockout(
                settings, self._clock, self._store, self._record_key
            )
        return self._lockouts[settings]

    # experiments ------------------------------------------------------------------------

    def add_experiment(self, experiment: SplitExperiment | ShadowExperiment) -> None:
        """Validate and add a live experiment on one of the engine's policies."""
        used = self._lab.add(experiment, self._policies, self._host.vendors, self._config.vendors)
        for policy in used:
            self._check_vendor_settings(policy)

    def _start_shadows(
        self, base: Policy, evidence: Evidence, subject: str | None, request_id: str
    ) -> list[PendingShadow]:
        started = []
        for experiment, policy in self._lab.shadows(base):
            plan = self._shadow_plan(experiment, policy, evidence, subject, request_id)
            if isinstance(plan, str):
                started.append(PendingShadow.skipped(experiment, plan))
                continue
            run = self._run(plan, evidence, request_id, role="shadow")
            started.append(PendingShadow.start(experiment, run, self._clock))
        return started

    def _shadow_plan(
        self,
        experiment: ShadowExperiment,
        policy: Policy,
        evidence: Evidence,
        subject: str | None,
        request_id: str,
    ) -> Policy | str:
        """The candidate's policy narrowed to what it can serve, or why it is not asked."""
        if Consent.SHADOW_EVALUATION not in evidence.consents:
            return "no_consent"
        if not experiment.sampled(self._experiment_key, subject, request_id):
            return "not_sampled"
        servable = self._servable(policy, evidence)
        if not servable:
            return "nothing_to_ask"
        if not self.limiter(experiment.vendor).has_capacity():
            return "no_capacity"
        return policy.only(servable, None)

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
        base = policy if isinstance(policy, Policy) else self.policy(policy)
        request_id = request_id or uuid.uuid4().hex
        subject = evidence.subject_id or evidence.id_number
        assignment = self._lab.assign(base, subject, request_id) if vendor is None else None
        chosen = self._narrow(assignment.policy if assignment else base, evidence, checks, vendor)
        started, started_mono = self._clock.time(), self._clock.monotonic()
        lockout = None if chosen.lockout is None else self._lockout(chosen.lockout)
        lock = lockout.lock(subject) if lockout and subject is not None else None
        shadows: list[PendingShadow] = []
        if lock is not None:
            assert lockout is not None
            decision = self._locked(chosen, evidence, request_id, started, lock, lockout)
        else:
            run = self._run(chosen, evidence, request_id)
            # Before any shadow starts: evidence no vendor can take is refused with nothing sent.
            await run.plan()
            if vendor is None:
                shadows = self._start_shadows(base, evidence, subject, request_id)
            try:
                await run.run()
                duration = self._clock.monotonic() - started_mono
                decision = self._decide(chosen, evidence, run, started, duration)
                on_done = functools.partial(self._lab.shadow_done, request_id, decision.record)
                shadowed = await settle(shadows, self._clock, on_done=on_done, keep=self._lab.keep)
            except BaseException:
                cancel_all(shadows, self._lab.keep)
                raise
            decision = _with_experiments(decision, assignment, shadowed)
            if lockout is not None and subject is not None:
                self._count(lockout, subject, decision)
        self._lab.record_live(decision.record, assignment, shadows)
        self._notify("on_decision", decision.record)
        return decision

    def _narrow(
        self,
        policy: Policy,
        evidence: Evidence,
        checks: Iterable[Check] | None,
        vendor: str | None,
    ) -> Policy:
        if checks is None and policy.checks_from_evidence:
            checks = self._servable(policy, evidence) or None
        if checks is not None or vendor is not None:
            return policy.only(checks, vendor).validate(self._host.vendors)
        return policy

    def _run(
        self, policy: Policy, evidence: Evidence, request_id: str, role: str = "primary"
    ) -> DecisionRun:
        return DecisionRun(
            client=self._client,
            policy=policy,
            evidence=evidence,
            request_id=request_id,
            clock=self._clock,
            resilience=Resilience(self.breaker, self.limiter, self._budget),
            rng=self._rng,
            on_attempt=self._notify_attempt,
            role=role,
        )

    def _servable(self, policy: Policy, evidence: Evidence) -> list[Check]:
        """The policy's checks that some configured vendor can serve from ``evidence``."""
        specs = self._host.vendors
        cannot = ineligible(policy, specs, self._config.vendors, evidence)
        return [
            check
            for check, rule in policy.checks.items()
            if any((vendor, check) not in cannot for vendor in rule.vendors)
        ]

    def verify_sync(self, evidence: Evidence, **kwargs: Any) -> Decision:
        """``verify`` for sync callers: runs on a private event loop thread."""
        if self._portal is None:
            self._portal = _LoopThread()
        return self._portal.run(self.verify(evidence, **kwargs))

    @staticmethod
    def _count(lockout: SubjectLockout, subject: str, decision: Decision) -> None:
        if decision.outcome is Outcome.REJECT:
            lockout.record_failure(subject)
        elif decision.outcome is Outcome.RETRY_CAPTURE:
            lockout.record_capture_failure(subject)
        elif decision.outcome is Outcome.ACCEPT:
            lockout.record_success(subject)

    # records ------------------------------------------------------------------------------

    def _decide(
        self, policy: Policy, evidence: Evidence, run: DecisionRun, started: float, duration: float
    ) -> Decision:
        conclusion = run.conclude()
        record = decision_record(
            request_id=run.request_id,
            started_at=started,
            duration=duration,
            policy=policy,
            subject=self._subject(evidence),
            evidence=evidence,
            conclusion=conclusion,
            attempts=run.attempts,
            skipped=run.skipped,
        )
        return Decision(conclusion.outcome, conclusion.reasons, conclusion.hint, record)

    def _locked(
        self,
        policy: Policy,
        evidence: Evidence,
        request_id: str,
        started: float,
        lock: Lock,
        lockout: SubjectLockout,
    ) -> Decision:
        record = locked_record(
            request_id=request_id,
            started_at=started,
            policy=policy,
            subject=self._subject(evidence),
            evidence=evidence,
            lock=lock,
            settings=lockout.settings,
        )
        return Decision(Outcome.REJECT, record.reasons, None, record)

    def _subject(self, evidence: Evidence) -> str | None:
        subject = evidence.subject_id or evidence.id_number
        return None if subject is None else keyed_hash(self._record_key, subject)

    def _notify_attempt(self, record: AttemptRecord) -> None:
        self._notify("on_attempt", record)

    def _notify(self, hook: str, record: Any) -> None:
        """Hand a record to the observers, off the event loop and off the decision's time:
        one thread runs them in order, so a slow observer delays only later observations
        (``drain`` waits for them)."""
        self._observing.post(_OBSERVERS, self._observe, hook, record)

    def _observe(self, hook: str, record: Any) -> None:
        """Dispatch an observer hook through pluggy, one plugin at a time: wrappers run, and
        one failing observer can neither silence the others nor break the decision. The
        engine's own record sinks come last."""
        for plugin, caller in self._host.observers(hook):
            try:
                caller(record=record)
            except Exception as exc:
                # The type only: an observer's message may quote what it was looking at.
                log.warning("observer %s.%s raised %s; ignored", plugin, hook, type(exc).__name__)
        if hook != "on_decision":
            return
        for sink in self._sinks:
            try:
                sink.on_decision(record)
            except OSError as exc:
                log.warning("decision record sink %s failed (%s); ignored", sink.path, exc)

    # lifecycle ----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for background work: shadow runs left running (each within its own timeout),
        result-store writes, and the observers and record sinks (for at most
        ``OBSERVER_DRAIN`` seconds: an observer stuck for ever is given up on, with a
        warning). ``aclose`` / ``close`` do it too."""
        await self._lab.drain()
        try:
            async with asyncio.timeout(OBSERVER_DRAIN):
                await self._observing.run(_OBSERVERS, _nothing)
        except TimeoutError:
            log.warning("observers still busy after %g s; not waiting for them", OBSERVER_DRAIN)

    async def aclose(self) -> None:
        await self.drain()
        await self._http.aclose()
        self._client.close()
        self._observing.close()
        self._lab.close()

    def close(self) -> None:
        if self._portal is not None:
            self._portal.run(self.drain())
            self._portal.run(self._http.aclose())
            self._portal.stop()
            self._portal = None
        else:
            self._http.close()
        self._client.close()
        self._observing.close()
        self._lab.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nothing() -> None:
    """A job that marks a place in the observers' queue: once it ran, all before it had."""


def _require_loopback(config: Config) -> None:
    """TLS checks may be off only where nothing leaves the machine (the local simulators)."""
    for name, vendor in config.vendors.items():
        host = urlsplit(vendor.base_url).hostname or ""
        if not is_loopback_host(host):
            raise UnsafeURLError(
                f"vendors.{name}.base_url",
                host,
                rule=f"the HTTP client given does not verify TLS certificates, which is "
                f"accepted only when every vendor is on a loopback host, not {host!r}",
            )


def _with_experiments(
    decision: Decision, assignment: Assignment | None, shadowed: tuple[ShadowRecord, ...]
) -> Decision:
    if assignment is None and not shadowed:
        return decision
    record = attrs.evolve(
        decision.record,
        experiment=assignment.as_record() if assignment else None,
        shadow=shadowed,
    )
    return attrs.evolve(decision, record=record)
