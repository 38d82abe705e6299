"""The vendor's configuration values, checked once and typed."""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs

from kycmux import Secret, VendorConfig
from kycmux.exceptions import ConfigError
from kycmux_linkface._spec import DEFAULT_LIVENESS_THRESHOLD, DEFAULT_MAX_SELFIE_BYTES, VENDOR

__all__ = ["CredentialsIn", "Settings", "credential"]

_PREFIX = f"vendors.{VENDOR}"


class CredentialsIn(enum.StrEnum):
    """Where ``api_id`` / ``api_secret`` travel.

    Attributes:
        FORM: As multipart form fields (the vendor's Python, Java and Ruby samples).
        QUERY: In the query string (the vendor's curl and HTTPie samples).
    """

    FORM = "form"
    QUERY = "query"


def _credentials_in(value: Any) -> CredentialsIn:
    if value in tuple(CredentialsIn):
        return CredentialsIn(value)
    # Not converted in a try block: the ValueError would quote the value (perhaps a secret
    # someone pointed this key at) and stay reachable as ``__context__``.
    raise ConfigError(f"{_PREFIX}.credentials_in", "must be 'form' or 'query'")


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{_PREFIX}.liveness_threshold", "must be a number")
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ConfigError(f"{_PREFIX}.liveness_threshold", "must be in (0, 1]")
    return float(value)


def _max_bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{_PREFIX}.max_selfie_bytes", "must be a positive integer")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{_PREFIX}.selfie_auto_rotate", "must be true or false")
    return value


def credential(config: VendorConfig, key: str) -> Secret:
    """``api_id`` or ``api_secret`` as a ``Secret``, whether or not config wrapped it."""
    if config.get(key) is None:
        raise ConfigError(f"{_PREFIX}.{key}", "is required")
    value = config.reveal(key)
    if not value:
        raise ConfigError(f"{_PREFIX}.{key}", "must not be empty")
    return Secret(value)


@attrs.frozen
class Settings:
    """Linkface's non-secret configuration, validated (credentials: ``credential()``).

    Attributes:
        credentials_in: Where the credentials travel.
        selfie_auto_rotate: Send ``selfie_auto_rotate=true``.
        liveness_threshold: ``hack_score`` strictly below it is live (see ``HACK_SCORE``).
        max_selfie_bytes: Largest selfie file accepted locally.
    """

    credentials_in: CredentialsIn = attrs.field(
        default=CredentialsIn.FORM, converter=_credentials_in
    )
    selfie_auto_rotate: bool = attrs.field(default=False, converter=_flag)
    liveness_threshold: float = attrs.field(
        default=DEFAULT_LIVENESS_THRESHOLD, converter=_threshold
    )
    max_selfie_bytes: int = attrs.field(default=DEFAULT_MAX_SELFIE_BYTES, converter=_max_bytes)

    @classmethod
    def from_config(cls, config: VendorConfig) -> Settings:
        """Read and check every value; a bad one raises ``ConfigError`` naming its key.

        Read once per (frozen) ``VendorConfig``: building, signing and parsing each need it,
        on every attempt.
        """
        known = _READ.get(id(config))
        if known is not None and known[0] is config:
            return known[1]
        settings = cls._read(config)
        if len(_READ) >= _READ_MAX:  # configs are few; this only bounds a pathological caller
            _READ.clear()
        _READ[id(config)] = (config, settings)  # the config is kept, so its id is not reused
        return settings

    @classmethod
    def _read(cls, config: VendorConfig) -> Settings:
        return cls(
            credentials_in=config.get("credentials_in", CredentialsIn.FORM),
            selfie_auto_rotate=config.get("selfie_auto_rotate", False),
            liveness_threshold=config.get("liveness_threshold", DEFAULT_LIVENESS_THRESHOLD),
            max_selfie_bytes=config.get("max_selfie_bytes", DEFAULT_MAX_SELFIE_BYTES),
        )


_READ: dict[int, tuple[VendorConfig, Settings]] = {}
_READ_MAX = 64
