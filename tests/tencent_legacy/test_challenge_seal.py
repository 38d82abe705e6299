"""The engine's seal on the challenges it issued (issue 13 review): a caller cannot stretch a
challenge's life, move it to another subject, or pick its digits; the seal round-trips through
the JSON an app keeps and never shows in a repr. Pure: ``check_challenge`` on Tencent's spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux import Challenge, ChallengeKind, Evidence, VendorSpec
from kycmux._engine._challenge import challenge_key, check_challenge, seal
from kycmux.exceptions import InvalidEvidenceError
from kycmux.testing import FakeClock

NOW = 1_700_000_000.0
KEY = challenge_key(b"record-key")
SUBJECT = "hmac-sha256:subject"


def _issued(**changes: Any) -> Challenge:
    fields = {"vendor": "tencent_legacy", "kind": ChallengeKind.DIGITS, "value": "9532",
              "issued_at": NOW, "expires_at": NOW + 300.0, "request_id": "r1"}  # fmt: skip
    return Challenge(**{**fields, **changes})


def _check(spec: VendorSpec, video: Path, challenge: Challenge, subject: str | None) -> None:
    clock = FakeClock(start=NOW + 10.0)
    evidence = Evidence(video=video, challenge=challenge)
    check_challenge({spec.name: spec}, clock, evidence, KEY, subject)


def _refused(spec: VendorSpec, video: Path, challenge: Challenge, field: str) -> str:
    with pytest.raises(InvalidEvidenceError) as info:
        _check(spec, video, challenge, SUBJECT)
    assert info.value.field == field
    return info.value.rule


def test_a_sealed_challenge_passes(spec: VendorSpec, mp4_file: Path) -> None:
    _check(spec, mp4_file, seal(KEY, _issued(), SUBJECT), SUBJECT)
    _check(spec, mp4_file, seal(KEY, _issued(), None), SUBJECT)  # issued for nobody in particular
    # Sealed for a subject, it may not travel on evidence that names none.
    with pytest.raises(InvalidEvidenceError, match=r"challenge\.subject"):
        _check(spec, mp4_file, seal(KEY, _issued(), SUBJECT), None)


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": NOW + 10**9},  # the reviewer's forged expiry
        {"issued_at": NOW - 10_000.0, "expires_at": NOW + 10**9},
        {"value": "1111"},
        {"vendor": "tencent_other"},
        {"subject": "hmac-sha256:someone-else"},
    ],
)
def test_any_change_after_sealing_breaks_the_seal(
    spec: VendorSpec, mp4_file: Path, change: dict[str, Any]
) -> None:
    changed = attrs.evolve(seal(KEY, _issued(), SUBJECT), **change)
    if changed.vendor != spec.name:
        spec = attrs.evolve(spec, name=changed.vendor)
    assert "does not verify" in _refused(spec, mp4_file, changed, "challenge.mac")


def test_a_challenge_sealed_under_another_key_is_refused(spec: VendorSpec, mp4_file: Path) -> None:
    other = seal(challenge_key(b"another-key"), _issued(), SUBJECT)
    _refused(spec, mp4_file, other, "challenge.mac")


def test_an_unsealed_challenge_is_refused(spec: VendorSpec, mp4_file: Path) -> None:
    assert "required" in _refused(spec, mp4_file, _issued(), "challenge.mac")


def test_a_sealed_life_longer_than_the_vendors_ttl_is_refused(
    spec: VendorSpec, mp4_file: Path
) -> None:
    long = seal(KEY, _issued(expires_at=NOW + 301.0), SUBJECT)
    assert "ttl" in _refused(spec, mp4_file, long, "challenge.expires_at")


def test_a_challenge_issued_in_the_future_is_refused(spec: VendorSpec, mp4_file: Path) -> None:
    ahead = seal(KEY, _issued(issued_at=NOW + 60.0, expires_at=NOW + 120.0), SUBJECT)
    _refused(spec, mp4_file, ahead, "challenge.issued_at")


def test_a_challenge_for_another_subject_is_refused(spec: VendorSpec, mp4_file: Path) -> None:
    theirs = seal(KEY, _issued(), "hmac-sha256:someone-else")
    _refused(spec, mp4_file, theirs, "challenge.subject")


def test_the_seal_never_shows_in_a_repr_or_the_record(spec: VendorSpec) -> None:
    sealed = seal(KEY, _issued(), SUBJECT)
    assert sealed.mac is not None
    assert sealed.mac not in repr(sealed)
    assert sealed.mac not in json.dumps(sealed.audit())


@given(
    digits=st.text("0123456789", min_size=1, max_size=16),
    issued_at=st.floats(NOW - 1e6, NOW + 1e6, allow_nan=False),
    ttl=st.floats(1e-3, 300.0),
    subject=st.none() | st.text(min_size=1, max_size=64),
)
def test_the_seal_round_trips_through_json(
    digits: str, issued_at: float, ttl: float, subject: str | None
) -> None:
    """What the CLI prints and ``verify --challenge`` reads back still verifies."""
    issued = _issued(value=digits, issued_at=issued_at, expires_at=issued_at + ttl)
    if issued.expires_at <= issued.issued_at:
        return
    sealed = seal(KEY, issued, subject)
    back = Challenge.from_dict(json.loads(json.dumps(sealed.to_dict())))
    assert back == sealed
    assert seal(KEY, attrs.evolve(back, mac=None), back.subject).mac == back.mac


def test_a_mac_that_is_not_ascii_is_refused_as_a_typed_error(
    spec: VendorSpec, mp4_file: Path
) -> None:
    # compare_digest raises TypeError on str with non-ASCII characters: never untyped.
    forged = attrs.evolve(seal(KEY, _issued(), SUBJECT), mac="é" * 64)
    _refused(spec, mp4_file, forged, "challenge.mac")


@given(st.integers(min_value=10**309, max_value=10**400))
def test_a_time_too_large_for_a_float_is_refused_as_a_typed_error(huge: int) -> None:
    plain = _issued().to_dict() | {"expires_at": huge}
    with pytest.raises(InvalidEvidenceError) as info:
        Challenge.from_dict(json.loads(json.dumps(plain)))
    assert info.value.field == "challenge.expires_at"
