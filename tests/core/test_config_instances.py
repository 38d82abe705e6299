"""Vendor instances in the configuration: ``[vendors.<instance>] plugin = "<vendor>"``."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux import Config, PluginHost, Secret, VendorConfig, VendorSpec
from kycmux.exceptions import ConfigError
from kycmux.testing import FakeVendor

CANARY = "canary-5d1e0b-secret-value"


@pytest.fixture(scope="module")
def specs() -> dict[str, VendorSpec]:
    host = PluginHost()
    host.register(FakeVendor("alpha"), "a")
    host.register(FakeVendor("beta"), "b")
    return dict(host.vendors)


def load(specs: dict[str, VendorSpec], vendors: dict[str, Any], **env: str) -> Config:
    return Config.from_mapping({"vendors": vendors}, specs, env=env)


def test_an_instance_has_its_own_fields_and_its_plugins_spec(specs: dict[str, VendorSpec]) -> None:
    config = load(
        specs,
        {
            "alpha": {"token": "${A}"},
            "alpha_eu": {
                "plugin": "alpha",
                "token": "${A_EU}",
                "region": "eu",
                "base_url": "https://eu.example.com/",
                "max_response_bytes": 4096,
                "resilience": {"breaker": {"min_calls": 3}},
            },
        },
        A="one",
        A_EU=CANARY,
    )
    own, eu = config.vendors["alpha"], config.vendors["alpha_eu"]
    assert (own.vendor, own.plugin, own.is_instance) == ("alpha", "alpha", False)
    assert (eu.vendor, eu.plugin, eu.is_instance) == ("alpha_eu", "alpha", True)
    assert eu.reveal("token") == CANARY
    assert isinstance(eu["token"], Secret)
    assert (eu["region"], eu.base_url, eu.max_response_bytes) == (
        "eu",
        "https://eu.example.com",
        4096,
    )
    assert eu.resilience.breaker.min_calls == 3
    assert eu.resilience_given == {"breaker"}
    assert own.resilience.breaker.min_calls != 3
    assert "plugin" not in eu.values
    assert "plugin=alpha" in repr(eu)
    assert CANARY not in repr(eu)
    # Policies name instances: each is its plugin's spec under its own name.
    catalog = config.specs(specs)
    assert catalog["alpha_eu"].name == "alpha_eu"
    assert catalog["alpha_eu"].offers == specs["alpha"].offers
    assert catalog["alpha"] is specs["alpha"]
    assert catalog["beta"] is specs["beta"]


def test_plugin_naming_the_table_itself_is_the_vendor(specs: dict[str, VendorSpec]) -> None:
    config = load(specs, {"alpha": {"plugin": "alpha", "token": "${A}"}}, A="x")
    assert config.vendors["alpha"] == VendorConfig(
        "alpha", "https://api.example.com", {"token": Secret("x"), "region": "cn", "retries": 1}
    )
    assert not config.vendors["alpha"].is_instance


def test_without_plugin_nothing_changes(specs: dict[str, VendorSpec]) -> None:
    config = load(specs, {"beta": {"token": "${B}"}}, B="x")
    assert config.vendors["beta"].plugin == "beta"
    assert dict(config.specs(specs)) == specs


@pytest.mark.parametrize(
    ("vendors", "key", "rule"),
    [
        (
            {"alpha_eu": {"plugin": "gamma", "token": "${T}"}},
            "vendors.alpha_eu.plugin",
            "no loaded plugin provides vendor 'gamma' (loaded: alpha, beta)",
        ),
        (
            {"beta": {"plugin": "alpha", "token": "${T}"}},
            "vendors.beta.plugin",
            "'beta' is an installed vendor's name",
        ),
        ({"alpha_eu": {"plugin": 3, "token": "${T}"}}, "vendors.alpha_eu.plugin", "type str"),
        (
            {"Alpha-EU": {"plugin": "alpha", "token": "${T}"}},
            "vendors.Alpha-EU",
            "an instance name must match",
        ),
        ({"alpha_eu": {"plugin": "alpha"}}, "vendors.alpha_eu.token", "is required"),
        (
            {"alpha_eu": {"plugin": "alpha", "token": "${T}", "colour": "red"}},
            "vendors.alpha_eu.colour",
            "unknown key",
        ),
        (
            {"alpha_eu": {"plugin": "alpha", "token": "${T}", "base_url": "ftp://a.example"}},
            "vendors.alpha_eu.base_url",
            "absolute http(s) URL",
        ),
        (
            {"alpha_eu": {"plugin": "alpha", "token": "${T}", "max_response_bytes": 0}},
            "vendors.alpha_eu.max_response_bytes",
            "positive integer",
        ),
        (
            {
                "alpha_eu": {
                    "plugin": "alpha",
                    "token": "${T}",
                    "resilience": {"breaker": {"failure_ratio": 2.0}},
                }
            },
            "vendors.alpha_eu.resilience.breaker.failure_ratio",
            "",
        ),
        (
            {"alpha_eu": {"token": "${T}"}},
            "vendors.alpha_eu",
            'plugin = "<vendor>"',
        ),
    ],
)
def test_bad_instances_are_refused_naming_the_key(
    specs: dict[str, VendorSpec], vendors: dict[str, Any], key: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(specs, vendors, T="x")
    assert caught.value.key == key
    assert rule in caught.value.rule


def test_a_vendors_own_table_cannot_be_loaded_as_another_vendor(
    specs: dict[str, VendorSpec],
) -> None:
    with pytest.raises(ConfigError) as caught:
        VendorConfig.from_table(specs["alpha"], {"plugin": "beta", "token": "${T}"}, {"T": "x"})
    assert caught.value.key == "vendors.alpha.plugin"


_NAMES = st.text(string.ascii_lowercase + string.digits + "_-.A", min_size=1, max_size=12)


@given(name=_NAMES, plugin=st.sampled_from(["alpha", "beta", "gamma", "alpha_eu"]))
def test_any_instance_table_is_taken_or_refused_with_a_config_error(
    specs: dict[str, VendorSpec], name: str, plugin: str
) -> None:
    """Whatever the names, an instance is accepted as its plugin's, or refused naming its
    table; it never lands under another name or plugin."""
    try:
        config = load(specs, {name: {"plugin": plugin, "token": "${T}"}}, T="x")
    except ConfigError as exc:
        refused: ConfigError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.key.startswith(f"vendors.{name}")
        return
    found = config.vendors[name]
    assert (found.vendor, found.plugin) == (name, plugin)
    assert plugin in specs
    assert name == plugin or name not in specs
    assert config.specs(specs)[name].name == name
