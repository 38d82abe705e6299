"""Fixtures for the tencent_legacy plugin tests: a host with the plugin, config, a pinned clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import kycmux_tencent_legacy as plugin
from kycmux import AttemptContext, PluginHost, VendorConfig, VendorHooks, VendorSpec

APPID = "1250000000"
FIXED_NOW = 1_700_000_000.0
FIXED_NONCE = 1_234_567_890
CREDENTIALS_ENV = {"TL_SECRET_ID": "AKIDkycmuxEXAMPLE", "TL_SECRET_KEY": "kycmux-example-key"}
VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost()
    assert host.register(plugin, "tencent_legacy")
    return host


@pytest.fixture
def spec(host: PluginHost) -> VendorSpec:
    return host.vendor("tencent_legacy")


@pytest.fixture
def hooks(host: PluginHost) -> VendorHooks:
    return host.hooks_for("tencent_legacy")


ConfigFactory = Callable[..., VendorConfig]


@pytest.fixture
def make_config(spec: VendorSpec) -> ConfigFactory:
    """A config resolved as the config file would be: secrets as ${ENV} references."""

    def make(**table: object) -> VendorConfig:
        base: dict[str, object] = {
            "appid": APPID,
            "secret_id": "${TL_SECRET_ID}",
            "secret_key": "${TL_SECRET_KEY}",
        }
        return VendorConfig.from_table(spec, {**base, **table}, env=CREDENTIALS_ENV)

    return make


@pytest.fixture
def config(make_config: ConfigFactory) -> VendorConfig:
    return make_config()


@pytest.fixture
def context() -> AttemptContext:
    return AttemptContext("req-0001", now=lambda: FIXED_NOW, randbelow=lambda _n: FIXED_NONCE)
