"""parse: string and numeric scores, strictness about malformed answers, error bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from kycmux import (
    Check,
    CheckAnswer,
    RawScore,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux_linkface._parse import parse_score
from kycmux_linkface._spec import VERIFY_SCORE

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
OK_BODY: dict[str, Any] = {
    "request_id": "TID8bf47ab6eda64476973cc5f5b6ebf57e",
    "status": "OK",
    "hack_score": "0.12",
    "verify_score": "0.8731",
    "liveness_data_id": "LD-1",
    "image_id": "IMG-1",
}

Parse = Callable[..., VendorResult]


def request_for(checks: frozenset[Check] = BOTH) -> VendorRequest:
    return VendorRequest(
        vendor="linkface",
        operation="liveness_selfie_verification",
        checks=checks,
        method="POST",
        url="https://cloudapi.linkface.cn/identity/liveness_selfie_verification",
    )


@pytest.fixture
def parse(hooks: VendorHooks, spec: VendorSpec, config: VendorConfig) -> Parse:
    def run(
        body: bytes | dict[str, Any],
        status: int = 200,
        checks: frozenset[Check] = BOTH,
        cfg: VendorConfig | None = None,
        headers: dict[str, str] | None = None,
    ) -> VendorResult:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        response = VendorResponse(
            status, {"content-type": "application/json", **(headers or {})}, raw
        )
        result: VendorResult = hooks.parse(
            vendor=spec, request=request_for(checks), response=response, config=cfg or config
        )
        return result

    return run


def test_vendor_sample_with_string_scores(parse: Parse) -> None:
    result = parse(OK_BODY)
    assert (result.vendor, result.operation, result.http_status, result.ok, result.code) == (
        "linkface",
        "liveness_selfie_verification",
        200,
        True,
        "OK",
    )
    assert result.request_id == "TID8bf47ab6eda64476973cc5f5b6ebf57e"
    assert result.extras == {"liveness_data_id": "LD-1", "image_id": "IMG-1"}
    assert result.answers == {
        Check.LIVENESS: CheckAnswer(
            Check.LIVENESS, True, "OK", passed=True, score=RawScore("hack_score", 0.12)
        ),
        Check.FACE_MATCH: CheckAnswer(
            Check.FACE_MATCH, True, "OK", passed=None, score=RawScore("verify_score", 0.8731)
        ),
    }


@pytest.mark.parametrize(
    ("hack", "verify", "expected"),
    [(0.12, 0.8731, (0.12, 0.8731)), (0, 1, (0.0, 1.0)), (1, 0, (1.0, 0.0))],
)
def test_numeric_scores(
    parse: Parse, hack: Any, verify: Any, expected: tuple[float, float]
) -> None:
    result = parse({**OK_BODY, "hack_score": hack, "verify_score": verify})
    scores = {c: a.score.value for c, a in result.answers.items() if a.score}
    assert scores == {Check.LIVENESS: expected[0], Check.FACE_MATCH: expected[1]}
    assert all(isinstance(v, float) for v in scores.values())


@pytest.mark.parametrize("text", ["0.5", "5e-1", "5E-1", ".5", "0.50000", "+0.5", "0.5e0"])
def test_numeric_string_forms(parse: Parse, text: str) -> None:
    result = parse({**OK_BODY, "verify_score": text})
    assert result.answers[Check.FACE_MATCH].score == RawScore("verify_score", 0.5)


# Scores are ASCII decimal notation, exactly: float() and a \d regex take far more.
NOT_ASCII_DECIMAL = [
    "\u0660.\u0660\u0661",  # Arabic-Indic "0.01"
    "\u0660.\u0669\u0669",  # Arabic-Indic "0.99"
    "\uff10.\uff19\uff19",  # full-width "0.99"
    "0.9\u0669",  # one Arabic-Indic digit among ASCII ones
    "\u06f0.\u06f5",  # extended Arabic-Indic (Persian) "0.5"
    "\u0966.\u096b",  # Devanagari "0.5"
    "\U0001d7ce.\U0001d7d3",  # mathematical bold "0.5"
    "0.5e\u0661",  # a Unicode digit in the exponent
    " 0.1 ",
    " 0.1",
    "0.1 ",
    "0.1\n",
    "\t0.1",
    "0.1\r\n",
    "\u00a00.1",  # no-break space
    "0.1\u2003",  # em space
    "0._1",
    "0.1_0",
    "0..1",
    "0.1e",
    "e-1",
    ".",
    "+",
    "0x0.8p0",
    "1/2",
    "0,5",
]


@pytest.mark.parametrize("text", NOT_ASCII_DECIMAL)
@pytest.mark.parametrize("name", ["hack_score", "verify_score"])
def test_scores_not_in_ascii_decimal_notation_are_protocol_errors(
    parse: Parse, name: str, text: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        parse({**OK_BODY, name: text})
    assert info.value.detail == f"{name} is not a numeric string"


@pytest.mark.parametrize("text", NOT_ASCII_DECIMAL)
def test_parse_score_refuses_what_float_would_take(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_score(text, VERIFY_SCORE)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("nan", "is not a numeric string"),
        ("NaN", "is not a numeric string"),
        ("inf", "is not a numeric string"),
        ("Infinity", "is not a numeric string"),
        ("1_0", "is not a numeric string"),
        ("", "is not a numeric string"),
        ("xxxxx", "is not a numeric string"),
        ("1.5", "is outside 0..1"),
        ("-0.1", "is outside 0..1"),
        (1.0000001, "is outside 0..1"),
        (-1, "is outside 0..1"),
        (True, "is not a number"),
        (None, "is not a number"),
        ([0.5], "is not a number"),
        ("1e999", "is not finite"),
    ],
)
@pytest.mark.parametrize("name", ["hack_score", "verify_score"])
def test_bad_scores_are_protocol_errors(parse: Parse, name: str, value: Any, detail: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse({**OK_BODY, name: value})
    assert info.value.vendor == "linkface"
    assert info.value.detail == f"{name} {detail}"


@pytest.mark.parametrize(
    "literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"], ids=["nan", "inf", "-inf", "huge"]
)
def test_non_finite_json_numbers_are_protocol_errors(parse: Parse, literal: bytes) -> None:
    body = b'{"status": "OK", "hack_score": 0.1, "verify_score": ' + literal + b"}"
    with pytest.raises(ProtocolError):
        parse(body)


@pytest.mark.parametrize("digits", [400, 4000])
@pytest.mark.parametrize("sign", [b"", b"-"])
def test_integer_scores_too_large_for_a_float_are_protocol_errors(
    parse: Parse, digits: int, sign: bytes
) -> None:
    # JSON integers are exact in Python; float() of 10**400 raises OverflowError.
    huge = sign + b"1" + b"0" * digits
    body = b'{"status": "OK", "hack_score": 0.1, "verify_score": ' + huge + b"}"
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert info.value.detail == "verify_score is outside 0..1"


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_json_is_not_a_json_object(parse: Parse, depth: int) -> None:
    # The decoder recurses: nesting deep enough raises RecursionError, not a ValueError.
    nested = b"[" * depth + b"]" * depth
    with pytest.raises(ProtocolError, match="body is not a JSON object"):
        parse(nested)
    body = b'{"status": "OK", "hack_score": ' + nested + b', "verify_score": 0.9}'
    with pytest.raises(ProtocolError, match="body is not a JSON object"):
        parse(body)
    assert parse(nested, status=502).code == "HTTP_502"


@pytest.mark.parametrize(
    ("checks", "missing"),
    [(BOTH, "hack_score"), (BOTH, "verify_score"), (frozenset({Check.LIVENESS}), "hack_score")],
)
def test_missing_score_for_an_asked_check_is_a_protocol_error(
    parse: Parse, checks: frozenset[Check], missing: str
) -> None:
    body = {k: v for k, v in OK_BODY.items() if k != missing}
    with pytest.raises(ProtocolError, match=f"{missing} is missing"):
        parse(body, checks=checks)


def test_only_asked_checks_are_answered(parse: Parse) -> None:
    body = {k: v for k, v in OK_BODY.items() if k != "verify_score"}
    result = parse(body, checks=frozenset({Check.LIVENESS}))
    assert set(result.answers) == {Check.LIVENESS}
    result = parse(OK_BODY, checks=frozenset({Check.FACE_MATCH}))
    assert set(result.answers) == {Check.FACE_MATCH}


@pytest.mark.parametrize(
    ("hack", "threshold", "passed"),
    [
        (0.49, 0.5, True),
        (0.5, 0.5, False),
        (0.51, 0.5, False),
        (0.29, 0.3, True),
        (0.3, 0.3, False),
    ],
)
def test_liveness_verdict_is_hack_score_below_the_configured_threshold(
    parse: Parse,
    make_config: Callable[..., VendorConfig],
    hack: float,
    threshold: float,
    passed: bool,
) -> None:
    result = parse({**OK_BODY, "hack_score": hack}, cfg=make_config(liveness_threshold=threshold))
    assert result.answers[Check.LIVENESS].passed is passed


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html><body>Bad Gateway</body></html>", "body is not a JSON object"),
        (b"", "body is not a JSON object"),
        (b"[1, 2]", "body is not a JSON object"),
        (b'{"status": "OK", "hack_score": 0.1', "body is not a JSON object"),
        (b"\xff\xfe{}", "body is not a JSON object"),
        (b'{"hack_score": 0.1, "verify_score": 0.9}', "status is missing or not a string"),
        (b'{"status": 0}', "status is missing or not a string"),
        (
            b'{"status": "OK", "hack_score": 0.1, "verify_score": 0.9, "image_id": 7}',
            "image_id is not a string",
        ),
        (
            b'{"status": "OK", "hack_score": 0.1, "verify_score": 0.9, "request_id": []}',
            "request_id is not a string",
        ),
    ],
)
def test_malformed_200_bodies_are_protocol_errors(parse: Parse, body: bytes, detail: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert (info.value.detail, info.value.http_status) == (detail, 200)


def test_status_ok_under_an_error_http_status_is_a_protocol_error(parse: Parse) -> None:
    with pytest.raises(ProtocolError, match="status OK with HTTP 500"):
        parse(OK_BODY, status=500)


def test_documented_error_body(parse: Parse) -> None:
    result = parse(
        {"status": "DOWNLOAD_TIMEOUT", "image": "selfie_url", "request_id": "TID1"}, status=400
    )
    assert (result.ok, result.http_status, result.code, result.request_id) == (
        False,
        400,
        "DOWNLOAD_TIMEOUT",
        "TID1",
    )
    assert result.extras == {"image": "selfie_url"}
    assert result.message == "fetching the url timed out"
    assert result.answers == {}


def test_vendor_reason_becomes_the_message_cleaned(parse: Parse) -> None:
    reason = "api_secret\x00 is\x1b wrong" + "!" * 300
    result = parse({"status": "INVALID_ARGUMENT", "reason": reason}, status=400)
    assert result.message.startswith("api_secret is wrong!!")
    assert len(result.message) == 200
    assert "\x00" not in result.message
    assert "\x1b" not in result.message


@pytest.mark.parametrize(
    "image", ["https://x.example.com/zhang-san.jpg", "selfie_file\n", "selfie_file\r\n", "ｓelfie"]
)
def test_image_that_is_not_a_field_name_is_not_kept(
    parse: Parse, hooks: VendorHooks, spec: VendorSpec, image: str
) -> None:
    result = parse({"status": "DOWNLOAD_ERROR", "image": image}, status=400)
    assert "image" not in result.extras
    # Nor does it reach the reason, even when another plugin's result carries it.
    forged = attrs.evolve(result, extras={"image": image})
    got = hooks.classify_error(vendor=spec, result=forged, check=None, error=None)
    assert got.reason == "linkface:DOWNLOAD_ERROR"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, b"<html>502 Bad Gateway</html>"),
        (503, b""),
        (429, b"slow down"),
        (504, b'{"message": "gateway timeout"}'),
        (404, b"[]"),
    ],
)
def test_errors_without_a_vendor_json_body_are_http_failures(
    parse: Parse, status: int, body: bytes
) -> None:
    result = parse(body, status=status)
    assert (result.ok, result.code, result.http_status, result.answers) == (
        False,
        f"HTTP_{status}",
        status,
        {},
    )


def test_retry_after_header_is_kept(parse: Parse) -> None:
    result = parse({"status": "RATE_LIMIT_EXCEEDED"}, status=403, headers={"retry-after": "2"})
    assert result.extras["retry_after"] == "2"
    result = parse(b"", status=503, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert "retry_after" not in result.extras


@pytest.mark.parametrize(
    "text",
    ["\u0662", "\uff12", "1\u0660", " 2", "2 ", "2\n", "1_0", "nan", "inf", "-1", "", "0x10"],
)
def test_retry_after_that_is_not_ascii_decimal_is_dropped(parse: Parse, text: str) -> None:
    result = parse({"status": "RATE_LIMIT_EXCEEDED"}, status=403, headers={"retry-after": text})
    assert "retry_after" not in result.extras
    result = parse(b"busy", status=503, headers={"retry-after": text})
    assert "retry_after" not in result.extras


def test_non_ok_status_on_200_is_a_failure_not_a_pass(parse: Parse) -> None:
    result = parse({"status": "SOMETHING_NEW", "request_id": "TID2"}, status=200)
    assert (result.ok, result.code, result.answers) == (False, "SOMETHING_NEW", {})
