"""Relabelling at the plugin boundary: a plugin's vendor name in, an instance's name out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kycmux import (
    Challenge,
    Check,
    Classification,
    Config,
    ErrorClass,
    Evidence,
    PluginHost,
    VendorMediaId,
    VendorRequest,
    VendorResult,
)
from kycmux._transport._relabel import (
    Labels,
    relabel,
    relabel_error,
    relabel_evidence,
    relabel_reason,
)
from kycmux.compare import common_checks
from kycmux.exceptions import (
    ConfigError,
    InvalidEvidenceError,
    PolicyError,
    ProtocolError,
    ResponseTooLargeError,
)
from kycmux.testing import FakeVendor

OUT = Labels("linkface", "linkface_b")


def test_requests_and_results_carry_the_new_name() -> None:
    request = VendorRequest("linkface", "verify", frozenset({Check.LIVENESS}), "POST", "https://x")
    result = VendorResult("linkface", "verify", 200, True, "OK")
    assert relabel(request, OUT).vendor == "linkface_b"
    assert relabel(result, OUT).vendor == "linkface_b"
    assert relabel(request, Labels("linkface", "linkface")) is request
    # A value another vendor's name is on is not ours to rename.
    other = VendorResult("tencent_legacy", "x", 200, True, "0")
    assert relabel(other, OUT) is other
    assert relabel(3, OUT) == 3


def test_classification_reasons_name_the_instance() -> None:
    found = Classification(ErrorClass.NOT_LIVE, "linkface:4003")
    assert relabel(found, OUT) == Classification(ErrorClass.NOT_LIVE, "linkface_b:4003")
    neutral = Classification(ErrorClass.VENDOR_UNAVAILABLE, "connect_error")
    assert relabel(neutral, OUT) == neutral


@given(rest=st.text(max_size=30))
def test_a_reason_is_renamed_only_at_its_vendor_prefix(rest: str) -> None:
    assert relabel_reason(f"linkface:{rest}", OUT) == f"linkface_b:{rest}"
    assert relabel_reason(f"linkfacex:{rest}", OUT) == f"linkfacex:{rest}"
    assert relabel_reason(f"x{rest}", OUT) == f"x{rest}"
    assert relabel_reason(
        relabel_reason(f"linkface:{rest}", OUT), Labels("linkface_b", "linkface")
    ) == (f"linkface:{rest}")


def test_errors_are_renamed_in_place_message_included() -> None:
    protocol = ProtocolError("linkface", "not JSON", http_status=502)
    assert relabel_error(protocol, OUT) is protocol
    assert (protocol.vendor, protocol.detail, protocol.http_status) == (
        "linkface_b",
        "not JSON",
        502,
    )
    assert str(protocol) == "linkface_b: malformed response: not JSON"
    large = ResponseTooLargeError("linkface", 10)
    relabel_error(large, OUT)
    assert (large.vendor, large.limit) == ("linkface_b", 10)
    evidence = InvalidEvidenceError("selfie", "too big", vendor="linkface")
    relabel_error(evidence, OUT)
    assert (evidence.vendor, str(evidence)) == ("linkface_b", "selfie: too big (vendor linkface_b)")
    config = PolicyError("vendors.linkface.threshold", "must be in [0, 1]")
    relabel_error(config, OUT)
    assert (type(config), config.key) == (PolicyError, "vendors.linkface_b.threshold")
    assert str(config) == "vendors.linkface_b.threshold: must be in [0, 1]"
    whole = ConfigError("vendors.linkface", "vendor is not configured")
    assert relabel_error(whole, OUT).key == "vendors.linkface_b"  # type: ignore[attr-defined]
    for untouched in (
        ConfigError("vendors.linkface2.x", "r"),
        ConfigError("engine.policy", "r"),
        InvalidEvidenceError("selfie", "r"),
        ProtocolError("tencent_legacy", "r"),
    ):
        before = str(untouched)
        assert str(relabel_error(untouched, OUT)) == before


def test_media_ids_an_instance_issued_reach_its_plugin_as_the_plugins(png_file: Path) -> None:
    evidence = Evidence(
        selfie=VendorMediaId("linkface_b", "m-1"),
        reference_photo=png_file,
        liveness_data=VendorMediaId("tencent_legacy", "m-2"),
    )
    inward = relabel_evidence(evidence, Labels("linkface_b", "linkface"))
    assert inward.selfie == VendorMediaId("linkface", "m-1")
    assert inward.liveness_data == VendorMediaId("tencent_legacy", "m-2")
    assert inward.reference_photo == evidence.reference_photo
    plain = Evidence(selfie=png_file)
    assert relabel_evidence(plain, Labels("linkface_b", "linkface")) is plain


def test_challenges_cross_the_boundary_under_each_sides_name() -> None:
    """A challenge the plugin issues leaves under the instance's name; one the evidence carries
    reaches the plugin under its own, so it recognises what it issued."""
    issued = Challenge("tencent_legacy", "digits", "1234", 100.0, 400.0)
    outward = relabel(issued, Labels("tencent_legacy", "tencent_hk"))
    assert (outward.vendor, outward.value) == ("tencent_hk", "1234")
    evidence = Evidence(challenge=outward)
    inward = relabel_evidence(evidence, Labels("tencent_hk", "tencent_legacy"))
    assert inward.challenge == issued
    foreign = Evidence(challenge=Challenge("other", "digits", "1234", 100.0, 400.0))
    assert relabel_evidence(foreign, Labels("tencent_hk", "tencent_legacy")) is foreign


def test_a_rule_pointing_at_the_vendors_settings_points_at_the_instances() -> None:
    refused = InvalidEvidenceError(
        "digits",
        "refused: set vendors.tencent_legacy.allow_caller_digits = true",
        vendor="tencent_legacy",
    )
    relabel_error(refused, Labels("tencent_legacy", "tencent_hk"))
    assert refused.rule == "refused: set vendors.tencent_hk.allow_caller_digits = true"
    assert refused.vendor == "tencent_hk"


def test_compare_takes_instances_from_the_configured_specs() -> None:
    host = PluginHost()
    host.register(FakeVendor("alpha"), "a")
    config = Config.from_mapping(
        {"vendors": {"alpha_eu": {"plugin": "alpha", "token": "${T}"}}}, host.vendors, {"T": "x"}
    )
    assert common_checks(config.specs(host.vendors), ["alpha_eu"]) == (
        Check.LIVENESS,
        Check.FACE_MATCH,
    )
