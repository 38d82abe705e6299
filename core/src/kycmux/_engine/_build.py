"""Putting an engine together from a configuration: its clients, keys, policies, experiments,
result store and record sinks, each checked against the loaded vendors."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kycmux._config._config import Config, is_loopback_host
from kycmux._contract._host import PluginHost
from kycmux._decision._policy import Policy
from kycmux._engine._guards import VendorGuards
from kycmux._experiments._experiment import ShadowExperiment, SplitExperiment, experiment_key
from kycmux._model._secret import reveal
from kycmux._records._sink import open_record_sink
from kycmux._resilience import Clock, InMemoryStateStore, StateStore, SystemClock
from kycmux._state._contract import SharedState
from kycmux._state._fallback import Guarded
from kycmux._state._memory import MemoryState
from kycmux._transport._http import AsyncBackend, HttpClient
from kycmux.exceptions import ConfigError, UnsafeURLError
from kycmux.results import ResultStore, open_result_store

if TYPE_CHECKING:
    from kycmux._engine._engine import Engine

__all__ = ["assemble"]


def assemble(
    cls: type[Engine],
    config: Config,
    *,
    host: PluginHost | None,
    http: HttpClient | None,
    clock: Clock | None,
    store: StateStore | None,
    state: SharedState | None,
    record_key: bytes | None,
    policies: Iterable[Policy],
    experiments: Iterable[SplitExperiment | ShadowExperiment],
    results: ResultStore | None,
    async_backend: AsyncBackend | None,
) -> Engine:
    """The engine ``Engine.from_config`` describes."""
    host = PluginHost.from_entry_points() if host is None else host
    clock = SystemClock() if clock is None else clock
    if http is not None and not http.tls_verified:
        _require_loopback(config)
    store = InMemoryStateStore(clock) if store is None else store
    configured = _configured_key(config, record_key)
    guarded = _state(config, clock, store, state, configured)
    guards = VendorGuards.from_vendors(guarded, config.vendors)
    backend = async_backend or config.engine.async_backend
    engine = cls(
        host,
        config,
        HttpClient.create(async_backend=backend) if http is None else http,
        clock,
        guards,
        # Without a configured key, hashes join records within this process only; set
        # [engine] record_key to join them across processes and restarts.
        configured or secrets.token_bytes(32),
        experiment_key(configured),
    )
    for policy in (*config.policies.values(), *policies):
        engine.add_policy(policy)
    if not engine.policies:
        engine.add_policy(Policy.default(config.specs(host.vendors), config.vendors))
    engine.set_default_policy(config.engine.policy or next(iter(engine.policies)))
    for experiment in (*config.experiments.values(), *experiments):
        engine.add_experiment(experiment)
    opened: ResultStore | None = None
    if results is not None:
        engine.keep_results(results, owned=False)
    elif config.engine.results is not None:
        # A SQLite file, or a postgresql:// URL shared by every replica.
        opened = open_result_store(config.engine.results)
        engine.keep_results(opened, owned=True)
    if config.engine.records is not None:
        # The engine's own sink, not a plugin on the (possibly shared) host: another engine
        # on the same host must neither collide with it nor write into it.
        try:
            sink = open_record_sink(config.engine.records, key=configured)
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        engine.add_sink(sink, owned=True)
    return engine


def _state(
    config: Config,
    clock: Clock,
    store: StateStore,
    given: SharedState | None,
    record_key: bytes | None,
) -> Guarded:
    """This process's state, and the shared store in front of it if there is one."""
    settings = config.engine
    shared = given
    if shared is None and settings.state is not None:
        shared = _redis(settings.state, settings.state_namespace, clock, settings.state_timeout)
    if shared is not None and shared.shared and record_key is None:
        raise ConfigError(
            "engine.record_key",
            "is required with a shared state store: every replica must hash a subject the "
            "same way, or the lockout counts each replica's attempts apart",
        )
    return Guarded(MemoryState(clock, store), shared, clock, settings.state_timeout)


def _redis(url: str, namespace: str, clock: Clock, timeout: float) -> SharedState:
    try:
        from kycmux._state._redis import RedisState
    except ImportError:
        raise ConfigError(
            "engine.state", "needs the redis extra: pip install 'kycmux[redis]'"
        ) from None
    return RedisState.from_url(url, namespace=namespace, clock=clock, timeout=timeout)


def _configured_key(config: Config, given: bytes | None) -> bytes | None:
    if given is not None:
        return given
    key = config.engine.record_key
    return None if key is None else str(reveal(key)).encode()


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
