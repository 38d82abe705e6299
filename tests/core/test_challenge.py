"""The ``Challenge`` value: validated, tidy repr, round trip through JSON, and any outside
input read as a challenge or refused with a typed error naming the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux import Challenge, ChallengeKind, ChallengeSpec, Check, Evidence, EvidenceKind
from kycmux.exceptions import InvalidEvidenceError


def _challenge(**changes: Any) -> Challenge:
    values: dict[str, Any] = {
        "vendor": "tencent_legacy",
        "kind": "digits",
        "value": "9532",
        "issued_at": 1_700_000_000.0,
        "expires_at": 1_700_000_300.0,
    }
    return Challenge(**{**values, **changes})


def test_round_trip_and_a_repr_without_the_value() -> None:
    challenge = _challenge(id="tok-1", request_id="req-1")
    assert Challenge.from_dict(json.loads(json.dumps(challenge.to_dict()))) == challenge
    assert "9532" not in repr(challenge)
    assert "9532" not in json.dumps(challenge.audit())
    assert challenge.kind is ChallengeKind.DIGITS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"value": "95a2"}, "challenge.value"),
        ({"value": ""}, "challenge.value"),
        ({"vendor": ""}, "challenge.vendor"),
        ({"issued_at": math.nan}, "challenge.issued_at"),
        ({"expires_at": 1_700_000_000.0}, "challenge.expires_at"),
        ({"id": ""}, "challenge.id"),
    ],
)
def test_invalid_values_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvidenceError) as info:
        _challenge(**changes)
    assert info.value.field == field


def test_expiry_is_checked_against_the_clock_given(mp4_file: Path) -> None:
    evidence = Evidence(video=mp4_file, challenge=_challenge())
    assert evidence.get(EvidenceKind.DIGITS) == "9532"
    evidence.check_challenge(1_700_000_299.0)
    with pytest.raises(InvalidEvidenceError) as info:
        evidence.check_challenge(1_700_000_300.0)
    assert info.value.field == "challenge"
    assert "9532" not in repr(evidence)


def test_a_spec_needs_at_least_one_check() -> None:
    with pytest.raises(ValueError, match="checks"):
        ChallengeSpec(checks=(), kind="digits", operation="issue")
    spec = ChallengeSpec(checks=[Check.LIVENESS], kind="digits", operation="issue")
    assert spec.checks == frozenset({Check.LIVENESS})


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = ("vendor", "kind", "value", "issued_at", "expires_at", "id", "request_id")


@given(
    data=st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=7)
    | st.fixed_dictionaries(
        {
            "vendor": st.text(max_size=5),
            "kind": st.sampled_from(["digits", "smile", 3]),
            "value": st.text("0123456789x", max_size=18),
            "issued_at": st.floats(allow_nan=True) | st.integers(),
            "expires_at": st.floats(allow_nan=True) | st.integers(),
        }
    )
    | _JSON
)
def test_outside_input_is_a_challenge_or_a_typed_refusal(data: Any) -> None:
    field = None
    try:
        found = Challenge.from_dict(data)
    except InvalidEvidenceError as exc:
        field = exc.field
    if field is not None:
        assert field.partition(".")[0] == "challenge"
        return
    assert found.expires_at > found.issued_at
    assert found.value.isdigit()
