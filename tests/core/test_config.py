"""Configuration loading: ${VAR} resolution, errors naming the key, secrets kept secret."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from kycmux import Config, PluginHost, Secret, VendorConfig, check_base_url
from kycmux.exceptions import ConfigError, MissingSecretError, UnsafeURLError
from kycmux.testing import FakeVendor

CANARY = "canary-7f3a9c-secret-value"


@pytest.fixture
def specs() -> dict:  # type: ignore[type-arg]
    host = PluginHost()
    host.register(FakeVendor("alpha"), "a")
    return dict(host.vendors)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kycmux.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_references_are_resolved_and_defaults_applied(tmp_path: Path, specs: dict) -> None:  # type: ignore[type-arg]
    path = write(tmp_path, '[vendors.alpha]\ntoken = "${ALPHA_TOKEN}"\nretries = 3\n')
    config = Config.from_file(path, specs, env={"ALPHA_TOKEN": CANARY})
    alpha = config.vendors["alpha"]
    assert alpha.reveal("token") == CANARY
    assert isinstance(alpha["token"], Secret)
    assert alpha["retries"] == 3
    assert alpha["region"] == "cn"
    assert alpha.base_url == "https://api.example.com"
    assert config.source == path


def test_non_secret_fields_may_reference_env_too(specs: dict) -> None:  # type: ignore[type-arg]
    config = Config.from_mapping(
        {"vendors": {"alpha": {"token": "${T}", "retries": "${N}"}}},
        specs,
        env={"T": "x", "N": "7"},
    )
    assert config.vendors["alpha"]["retries"] == 7


@pytest.mark.parametrize(
    ("table", "env", "key", "rule"),
    [
        ({"token": "${T}", "colour": "red"}, {"T": "x"}, "vendors.alpha.colour", "unknown key"),
        ({}, {}, "vendors.alpha.token", "is required"),
        ({"token": "literal"}, {}, "vendors.alpha.token", "${ENV_VAR} reference"),
        ({"token": "${T}", "retries": "three"}, {"T": "x"}, "vendors.alpha.retries", "type int"),
        (
            {"token": "${T}", "retries": "${N}"},
            {"T": "x", "N": "x"},
            "vendors.alpha.retries",
            "type int",
        ),
        ({"token": "${T}", "retries": True}, {"T": "x"}, "vendors.alpha.retries", "type int"),
        ({"token": "${T}", "base_url": 5}, {"T": "x"}, "vendors.alpha.base_url", "string"),
    ],
)
def test_errors_name_the_key(specs: dict, table: dict, env: dict, key: str, rule: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        Config.from_mapping({"vendors": {"alpha": table}}, specs, env=env)
    assert info.value.key == key
    assert rule in info.value.rule


def test_missing_variable_is_named(specs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(MissingSecretError) as info:
        Config.from_mapping({"vendors": {"alpha": {"token": "${NOT_SET_ANYWHERE}"}}}, specs, env={})
    assert info.value.key == "vendors.alpha.token"
    assert "NOT_SET_ANYWHERE" in str(info.value)


def test_unknown_tables_and_vendors(specs: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match="unknown top-level table") as info:
        Config.from_mapping({"vendor": {}}, specs)
    assert info.value.key == "vendor"
    with pytest.raises(ConfigError, match="no loaded plugin") as info:
        Config.from_mapping({"vendors": {"omega": {}}}, specs)
    assert info.value.key == "vendors.omega"
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_file(write(tmp_path, "[vendors\n"), specs)
    with pytest.raises(ConfigError, match="not found"):
        Config.from_file(tmp_path / "missing.toml", specs)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80/x", "http://127.8.9.10"]
)
def test_http_is_accepted_for_loopback(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "http://10.0.0.1:8000", "http://localhost.evil.com", "http://0.0.0.0"],
)
def test_http_is_refused_elsewhere(url: str, specs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(UnsafeURLError, match="https"):
        check_base_url(url)
    with pytest.raises(UnsafeURLError):
        Config.from_mapping(
            {"vendors": {"alpha": {"token": "${T}", "base_url": url}}}, specs, env={"T": "x"}
        )


def test_ftp_and_relative_urls_are_refused() -> None:
    for url in ("ftp://example.com", "/relative", "https://"):
        with pytest.raises(ConfigError):
            check_base_url(url)


def test_secrets_never_show(specs: dict, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[type-arg]
    config = Config.from_mapping(
        {"vendors": {"alpha": {"token": "${T}"}}}, specs, env={"T": CANARY}
    )
    alpha = config.vendors["alpha"]
    secret = alpha["token"]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s %r %s", alpha, alpha, secret)
        logging.getLogger("test").info(f"{secret} {alpha.values}")
    rendered = [
        repr(config),
        str(config),
        repr(alpha),
        str(alpha),
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret:>40}",
        caplog.text,
    ]
    for text in rendered:
        assert CANARY not in text
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        hash(secret)


def test_secret_absent_from_errors(specs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(
            {"vendors": {"alpha": {"token": "${T}", "retries": "${T}"}}}, specs, env={"T": CANARY}
        )
    assert CANARY not in str(info.value)


def test_vendor_config_validates_base_url_directly() -> None:
    with pytest.raises(UnsafeURLError):
        VendorConfig("alpha", "http://api.example.com")


def test_base_url_loses_its_trailing_slash() -> None:
    assert VendorConfig("alpha", "https://api.example.com/v1/").base_url == (
        "https://api.example.com/v1"
    )


def test_record_key_comes_from_the_environment_as_a_secret(specs: dict) -> None:  # type: ignore[type-arg]
    data = {"engine": {"record_key": "${KYCMUX_RECORD_KEY}", "policy": "p"}}
    config = Config.from_mapping(data, specs, {"KYCMUX_RECORD_KEY": "key-91c2"})
    key = config.engine.record_key
    assert isinstance(key, Secret)
    assert key.reveal() == "key-91c2"
    assert "key-91c2" not in repr(config.engine)
    assert config.engine.policy == "p"


@pytest.mark.parametrize(
    ("value", "env", "error", "rule"),
    [
        ("literal-key", {}, ConfigError, "${ENV_VAR} reference"),
        (42, {}, ConfigError, "${ENV_VAR} reference"),
        ("${NOT_SET}", {}, MissingSecretError, "NOT_SET is not set"),
    ],
)
def test_record_key_must_be_an_env_reference(
    specs: dict,  # type: ignore[type-arg]
    value: object,
    env: dict[str, str],
    error: type[ConfigError],
    rule: str,
) -> None:
    with pytest.raises(error) as caught:
        Config.from_mapping({"engine": {"record_key": value}}, specs, env)
    assert caught.value.key == "engine.record_key"
    assert rule in caught.value.rule
