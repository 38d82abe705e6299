"""The vendor as registered: discovery, spec contents, configuration, scores, the CLI listing."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from kycmux import (
    Check,
    Config,
    EvidenceKind,
    MediaForm,
    PluginHost,
    RawScore,
    ScoreKind,
    Secret,
    VendorHooks,
    VendorSpec,
)
from kycmux.cli._main import main
from kycmux.exceptions import ConfigError
from kycmux.simkit import Simulator
from kycmux_tencent_legacy._sim import TencentSimulator


def test_entry_point_registers_the_vendor() -> None:
    host = PluginHost.from_entry_points(env={"KYCMUX_PLUGINS": "tencent_legacy"})
    assert host.failures == ()
    assert set(host.vendors) == {"tencent_legacy"}
    origin = host.origin("tencent_legacy")
    assert (origin.plugin, origin.distribution) == ("tencent_legacy", "kycmux-tencent-legacy")


def test_spec_names_and_base_url(spec: VendorSpec) -> None:
    assert spec.display_name == "Tencent Cloud legacy face API (Youtu)"
    assert spec.default_base_url == "https://recognition.image.myqcloud.com"


def test_offers_and_their_evidence(spec: VendorSpec) -> None:
    offers = {o.check: o for o in spec.offers}
    assert set(offers) == {Check.LIVENESS, Check.FACE_MATCH, Check.ID_REGISTRY_MATCH}
    assert offers[Check.LIVENESS].operation == offers[Check.FACE_MATCH].operation
    assert offers[Check.LIVENESS].operation == "livedetectfour"
    assert offers[Check.ID_REGISTRY_MATCH].operation == "idcardcompare"
    needs = {c: {n.kind: n.forms for n in o.needs} for c, o in offers.items()}
    assert needs[Check.LIVENESS] == {
        EvidenceKind.VIDEO: frozenset({MediaForm.FILE}),
        EvidenceKind.DIGITS: frozenset({MediaForm.FILE}),
    }
    assert needs[Check.FACE_MATCH][EvidenceKind.REFERENCE_PHOTO] == frozenset({MediaForm.FILE})
    assert set(needs[Check.FACE_MATCH]) == {
        EvidenceKind.VIDEO,
        EvidenceKind.DIGITS,
        EvidenceKind.REFERENCE_PHOTO,
    }
    assert needs[Check.ID_REGISTRY_MATCH] == {
        EvidenceKind.SELFIE: frozenset({MediaForm.FILE, MediaForm.URL}),
        EvidenceKind.ID_NUMBER: frozenset({MediaForm.FILE}),
        EvidenceKind.ID_NAME: frozenset({MediaForm.FILE}),
    }


def test_config_defaults_and_secrets(spec: VendorSpec) -> None:
    data = {
        "vendors": {
            "tencent_legacy": {
                "appid": "1250000000",
                "secret_id": "${SID}",
                "secret_key": "${SKEY}",
            }
        }
    }
    config = Config.from_mapping(data, {spec.name: spec}, env={"SID": "the-id", "SKEY": "the-key"})
    vendor = config.vendors["tencent_legacy"]
    assert vendor.base_url == "https://recognition.image.myqcloud.com"
    assert vendor["secret_id"] == Secret("the-id")
    assert vendor["secret_key"] == Secret("the-key")
    assert (vendor["bucket"], vendor["signature_ttl"]) == ("", 60)
    assert (vendor["max_video_bytes"], vendor["max_body_bytes"]) == (3 * 2**20, 6 * 2**20)
    assert "the-key" not in repr(vendor)
    assert "the-id" not in repr(vendor)


def test_secret_keys_cannot_be_literals(spec: VendorSpec) -> None:
    table = {"appid": "1", "secret_id": "plain", "secret_key": "${K}"}
    with pytest.raises(ConfigError, match="secret_id"):
        Config.from_mapping({"vendors": {"tencent_legacy": table}}, {spec.name: spec}, {"K": "k"})


def test_appid_is_required(spec: VendorSpec) -> None:
    table = {"secret_id": "${K}", "secret_key": "${K}"}
    with pytest.raises(ConfigError, match="appid"):
        Config.from_mapping({"vendors": {"tencent_legacy": table}}, {spec.name: spec}, {"K": "k"})


def test_simulator_factory_gives_a_simulator_accepting_its_settings(spec: VendorSpec) -> None:
    assert spec.simulator is not None
    sim = spec.simulator()
    assert isinstance(sim, Simulator)
    assert isinstance(sim, TencentSimulator)
    settings = sim.client_settings()
    assert set(settings) == {"appid", "secret_id", "secret_key"}
    assert isinstance(settings["secret_key"], Secret)
    assert set(settings) <= set(spec.config_field_map)


@pytest.mark.parametrize(
    ("raw", "far", "extrapolated"),
    [
        (70.0, 1e-3, False),
        (75.0, 10**-3.5, False),
        (80.0, 1e-4, False),
        (90.0, 1e-5, True),
        (60.0, 1e-2, True),
        (0.0, 1.0, True),  # 10^4 capped: a FAR is never above 1
    ],
)
def test_sim_is_put_on_the_far_scale(
    hooks: VendorHooks, spec: VendorSpec, raw: float, far: float, extrapolated: bool
) -> None:
    score = hooks.normalize_score(vendor=spec, check=Check.FACE_MATCH, raw=RawScore("sim", raw))
    assert score.kind is ScoreKind.SIMILARITY
    assert math.isclose(score.far, far, rel_tol=1e-9)
    assert score.extrapolated is extrapolated


def test_similarity_is_uncalibrated_and_says_so(hooks: VendorHooks, spec: VendorSpec) -> None:
    raw = RawScore("similarity", 80.0)
    score = hooks.normalize_score(vendor=spec, check=Check.ID_REGISTRY_MATCH, raw=raw)
    assert score.far is None
    assert not score.calibrated
    similarity = spec.score_spec("similarity")
    assert similarity.recommended_threshold == 75.0
    assert "no FAR table" in similarity.note
    assert spec.score_spec("sim").recommended_threshold == 70.0
    assert "75" in spec.score_spec("sim").note


def test_kycmux_vendors_lists_checks_and_calibration() -> None:
    runner = CliRunner()
    env = {"KYCMUX_PLUGINS": "tencent_legacy", "COLUMNS": "200"}
    listed = runner.invoke(main, ["vendors", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "tencent_legacy"
    assert entry["checks"]["liveness"] == {
        "operation": "livedetectfour",
        "needs": ["video (file)", "digits"],
    }
    assert entry["checks"]["id_registry_match"]["needs"] == [
        "selfie (file|url)",
        "id_number",
        "id_name",
    ]
    # Face comparisons name their live and reference sides; the registry is the vendor's own.
    assert entry["checks"]["face_match"]["roles"] == {
        "live": "video",
        "reference": "reference_photo",
    }
    assert entry["checks"]["id_registry_match"]["roles"] == {"live": "selfie", "reference": None}
    sim, similarity = entry["scores"]
    assert sim["calibration"] == "70 → FAR 0.001, 80 → FAR 0.0001"
    assert similarity["calibrated"] is False
    assert entry["simulator"] is True
    table = runner.invoke(main, ["vendors"], env=env)
    assert table.exit_code == 0, table.output
    assert "Tencent Cloud legacy face API (Youtu)" in table.output
    assert "uncalibrated" in table.output


def test_simulator_is_exported_lazily() -> None:
    import kycmux_tencent_legacy

    assert kycmux_tencent_legacy.TencentSimulator is TencentSimulator
    assert isinstance(kycmux_tencent_legacy.simulator(), TencentSimulator)
    with pytest.raises(AttributeError):
        _ = kycmux_tencent_legacy.NoSuchThing
