"""A challenge crossing into a plugin under a vendor instance: the instance's own is the
plugin's, one issued under the plugin's name (another instance, another account) is not."""

from __future__ import annotations

from pathlib import Path

from kycmux import Challenge, ChallengeKind, Evidence
from kycmux._transport._relabel import OTHER_INSTANCE, Labels, relabel_evidence


def _evidence(video: Path, issuer: str) -> Evidence:
    challenge = Challenge(vendor=issuer, kind=ChallengeKind.DIGITS, value="1234",
                          issued_at=1.0, expires_at=2.0)  # fmt: skip
    return Evidence(video=video, challenge=challenge)


def test_the_instances_own_challenge_reaches_the_plugin_under_its_name(mp4_file: Path) -> None:
    inward = relabel_evidence(_evidence(mp4_file, "tencent_b"), Labels("tencent_b", "tencent"))
    assert inward.challenge is not None
    assert inward.challenge.vendor == "tencent"


def test_another_instances_challenge_does_not_pass_for_the_plugins_own(mp4_file: Path) -> None:
    inward = relabel_evidence(_evidence(mp4_file, "tencent"), Labels("tencent_b", "tencent"))
    assert inward.challenge is not None
    assert inward.challenge.vendor == f"tencent{OTHER_INSTANCE}"


def test_without_an_instance_nothing_changes(mp4_file: Path) -> None:
    evidence = _evidence(mp4_file, "tencent")
    assert relabel_evidence(evidence, Labels("tencent", "tencent")) is evidence
