"""The vendor as registered: discovery, spec contents, configuration keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux import (
    AttemptContext,
    Check,
    Config,
    Evidence,
    EvidenceKind,
    MediaForm,
    PluginHost,
    ScoreKind,
    Secret,
    VendorConfig,
    VendorHooks,
    VendorSpec,
)
from kycmux.exceptions import ConfigError

ENV = {"ID": "the-id", "SECRET": "the-secret"}


def test_entry_point_registers_the_vendor() -> None:
    host = PluginHost.from_entry_points(env={"KYCMUX_PLUGINS": "linkface"})
    assert host.failures == ()
    assert set(host.vendors) == {"linkface"}
    assert host.origin("linkface").distribution == "kycmux-linkface"


def test_spec_offers_both_checks_through_one_operation(spec: VendorSpec) -> None:
    assert spec.display_name == "Linkface liveness + selfie verification"
    assert spec.default_base_url == "https://cloudapi.linkface.cn"
    assert spec.checks == {Check.LIVENESS, Check.FACE_MATCH}
    every_form = frozenset(MediaForm)
    for offer in spec.offers:
        assert offer.operation == "liveness_selfie_verification"
        assert {(n.kind, n.forms) for n in offer.needs} == {
            (EvidenceKind.LIVENESS_DATA, every_form),
            (EvidenceKind.SELFIE, every_form),
        }
    assert spec.simulator is not None


def test_scores_verify_calibrated_hack_uncalibrated(spec: VendorSpec) -> None:
    verify = spec.score_spec("verify_score")
    hack = spec.score_spec("hack_score")
    assert verify is not None
    assert hack is not None
    assert (verify.check, verify.kind, verify.low, verify.high) == (
        Check.FACE_MATCH,
        ScoreKind.SIMILARITY,
        0.0,
        1.0,
    )
    assert verify.calibration is not None
    assert verify.calibration.points == (
        (0.4, 1e-1),
        (0.5, 1e-2),
        (0.6, 1e-3),
        (0.7, 1e-4),
        (0.8, 1e-5),
        (0.9, 1e-6),
    )
    assert verify.recommended_threshold == 0.7
    assert (hack.check, hack.kind, hack.calibrated, hack.recommended_threshold) == (
        Check.LIVENESS,
        ScoreKind.ATTACK,
        False,
        None,
    )
    assert "no threshold" in hack.note


def test_config_defaults_and_secrets(spec: VendorSpec) -> None:
    config = Config.from_mapping(
        {"vendors": {"linkface": {"api_id": "${ID}", "api_secret": "${SECRET}"}}},
        {"linkface": spec},
        ENV,
    ).vendors["linkface"]
    assert config.base_url == "https://cloudapi.linkface.cn"
    assert config["api_id"] == Secret("the-id")
    assert config["api_secret"] == Secret("the-secret")
    assert config["credentials_in"] == "form"
    assert config["selfie_auto_rotate"] is False
    assert config["liveness_threshold"] == 0.5
    assert config["max_selfie_bytes"] == 5 * 1024 * 1024
    assert "the-secret" not in repr(config)
    assert "the-id" not in repr(config)


@pytest.mark.parametrize("key", ["api_id", "api_secret"])
def test_credentials_are_required_and_secret(spec: VendorSpec, key: str) -> None:
    table = {"api_id": "${ID}", "api_secret": "${SECRET}"}
    with pytest.raises(ConfigError, match=f"vendors.linkface.{key}: is required"):
        VendorConfig.from_table(spec, {k: v for k, v in table.items() if k != key}, ENV)
    with pytest.raises(ConfigError, match=f"vendors.linkface.{key}: is secret"):
        VendorConfig.from_table(spec, {**table, key: "literal"}, ENV)


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("credentials_in", "header", "must be 'form' or 'query'"),
        ("liveness_threshold", 0.0, r"must be in \(0, 1\]"),
        ("liveness_threshold", 1.5, r"must be in \(0, 1\]"),
        ("max_selfie_bytes", 0, "must be a positive integer"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(
    make_config: Callable[..., VendorConfig],
    spec: VendorSpec,
    hooks: VendorHooks,
    context: AttemptContext,
    make_image: Callable[..., Path],
    data_file: Path,
    key: str,
    value: object,
    rule: str,
) -> None:
    config = make_config(**{key: value})
    evidence = Evidence(selfie=make_image(), liveness_data=data_file)
    with pytest.raises(ConfigError, match=f"vendors.linkface.{key}: {rule}"):
        hooks.build_request(
            vendor=spec,
            checks=frozenset({Check.LIVENESS}),
            evidence=evidence,
            config=config,
            context=context,
        )
