"""Every documented Tencent legacy code, in one table, and how each maps onto the taxonomy.

The same numbers appear as the top-level ``code`` and as ``data.live_status`` /
``data.compare_status``, so one table serves all three. The simulator renders its answers
from the same rows (``site`` says where the real service puts a code).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from kycmux import (
    CaptureIssue,
    Check,
    Classification,
    CodeDefault,
    CodeTable,
    DocumentedCode,
    ErrorClass,
    VendorResult,
)

__all__ = [
    "ACCOUNT_ABNORMAL",
    "CODES",
    "CODE_TABLE",
    "HTTP_CODE_PREFIX",
    "LIVE_STATUS",
    "CodeRow",
    "Site",
    "classify",
    "meaning",
    "row_for",
    "site_of",
]

ACCOUNT_ABNORMAL = "account abnormal"
HTTP_CODE_PREFIX = "http_"
# The key, in a livedetectfour result's extras, of the call's ``data.live_status``.
LIVE_STATUS = "live_status"


class Site(enum.StrEnum):
    """Where the real service reports a code.

    Attributes:
        TOP: The top-level ``code`` (the call as a whole failed).
        LIVE: ``data.live_status`` of livedetectfour (the liveness pipeline).
        COMPARE: ``data.compare_status`` of livedetectfour (the face comparison).
    """

    TOP = "top"
    LIVE = "live"
    COMPARE = "compare"


@attrs.frozen
class CodeRow:
    """One documented code.

    Attributes:
        code: The vendor's code, as text (``"-5016"``).
        meaning: What the vendor documents it to mean (English digest).
        error_class: The taxonomy class.
        capture_issue: For ``CAPTURE_UNUSABLE``, which issue.
        site: Where the real service reports it.
        message_contains: Only rows whose text appears in the vendor's message match (code 3).
    """

    code: str
    meaning: str
    error_class: ErrorClass
    capture_issue: CaptureIssue | None = None
    site: Site = Site.TOP
    message_contains: str | None = None


_E = ErrorClass
_C = CaptureIssue
_LIVE, _CMP = Site.LIVE, Site.COMPARE

# Rows with ``message_contains`` come before the plain row of the same code.
CODES: tuple[CodeRow, ...] = (
    CodeRow("3", "account in arrears, service stopped", _E.ACCOUNT_UNAVAILABLE,
            message_contains=ACCOUNT_ABNORMAL),
    CodeRow("3", "bad request", _E.REQUEST_INVALID),
    CodeRow("4", "signature empty", _E.CREDENTIALS_REJECTED),
    CodeRow("5", "signature malformed", _E.CREDENTIALS_REJECTED),
    CodeRow("6", "AppID/bucket in the signature does not match the target",
            _E.CREDENTIALS_REJECTED),
    CodeRow("9", "signature expired", _E.CREDENTIALS_REJECTED),
    CodeRow("10", "AppID does not exist", _E.CREDENTIALS_REJECTED),
    CodeRow("11", "SecretId does not exist", _E.CREDENTIALS_REJECTED),
    CodeRow("12", "AppID and SecretId do not match", _E.CREDENTIALS_REJECTED),
    CodeRow("13", "replay attack", _E.REPLAY_DETECTED),
    CodeRow("14", "signature verification failed", _E.CREDENTIALS_REJECTED),
    CodeRow("15", "too frequent, rate limited", _E.RATE_LIMITED),
    CodeRow("16", "bucket does not exist", _E.CREDENTIALS_REJECTED),
    CodeRow("21", "invalid parameter", _E.REQUEST_INVALID),
    CodeRow("23", "request body too large", _E.REQUEST_INVALID),
    CodeRow("24", "no permission, service not enabled", _E.ACCOUNT_UNAVAILABLE),
    CodeRow("107", "authentication service unavailable", _E.VENDOR_UNAVAILABLE),
    CodeRow("108", "authentication service unavailable", _E.VENDOR_UNAVAILABLE),
    CodeRow("213", "internal error", _E.VENDOR_UNAVAILABLE),
    CodeRow("-4006", "feature extraction of the video's selfie frames failed",
            _E.CAPTURE_UNUSABLE, _C.BAD_VIDEO, _CMP),
    CodeRow("-4007", "comparison between the video's selfie frames failed",
            _E.CAPTURE_UNUSABLE, _C.BAD_VIDEO, _CMP),
    CodeRow("-4009", "feature extraction of the card photo failed",
            _E.CAPTURE_UNUSABLE, _C.BAD_IMAGE, _CMP),
    CodeRow("-4010", "similarity between selfie and card photo could not be computed",
            _E.CAPTURE_UNUSABLE, _C.OTHER, _CMP),
    CodeRow("-4011", "photo decode failed", _E.CAPTURE_UNUSABLE, _C.BAD_IMAGE),
    CodeRow("-4012", "no face detected in the photo", _E.CAPTURE_UNUSABLE, _C.NO_FACE),
    CodeRow("-4015", "no face detected in the selfie", _E.CAPTURE_UNUSABLE, _C.NO_FACE, _CMP),
    CodeRow("-4016", "selfie decode failed", _E.CAPTURE_UNUSABLE, _C.BAD_IMAGE, _CMP),
    CodeRow("-4017", "no face detected in the card photo", _E.CAPTURE_UNUSABLE, _C.NO_FACE, _CMP),
    CodeRow("-4018", "card photo decode failed", _E.CAPTURE_UNUSABLE, _C.BAD_IMAGE, _CMP),
    CodeRow("-5001", "invalid video", _E.CAPTURE_UNUSABLE, _C.BAD_VIDEO, _LIVE),
    CodeRow("-5002", "lip reading failed", _E.CAPTURE_UNUSABLE, _C.WRONG_DIGITS, _LIVE),
    CodeRow("-5005", "too few faces detected in the video", _E.CAPTURE_UNUSABLE,
            _C.TOO_FEW_FACES, _LIVE),
    CodeRow("-5007", "video has no sound", _E.CAPTURE_UNUSABLE, _C.NO_SOUND, _LIVE),
    CodeRow("-5008", "speech recognition failed: wrong digits read", _E.CAPTURE_UNUSABLE,
            _C.WRONG_DIGITS, _LIVE),
    CodeRow("-5009", "no face or mouth detected in the video", _E.CAPTURE_UNUSABLE,
            _C.NO_FACE, _LIVE),
    CodeRow("-5010", "lip movement not detected", _E.CAPTURE_UNUSABLE, _C.NO_LIP_MOVEMENT,
            _LIVE),
    CodeRow("-5011", "liveness failed (all other liveness errors)", _E.NOT_LIVE, site=_LIVE),
    CodeRow("-5012", "too much noise in the video", _E.CAPTURE_UNUSABLE, _C.TOO_NOISY, _LIVE),
    CodeRow("-5013", "voice too quiet", _E.CAPTURE_UNUSABLE, _C.TOO_QUIET, _LIVE),
    CodeRow("-5014", "invalid liveness level parameter", _E.REQUEST_INVALID, site=_LIVE),
    CodeRow("-5015", "video resolution too low (minimum 270 x 480)", _E.CAPTURE_UNUSABLE,
            _C.LOW_RESOLUTION, _LIVE),
    CodeRow("-5016", "the person in the video is not live (replay or other attack)",
            _E.NOT_LIVE, site=_LIVE),
    CodeRow("-5801", "request lacks the ID number or the ID name", _E.REQUEST_INVALID),
    CodeRow("-5802", "internal server error, service temporarily unavailable",
            _E.VENDOR_UNAVAILABLE),
    CodeRow("-5803", "ID name and ID number do not match", _E.IDENTITY_MISMATCH),
    CodeRow("-5804", "ID number invalid (e.g. after household-registration changes)",
            _E.REGISTRY_UNUSABLE),
    CodeRow("-5805", "no image given, or the url download failed", _E.REQUEST_INVALID),
    CodeRow("-5809", "registry photo invalid (re-register at the police station)",
            _E.REGISTRY_UNUSABLE),
    CodeRow("-5817", "registry photo of poor quality (verify at the police station)",
            _E.REGISTRY_UNUSABLE),
    # Not vendor codes: what parse reports for an HTTP error without a Tencent JSON body.
    CodeRow("http_429", "HTTP 429 without a Tencent body", _E.RATE_LIMITED),
)  # fmt: skip

# Explicit defaults for codes the documents do not list, by where the code was read. A
# top-level unknown code is no answer about the person: treat it like the documented internal
# errors. An unknown ``live_status`` is a liveness failure: the document files "all other
# liveness errors" under -5011. An unknown ``compare_status`` means the comparison could not
# be done on this capture: ask for a recapture rather than shopping for another vendor.
_DEFAULTS: Mapping[Site, tuple[ErrorClass, CaptureIssue | None]] = {
    Site.TOP: (ErrorClass.VENDOR_UNAVAILABLE, None),
    Site.LIVE: (ErrorClass.NOT_LIVE, None),
    Site.COMPARE: (ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.OTHER),
}


# Where each site's codes are read, as the spec's code table says it (check None: top level).
_SITE_CHECK: Mapping[Site, Check | None] = {
    Site.TOP: None,
    Site.LIVE: Check.LIVENESS,
    Site.COMPARE: Check.FACE_MATCH,
}


def _documented(row: CodeRow) -> DocumentedCode:
    http_status = (
        int(row.code.removeprefix(HTTP_CODE_PREFIX))
        if row.code.startswith(HTTP_CODE_PREFIX)
        else 200
    )
    return DocumentedCode(
        row.code,
        row.error_class,
        row.capture_issue,
        check=_SITE_CHECK[row.site],
        http_status=http_status,
        message=row.message_contains or "",
    )


CODE_TABLE = CodeTable(
    tuple(_documented(row) for row in CODES),
    tuple(
        CodeDefault(error_class, issue, check=_SITE_CHECK[site])
        for site, (error_class, issue) in _DEFAULTS.items()
    ),
)


def row_for(code: str, message: str = "") -> CodeRow | None:
    """The table row for a code and the vendor's message, or ``None`` if undocumented."""
    lowered = message.lower()
    for row in CODES:
        if row.code == code and (row.message_contains is None or row.message_contains in lowered):
            return row
    return None


def meaning(code: str) -> str:
    row = row_for(code)
    return row.meaning if row is not None else "undocumented code"


def site_of(result: VendorResult, check: Check | None) -> Site:
    """Where the status of a failed call (``check`` None) or of one check was read."""
    if check is None or check is Check.ID_REGISTRY_MATCH:
        return Site.TOP  # idcardcompare reports everything in the top-level code
    if check is Check.LIVENESS:
        return Site.LIVE
    # The document's reading order: a non-zero live_status decides face_match as well.
    return Site.COMPARE if result.extras.get(LIVE_STATUS, "0") == "0" else Site.LIVE


def classify(vendor: str, result: VendorResult, check: Check | None) -> Classification:
    """Classify a failed call (``check`` None) or one check's failed answer."""
    if check is None:
        code, message = result.code, result.message
    else:
        answer = result.answers[check]
        code, message = answer.status, answer.message
    row = row_for(code, message)
    if row is not None:
        return Classification(row.error_class, f"{vendor}:{code}", row.capture_issue)
    error_class, issue = _DEFAULTS[site_of(result, check)]
    return Classification(error_class, f"{vendor}:{code}", issue)
