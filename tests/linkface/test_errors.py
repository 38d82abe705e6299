"""classify_error: every documented (HTTP status, status) pair, and the explicit defaults."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kycmux import (
    CaptureIssue,
    Check,
    CheckAnswer,
    Classification,
    ErrorClass,
    RawScore,
    VendorHooks,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux_linkface import classify_error
from kycmux_linkface._errors import DOCUMENTED

E = ErrorClass
C = CaptureIssue

# The vendor document's error table, row by row (NO_FACE_DETECTED appears twice there), with
# the class each must get. Written out here so a change to the plugin's table is caught.
VENDOR_TABLE: list[tuple[int, str, ErrorClass, CaptureIssue | None]] = [
    (400, "ENCODING_ERROR", E.REQUEST_INVALID, None),
    (400, "DOWNLOAD_TIMEOUT", E.VENDOR_UNAVAILABLE, None),
    (400, "DOWNLOAD_ERROR", E.REQUEST_INVALID, None),
    (400, "IMAGE_FILE_SIZE_TOO_BIG", E.REQUEST_INVALID, None),
    (400, "IMAGE_ID_NOT_EXIST", E.REQUEST_INVALID, None),
    (400, "NO_FACE_DETECTED", E.CAPTURE_UNUSABLE, C.NO_FACE),
    (400, "CORRUPT_IMAGE", E.CAPTURE_UNUSABLE, C.BAD_IMAGE),
    (400, "INVALID_IMAGE_FORMAT_OR_SIZE", E.REQUEST_INVALID, None),
    (400, "NO_FACE_DETECTED", E.CAPTURE_UNUSABLE, C.NO_FACE),
    (400, "WRONG_LIVENESS_DATA", E.CAPTURE_UNUSABLE, C.BAD_LIVENESS_DATA),
    (400, "INVALID_ARGUMENT", E.REQUEST_INVALID, None),
    (401, "UNAUTHORIZED", E.CREDENTIALS_REJECTED, None),
    (401, "KEY_EXPIRED", E.ACCOUNT_UNAVAILABLE, None),
    (403, "RATE_LIMIT_EXCEEDED", E.RATE_LIMITED, None),
    (403, "NO_PERMISSION", E.ACCOUNT_UNAVAILABLE, None),
    (403, "OUT_OF_QUOTA", E.ACCOUNT_UNAVAILABLE, None),
    (404, "NOT_FOUND", E.REQUEST_INVALID, None),
    (500, "INTERNAL_ERROR", E.VENDOR_UNAVAILABLE, None),
]

Classify = Callable[..., Classification | None]


def failed(http_status: int, code: str, **extras: str) -> VendorResult:
    return VendorResult(
        vendor="linkface",
        operation="liveness_selfie_verification",
        http_status=http_status,
        ok=False,
        code=code,
        extras=extras,
    )


@pytest.fixture
def classify(hooks: VendorHooks, spec: VendorSpec) -> Classify:
    def run(
        result: VendorResult | None = None,
        check: Check | None = None,
        error: BaseException | None = None,
    ) -> Classification | None:
        answer: Classification | None = hooks.classify_error(
            vendor=spec, result=result, check=check, error=error
        )
        return answer

    return run


def test_plugin_table_is_exactly_the_vendor_table() -> None:
    rows = {(e.http_status, e.status, e.error_class, e.capture_issue) for e in DOCUMENTED}
    assert rows == set(VENDOR_TABLE)
    assert len(DOCUMENTED) == len({(e.http_status, e.status) for e in DOCUMENTED})


@pytest.mark.parametrize(("http_status", "status", "error_class", "issue"), VENDOR_TABLE)
def test_every_documented_pair(
    classify: Classify,
    http_status: int,
    status: str,
    error_class: ErrorClass,
    issue: CaptureIssue | None,
) -> None:
    assert classify(failed(http_status, status)) == Classification(
        error_class, f"linkface:{status}", issue
    )


def test_image_field_is_carried_into_the_reason(classify: Classify) -> None:
    got = classify(failed(400, "NO_FACE_DETECTED", image="selfie_file"))
    assert got == Classification(
        E.CAPTURE_UNUSABLE, "linkface:NO_FACE_DETECTED:selfie_file", C.NO_FACE
    )
    got = classify(failed(400, "DOWNLOAD_ERROR", image="liveness_data_url"))
    assert got is not None
    assert got.reason == "linkface:DOWNLOAD_ERROR:liveness_data_url"


def test_image_that_is_not_a_field_name_stays_out_of_the_reason(classify: Classify) -> None:
    got = classify(failed(400, "DOWNLOAD_ERROR", image="http://x/110101199003074514.jpg"))
    assert got is not None
    assert got.reason == "linkface:DOWNLOAD_ERROR"


def test_documented_status_under_another_http_status_keeps_its_meaning(
    classify: Classify,
) -> None:
    got = classify(failed(429, "RATE_LIMIT_EXCEEDED"))
    assert got == Classification(E.RATE_LIMITED, "linkface:RATE_LIMIT_EXCEEDED")
    got = classify(failed(400, "INTERNAL_ERROR"))
    assert got is not None
    assert got.error_class is E.VENDOR_UNAVAILABLE


@pytest.mark.parametrize(
    ("http_status", "error_class"),
    [
        (400, E.REQUEST_INVALID),
        (401, E.CREDENTIALS_REJECTED),
        (403, E.ACCOUNT_UNAVAILABLE),
        (404, E.REQUEST_INVALID),
        (413, E.REQUEST_INVALID),
        (429, E.RATE_LIMITED),
        (500, E.VENDOR_UNAVAILABLE),
        (502, E.VENDOR_UNAVAILABLE),
        (200, E.VENDOR_UNAVAILABLE),
    ],
)
def test_unknown_status_default_by_http_status(
    classify: Classify, http_status: int, error_class: ErrorClass
) -> None:
    assert classify(failed(http_status, "NEW_STATUS")) == Classification(
        error_class, "linkface:NEW_STATUS"
    )


@pytest.mark.parametrize(
    ("http_status", "error_class"),
    [
        (502, E.VENDOR_UNAVAILABLE),
        (503, E.VENDOR_UNAVAILABLE),
        (429, E.RATE_LIMITED),
        (404, E.REQUEST_INVALID),
        (400, E.REQUEST_INVALID),
    ],
)
def test_http_errors_without_json_body(
    classify: Classify, http_status: int, error_class: ErrorClass
) -> None:
    assert classify(failed(http_status, f"HTTP_{http_status}")) == Classification(
        error_class, f"linkface:HTTP_{http_status}"
    )


def test_retry_after_is_passed_on(classify: Classify) -> None:
    got = classify(failed(403, "RATE_LIMIT_EXCEEDED", retry_after="1.5"))
    assert got is not None
    assert got.retry_after == 1.5


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ReadTimeout("slow"), "read_timeout"),
        (ProtocolError("linkface", "body is not a JSON object"), "malformed_response"),
    ],
)
def test_transport_errors_are_left_to_core(
    classify: Classify, error: BaseException, reason: str
) -> None:
    got = classify(error=error)
    assert got is not None
    assert got.reason == reason


def test_successful_result_and_completed_answers_are_not_errors() -> None:
    # Called directly: through the host, core's trylast default would answer after us.
    answer = CheckAnswer(Check.LIVENESS, True, "OK", score=RawScore("hack_score", 0.1))
    ok = VendorResult(
        "linkface",
        "liveness_selfie_verification",
        200,
        True,
        "OK",
        answers={Check.LIVENESS: answer},
    )
    assert classify_error(result=ok, check=None, error=None) is None
    assert classify_error(result=ok, check=Check.LIVENESS, error=None) is None


def test_incomplete_answer_is_classified_by_its_status(classify: Classify) -> None:
    answer = CheckAnswer(Check.LIVENESS, False, "WRONG_LIVENESS_DATA")
    result = VendorResult(
        "linkface",
        "liveness_selfie_verification",
        200,
        True,
        "OK",
        answers={Check.LIVENESS: answer},
    )
    assert classify(result, Check.LIVENESS) == Classification(
        E.CAPTURE_UNUSABLE, "linkface:WRONG_LIVENESS_DATA", C.BAD_LIVENESS_DATA
    )


def test_check_of_a_failed_call_shares_the_call_classification(classify: Classify) -> None:
    result = failed(400, "WRONG_LIVENESS_DATA")
    assert (
        classify(result, Check.FACE_MATCH)
        == classify(result)
        == Classification(E.CAPTURE_UNUSABLE, "linkface:WRONG_LIVENESS_DATA", C.BAD_LIVENESS_DATA)
    )
