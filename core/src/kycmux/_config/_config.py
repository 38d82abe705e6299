"""Configuration: a TOML file with a ``[vendors.<name>]`` table per vendor.

Secret values are written as ``${ENV_VAR}`` references and resolved at load, so the file can be
committed; they are held as ``Secret`` and never printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from kycmux._config._schema import Reference, choices, resolve, structure
from kycmux._config._tables import experiment_from_table, policy_from_table
from kycmux._contract._vendor import ConfigField, VendorSpec
from kycmux._decision._policy import Policy
from kycmux._experiments._experiment import ShadowExperiment, SplitExperiment
from kycmux._model._rules import POSITIVE_SECONDS
from kycmux._model._secret import Secret, reveal
from kycmux._postgres._target import target_repr
from kycmux._resilience import BreakerSettings, RateLimitSettings, RetryBudgetSettings
from kycmux._transport._http import DEFAULT_MAX_RESPONSE_BYTES, AsyncBackend
from kycmux.exceptions import ConfigError, UnsafeURLError

__all__ = [
    "Config",
    "EngineSettings",
    "VendorConfig",
    "VendorResilience",
    "check_base_url",
    "instance_specs",
    "is_loopback_host",
]


@attrs.frozen
class VendorResilience:
    """What protects one vendor, shared by every policy and decision of an engine.

    Attributes:
        breaker: Its circuit breaker.
        rate_limit: Its client-side rate limit and in-flight bound.
        retry_budget: How much retrying may add to its load.
    """

    breaker: BreakerSettings = attrs.field(factory=BreakerSettings)
    rate_limit: RateLimitSettings = attrs.field(factory=RateLimitSettings)
    retry_budget: RetryBudgetSettings = attrs.field(factory=RetryBudgetSettings)


# Keys of every ``[vendors.<name>]`` table that core reads, besides the vendor's own fields.
_CORE_KEYS = frozenset({"base_url", "max_response_bytes", "plugin", "resilience"})
# What an instance's name must be: a vendor name's rule (it keys records, breakers, reasons).
_INSTANCE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def is_loopback_host(host: str) -> bool:
    """``host`` is ``localhost`` or a loopback IP address (where plain ``http://`` is allowed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, field: str = "base_url") -> str:
    """Accept ``https://`` anywhere and ``http://`` only for loopback hosts."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(field, f"must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise UnsafeURLError(field, host)
    return url.rstrip("/")


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


def _strip_slash(url: Any) -> Any:
    # Plugins append paths ("/face/livedetectfour"); "https://host/" would give "//face/...".
    return url.rstrip("/") if isinstance(url, str) else url


@attrs.frozen(repr=False)
class VendorConfig:
    """One vendor instance's resolved configuration. Secret values stay wrapped in ``Secret``.

    An *instance* is one ``[vendors.<name>]`` table: usually the vendor itself, or another
    account or region of a vendor (``plugin = "<vendor>"``), with its own credentials,
    base URL, limits, breaker and records.

    Attributes:
        vendor: The instance name (the table's name): what policies list, and what keys its
            breaker, limits, records and reasons. The vendor's own name unless ``plugin``
            names another.
        plugin: The name of the vendor (the plugin's ``VendorSpec``) that serves it; its
            hooks answer every call of the instance. Default: ``vendor``.
        base_url: Where requests go (``https://``, or ``http://`` to a loopback simulator).
        values: Every configured or defaulted key except the core ones (``base_url``,
            ``max_response_bytes``).
        max_response_bytes: The most of a response body that is read; a longer answer is cut
            off and counts as malformed (default: what the vendor spec declares, 1 MiB).
        resilience: The vendor's breaker, rate limit and retry budget: one of each per
            engine, whatever the policy (``[vendors.<name>.resilience]``).
        resilience_given: Which of those the configuration sets (even to the default
            values), so a policy's old-style setting that contradicts one is refused; by
            default, the ones that differ from the defaults.
    """

    vendor: str
    base_url: str = attrs.field(converter=_strip_slash)
    values: Mapping[str, Any] = attrs.field(factory=dict)
    plugin: str = attrs.field(kw_only=True)
    max_response_bytes: int = attrs.field(default=DEFAULT_MAX_RESPONSE_BYTES, kw_only=True)
    resilience: VendorResilience = attrs.field(factory=lambda: VendorResilience(), kw_only=True)
    resilience_given: frozenset[str] = attrs.field(kw_only=True, eq=False, converter=_names)
    # Keys given as ``${VAR}``, by variable: the repr shows the reference, never the value
    # (someone may point any key at a variable that holds a secret).
    references: Mapping[str, str] = attrs.field(factory=dict, kw_only=True, eq=False)

    @plugin.default
    def _own_vendor(self) -> str:
        return self.vendor

    @resilience_given.default
    def _changed(self) -> frozenset[str]:
        default = VendorResilience()
        return frozenset(
            f.name
            for f in attrs.fields(VendorResilience)
            if getattr(self.resilience, f.name) != getattr(default, f.name)
        )

    @max_response_bytes.validator
    def _limit(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"vendors.{self.vendor}.max_response_bytes", "must be a positive integer"
            )

    @base_url.validator
    def _url(self, _attribute: attrs.Attribute[str], value: str) -> None:
        check_base_url(value, field=f"vendors.{self.vendor}.base_url")

    def __repr__(self) -> str:
        shown = {k: self._shown(k, v) for k, v in self.values.items()}
        of = "" if self.plugin == self.vendor else f", plugin={self.plugin}"
        return f"VendorConfig({self.vendor}{of}, base_url={self.base_url!r}, values={shown})"

    @property
    def is_instance(self) -> bool:
        """Configured under a name of its own (``plugin`` names another vendor)."""
        return self.plugin != self.vendor

    def _shown(self, key: str, value: Any) -> Any:
        if key in self.references:
            return f"${{{self.references[key]}}}"
        return "***" if isinstance(value, Secret) else value

    def secrets(self) -> tuple[str, ...]:
        """The plain values of every secret key and every ``${VAR}`` reference, longest first
        (for scrubbing them out of what the vendor sends back)."""
        found = {
            str(reveal(v))
            for k, v in self.values.items()
            if isinstance(v, Secret) or k in self.references
        }
        return tuple(sorted((v for v in found if v), key=len, reverse=True))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def reveal(self, key: str) -> str:
        """The plain value of a (secret) key, for the signing code that needs it."""
        return str(reveal(self.values[key]))

    @classmethod
    def from_table(
        cls,
        spec: VendorSpec,
        table: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        *,
        name: str | None = None,
    ) -> VendorConfig:
        """Validate a ``[vendors.<name>]`` table against the vendor's declared fields.

        ``name`` is the instance's name (default: the vendor's own); the table's ``plugin``
        key, if any, must be ``spec``'s name. ``env`` resolves ``${VAR}`` references
        (default: the process environment); a table from ``Config.from_mapping`` has them
        resolved already.
        """
        name = spec.name if name is None else name
        prefix = f"vendors.{name}"
        table = resolve(table, os.environ if env is None else env, prefix)
        if "plugin" in table and structure(table["plugin"], str, f"{prefix}.plugin") != spec.name:
            raise ConfigError(f"{prefix}.plugin", f"must be {spec.name!r} for this vendor's table")
        fields = spec.config_field_map
        for key in table:
            if key not in _CORE_KEYS and key not in fields:
                valid = choices(key, {*_CORE_KEYS, *fields})
                raise ConfigError(f"{prefix}.{key}", f"unknown key for this vendor{valid}")
        values = {
            name: _field_value(f"{prefix}.{name}", field, table) for name, field in fields.items()
        }
        return cls(
            name,
            structure(table.get("base_url", spec.default_base_url), str, f"{prefix}.base_url"),
            {k: v for k, v in values.items() if v is not None},
            max_response_bytes=structure(
                table.get("max_response_bytes", spec.max_response_bytes),
                int,
                f"{prefix}.max_response_bytes",
            ),
            resilience=structure(
                table.get("resilience", {}), VendorResilience, f"{prefix}.resilience"
            ),
            resilience_given=_keys(table.get("resilience")),
            references={k: v.variable for k, v in table.items() if isinstance(v, Reference)},
            plugin=spec.name,
        )


def instance_specs(
    installed: Mapping[str, VendorSpec], configs: Mapping[str, VendorConfig]
) -> Mapping[str, VendorSpec]:
    """``Config.specs`` for any mapping of vendor configurations."""
    found = dict(installed)
    for name, config in configs.items():
        if config.is_instance and config.plugin in installed:
            found[name] = attrs.evolve(installed[config.plugin], name=name)
    return found


def _plugin_of(name: str, table: Mapping[str, Any], specs: Mapping[str, VendorSpec]) -> VendorSpec:
    """The spec serving instance ``name`` (``plugin``, or the name itself), checked."""
    known = ", ".join(sorted(specs)) or "none"
    if "plugin" not in table:
        if name not in specs:
            raise ConfigError(
                f"vendors.{name}",
                f"no loaded plugin provides this vendor (loaded: {known}); another account or "
                'region of one is configured with plugin = "<vendor>"',
            )
        return specs[name]
    plugin = structure(table["plugin"], str, f"vendors.{name}.plugin")
    if plugin not in specs:
        raise ConfigError(
            f"vendors.{name}.plugin",
            f"no loaded plugin provides vendor {plugin!r} (loaded: {known})",
        )
    if name in specs and plugin != name:
        raise ConfigError(
            f"vendors.{name}.plugin",
            f"{name!r} is an installed vendor's name, so it cannot name an instance of {plugin!r}",
        )
    if not _INSTANCE_NAME.match(name):
        rule = f"an instance name must match {_INSTANCE_NAME.pattern}"
        raise ConfigError(f"vendors.{name}", rule)
    return specs[plugin]


def _keys(table: Any) -> frozenset[str]:
    return frozenset(table) if isinstance(table, Mapping) else frozenset()


def _field_value(key: str, field: ConfigField, table: Mapping[str, Any]) -> Any:
    if field.name not in table:
        if field.required:
            raise ConfigError(key, "is required")
        return field.default
    value = table[field.name]
    if field.secret:
        return structure(value, Secret, key)
    return structure(value, field.type, key)


def _state_url(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    rule = "must be a redis://host[:port][/db], rediss://... or unix:///path URL"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - read for its check: a port that is not a number raises
    except ValueError:
        raise ConfigError(attribute.name, rule) from None
    place = parts.path if parts.scheme == "unix" else parts.hostname
    if parts.scheme not in ("redis", "rediss", "unix") or not place:
        raise ConfigError(attribute.name, rule)


def _namespace(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        raise ConfigError(attribute.name, "must be a non-empty ASCII name without spaces")


@attrs.frozen
class EngineSettings:
    """The ``[engine]`` table.

    Attributes:
        policy: The default policy's name (default: the first policy).
        record_key: The key of the keyed hashes in records and of experiment assignment;
            secret, so only a ``${VAR}`` reference is accepted. Without it, hashes join
            records within one process only.
        records: Where decision records go: a JSON-lines file, or a ``postgresql://`` URL.
        results: Where experiment results go: a SQLite file, or a ``postgresql://`` URL.
        async_backend: ``aiohttp`` (default, the fast transport) or ``httpx``.
        state: The shared state store several replicas agree through:
            ``redis://host:port/db`` or ``rediss://`` (TLS), usually a ``${VAR}`` reference
            since the URL may hold a password; requires ``record_key``. Default: this
            process's own state.
        state_namespace: The prefix of every key in the shared store; two deployments on
            one server must use different ones.
        state_timeout: Seconds any one call to the shared store may take before this
            process's own state stands in (the lockout: see ``lockout.unavailable``).
        inline_hooks: Run the hooks of vendors whose plugin declares them light
            (``VendorSpec.light_hooks``) on the event loop, saving two thread hops per
            attempt; ``false`` keeps every vendor's hooks on its worker threads.
    """

    policy: str | None = None
    record_key: Secret | None = attrs.field(default=None, repr=False)
    records: str | None = attrs.field(default=None, repr=target_repr)
    results: str | None = attrs.field(default=None, repr=target_repr)
    async_backend: AsyncBackend = "aiohttp"
    state: str | None = attrs.field(default=None, repr=False, validator=_state_url)
    state_namespace: str = attrs.field(default="kycmux", validator=_namespace)
    state_timeout: float = attrs.field(default=0.5, converter=float, validator=POSITIVE_SECONDS)
    inline_hooks: bool = True


@attrs.frozen
class _Document:
    """The file's top-level tables."""

    vendors: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    policies: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    engine: EngineSettings = attrs.field(factory=EngineSettings)
    experiments: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen(repr=False)
class Config:
    """A whole configuration file, typed and validated against the loaded vendors.

    Attributes:
        vendors: Resolved per-vendor configuration, by vendor name.
        policies: The ``[policies.<name>]`` tables as ``Policy`` objects.
        engine: The ``[engine]`` settings.
        experiments: The ``[experiments.<name>]`` tables as experiment objects.
        source: The file it came from, if any.
    """

    vendors: Mapping[str, VendorConfig] = attrs.field(factory=dict)
    policies: Mapping[str, Policy] = attrs.field(factory=dict)
    engine: EngineSettings = attrs.field(factory=EngineSettings)
    experiments: Mapping[str, SplitExperiment | ShadowExperiment] = attrs.field(factory=dict)
    source: Path | None = None

    def __repr__(self) -> str:
        return f"Config(vendors={sorted(self.vendors)}, policies={sorted(self.policies)})"

    def specs(self, installed: Mapping[str, VendorSpec]) -> Mapping[str, VendorSpec]:
        """Every vendor a policy may name, by name: the ``installed`` vendors, and each
        configured instance as its plugin's spec under the instance's name (what core keys
        its state, records and reasons by; hooks still receive the plugin's own spec)."""
        return instance_specs(installed, self.vendors)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        specs: Mapping[str, VendorSpec],
        env: Mapping[str, str] | None = None,
    ) -> Config:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(str(path), "configuration file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        return attrs.evolve(cls.from_mapping(data, specs, env), source=path)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        specs: Mapping[str, VendorSpec],
        env: Mapping[str, str] | None = None,
    ) -> Config:
        """Resolve every ``${VAR}`` once, then structure each table into its typed object."""
        tables = {f.name for f in attrs.fields(_Document)}
        for key in data:
            if key not in tables:
                raise ConfigError(key, f"unknown top-level table{choices(key, tables)}")
        resolved = resolve(data, os.environ if env is None else env)
        document = structure(resolved, _Document, "")
        vendors = {
            name: VendorConfig.from_table(_plugin_of(name, table, specs), table, {}, name=name)
            for name, table in document.vendors.items()
        }
        return cls(
            vendors=vendors,
            policies={n: policy_from_table(n, t) for n, t in document.policies.items()},
            engine=document.engine,
            experiments={n: experiment_from_table(n, t) for n, t in document.experiments.items()},
        )
