"""The vendor's settings are read once per configuration, not on every hook of every attempt."""

from __future__ import annotations

import pytest

from kycmux import Secret, VendorConfig
from kycmux.exceptions import ConfigError
from kycmux_linkface import _settings
from kycmux_linkface._settings import CredentialsIn, Settings


def _config(**values: object) -> VendorConfig:
    given = {"api_id": Secret("id"), "api_secret": Secret("secret"), **values}
    return VendorConfig("linkface", "https://api.example.com", given)


def test_settings_are_read_once_per_config(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[VendorConfig] = []
    real = Settings._read

    def counting(config: VendorConfig) -> Settings:
        reads.append(config)
        return real(config)

    monkeypatch.setattr(Settings, "_read", counting)
    config = _config(credentials_in="query")
    first = Settings.from_config(config)
    assert Settings.from_config(config) is first
    assert first.credentials_in is CredentialsIn.QUERY
    other = _config()  # an equal-looking but different config is read for itself
    assert Settings.from_config(other).credentials_in is CredentialsIn.FORM
    assert reads == [config, other]


def test_a_bad_value_is_refused_every_time() -> None:
    config = _config(liveness_threshold=2.0)
    for _ in range(2):
        with pytest.raises(ConfigError, match="liveness_threshold"):
            Settings.from_config(config)
    assert id(config) not in _settings._READ
