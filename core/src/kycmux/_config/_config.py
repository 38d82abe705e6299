"""Configuration: a TOML file with a ``[vendors.<name>]`` table per vendor.

Secret values are written as ``${ENV_VAR}`` references and resolved at load, so the file can be
committed; they are held as ``Secret`` and never printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from kycmux._contract._vendor import ConfigField, VendorSpec
from kycmux._model._secret import Secret, reveal
from kycmux._transport._http import DEFAULT_MAX_RESPONSE_BYTES
from kycmux.exceptions import ConfigError, MissingSecretError, UnsafeURLError

__all__ = ["Config", "VendorConfig", "check_base_url", "is_loopback_host"]

_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TOP_LEVEL = frozenset({"vendors", "policies", "engine", "experiments"})
# Keys of every ``[vendors.<name>]`` table that core reads, besides the vendor's own fields.
_CORE_KEYS = frozenset({"base_url", "max_response_bytes"})


def is_loopback_host(host: str) -> bool:
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


def _strip_slash(url: Any) -> Any:
    # Plugins append paths ("/face/livedetectfour"); "https://host/" would give "//face/...".
    return url.rstrip("/") if isinstance(url, str) else url


@attrs.frozen(repr=False)
class VendorConfig:
    """One vendor's resolved configuration. Secret values stay wrapped in ``Secret``.

    Attributes:
        vendor: The vendor name.
        base_url: Where requests go (``https://``, or ``http://`` to a loopback simulator).
        values: Every configured or defaulted key except the core ones (``base_url``,
            ``max_response_bytes``).
        max_response_bytes: The most of a response body that is read; a longer answer is cut
            off and counts as malformed (default: what the vendor spec declares, 1 MiB).
    """

    vendor: str
    base_url: str = attrs.field(converter=_strip_slash)
    values: Mapping[str, Any] = attrs.field(factory=dict)
    max_response_bytes: int = attrs.field(default=DEFAULT_MAX_RESPONSE_BYTES, kw_only=True)
    # Keys given as ``${VAR}``, by variable: the repr shows the reference, never the value
    # (someone may point any key at a variable that holds a secret).
    references: Mapping[str, str] = attrs.field(factory=dict, kw_only=True, eq=False)

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
        return f"VendorConfig({self.vendor}, base_url={self.base_url!r}, values={shown})"

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
        cls, spec: VendorSpec, table: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> VendorConfig:
        """Validate a ``[vendors.<name>]`` table against the vendor's declared fields."""
        env = os.environ if env is None else env
        prefix = f"vendors.{spec.name}"
        fields = spec.config_field_map
        for key in table:
            if key not in _CORE_KEYS and key not in fields:
                valid = ", ".join(sorted({*_CORE_KEYS, *fields}))
                raise ConfigError(
                    f"{prefix}.{key}", f"unknown key for this vendor (valid: {valid})"
                )
        values = {
            name: _field_value(f"{prefix}.{name}", field, table, env)
            for name, field in fields.items()
        }
        base_url = table.get("base_url", spec.default_base_url)
        if not isinstance(base_url, str):
            raise ConfigError(f"{prefix}.base_url", "must be a string")
        return cls(
            spec.name,
            base_url,
            {k: v for k, v in values.items() if v is not None},
            max_response_bytes=table.get("max_response_bytes", spec.max_response_bytes),
            references={
                k: ref.group(1)
                for k, v in table.items()
                if isinstance(v, str) and (ref := _REF.match(v)) is not None
            },
        )


def _field_value(
    key: str, field: ConfigField, table: Mapping[str, Any], env: Mapping[str, str]
) -> Any:
    if field.name not in table:
        if field.required:
            raise ConfigError(key, "is required")
        return field.default
    raw = table[field.name]
    ref = _REF.match(raw) if isinstance(raw, str) else None
    if field.secret and ref is None:
        raise ConfigError(key, "is secret: write it as a ${ENV_VAR} reference, not a literal")
    if ref is not None:
        text = _resolve(key, ref.group(1), env, secret=field.secret)
        raw = _coerce(key, field.type, text)
    elif not isinstance(raw, field.type) or (field.type is not bool and isinstance(raw, bool)):
        if field.type is float and isinstance(raw, int) and not isinstance(raw, bool):
            raw = float(raw)
        else:
            raise ConfigError(key, f"must be of type {field.type.__name__}")
    return Secret(str(raw)) if field.secret else raw


def _resolve(key: str, variable: str, env: Mapping[str, str], *, secret: bool) -> str:
    """The value of ``${variable}``; a secret must not be empty (an unset key is no key)."""
    if variable not in env:
        raise MissingSecretError(key, variable)
    value = env[variable]
    if secret and not value:
        raise ConfigError(key, f"environment variable {variable} is empty")
    return value


def _coerce(key: str, kind: type, text: str) -> Any:
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(key, "must be true or false")
    try:
        return kind(text)
    except ValueError:
        pass
    # Raised outside the handler: the ValueError quotes the text, which may be a secret, and
    # would stay reachable as ``__context__`` even with ``from None``.
    raise ConfigError(key, f"must be of type {kind.__name__}")


@attrs.frozen(repr=False)
class Config:
    """A whole configuration file, validated against the loaded vendors.

    Attributes:
        vendors: Resolved per-vendor configuration, by vendor name.
        policies: The raw ``[policies.<name>]`` tables (the engine reads them).
        engine: The raw ``[engine]`` table.
        experiments: The raw ``[experiments.<name>]`` tables.
        source: The file it came from, if any.
    """

    vendors: Mapping[str, VendorConfig] = attrs.field(factory=dict)
    policies: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    engine: Mapping[str, Any] = attrs.field(factory=dict)
    experiments: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    source: Path | None = None

    def __repr__(self) -> str:
        return f"Config(vendors={sorted(self.vendors)}, policies={sorted(self.policies)})"

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
        for key in data:
            if key not in _TOP_LEVEL:
                raise ConfigError(key, f"unknown top-level table (expected {sorted(_TOP_LEVEL)})")
        vendors = {}
        for name, table in _tables(data, "vendors").items():
            if name not in specs:
                raise ConfigError(f"vendors.{name}", "no loaded plugin provides this vendor")
            vendors[name] = VendorConfig.from_table(specs[name], table, env)
        return cls(
            vendors=vendors,
            policies=_tables(data, "policies"),
            engine=_engine_table(_table(data, "engine"), os.environ if env is None else env),
            experiments=_tables(data, "experiments"),
        )


def _engine_table(table: Mapping[str, Any], env: Mapping[str, str]) -> Mapping[str, Any]:
    """The ``[engine]`` table with its one secret, ``record_key``, resolved as a ``Secret``.

    The key keeps subject hashes and experiment assignments unguessable, so like every secret
    it must come from the environment, never from the (committed) file.
    """
    if "record_key" not in table:
        return table
    raw = table["record_key"]
    ref = _REF.match(raw) if isinstance(raw, str) else None
    if ref is None:
        raise ConfigError(
            "engine.record_key", "is secret: write it as a ${ENV_VAR} reference, not a literal"
        )
    value = _resolve("engine.record_key", ref.group(1), env, secret=True)
    return {**table, "record_key": Secret(value)}


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(key, "must be a table")
    return value


def _tables(data: Mapping[str, Any], key: str) -> dict[str, Mapping[str, Any]]:
    outer = _table(data, key)
    for name, value in outer.items():
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}.{name}", "must be a table")
    return dict(outer)
