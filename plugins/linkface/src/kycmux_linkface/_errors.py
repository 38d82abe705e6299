"""Every documented Linkface (HTTP status, ``status``) pair, mapped onto the common taxonomy.

One table drives both the classification here and the simulator's answers, so the two cannot
drift apart. Anything not in the table gets the explicit default of ``default_class``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import attrs

from kycmux import (
    CaptureIssue,
    Classification,
    CodeDefault,
    CodeTable,
    DocumentedCode,
    ErrorClass,
    VendorResult,
)
from kycmux_linkface._number import delay_seconds
from kycmux_linkface._spec import VENDOR

__all__ = [
    "CODE_TABLE",
    "DOCUMENTED",
    "KNOWN_STATUSES",
    "StatusEntry",
    "classify",
    "default_class",
    "http_status_of",
]

_E = ErrorClass
_C = CaptureIssue


@attrs.frozen
class StatusEntry:
    """One row of the vendor's error table.

    Attributes:
        http_status: The HTTP status the vendor answers with.
        status: The ``status`` string of the JSON body.
        error_class: What it means for the engine.
        capture_issue: For capture errors, which issue (the user's hint).
        meaning: The vendor's explanation, in English.
    """

    http_status: int
    status: str
    error_class: ErrorClass
    capture_issue: CaptureIssue | None
    meaning: str


DOCUMENTED: Final[tuple[StatusEntry, ...]] = (
    StatusEntry(400, "ENCODING_ERROR", _E.REQUEST_INVALID, None, "parameter not UTF-8"),
    # The vendor could not fetch our URL in time: transient on the fetch path, worth a retry.
    StatusEntry(400, "DOWNLOAD_TIMEOUT", _E.VENDOR_UNAVAILABLE, None, "fetching the url timed out"),
    # The URL we gave does not resolve to a file: our integration's fault, not the user's.
    StatusEntry(400, "DOWNLOAD_ERROR", _E.REQUEST_INVALID, None, "fetching the url failed"),
    # Size and format are this vendor's limits (checked locally for files); another vendor may
    # take the same capture, so these fail over instead of asking the user to recapture.
    StatusEntry(400, "IMAGE_FILE_SIZE_TOO_BIG", _E.REQUEST_INVALID, None, "image too large"),
    StatusEntry(400, "IMAGE_ID_NOT_EXIST", _E.REQUEST_INVALID, None, "image id unknown"),
    StatusEntry(
        400, "NO_FACE_DETECTED", _E.CAPTURE_UNUSABLE, _C.NO_FACE, "no face detected in an image"
    ),
    StatusEntry(
        400, "CORRUPT_IMAGE", _E.CAPTURE_UNUSABLE, _C.BAD_IMAGE, "not an image, or damaged"
    ),
    StatusEntry(
        400,
        "INVALID_IMAGE_FORMAT_OR_SIZE",
        _E.REQUEST_INVALID,
        None,
        "image format or dimensions not accepted",
    ),
    StatusEntry(
        400,
        "WRONG_LIVENESS_DATA",
        _E.CAPTURE_UNUSABLE,
        _C.BAD_LIVENESS_DATA,
        "liveness data is wrong",
    ),
    StatusEntry(400, "INVALID_ARGUMENT", _E.REQUEST_INVALID, None, "bad request parameter"),
    StatusEntry(401, "UNAUTHORIZED", _E.CREDENTIALS_REJECTED, None, "wrong account or secret"),
    StatusEntry(401, "KEY_EXPIRED", _E.ACCOUNT_UNAVAILABLE, None, "account expired"),
    StatusEntry(403, "RATE_LIMIT_EXCEEDED", _E.RATE_LIMITED, None, "call rate over the limit"),
    StatusEntry(403, "NO_PERMISSION", _E.ACCOUNT_UNAVAILABLE, None, "no permission for this API"),
    StatusEntry(403, "OUT_OF_QUOTA", _E.ACCOUNT_UNAVAILABLE, None, "call count over the quota"),
    # A wrong path is a wrong base_url or an integration bug, not an outage.
    StatusEntry(404, "NOT_FOUND", _E.REQUEST_INVALID, None, "wrong path"),
    StatusEntry(500, "INTERNAL_ERROR", _E.VENDOR_UNAVAILABLE, None, "server error"),
)

_BY_PAIR: Final[Mapping[tuple[int, str], StatusEntry]] = {
    (e.http_status, e.status): e for e in DOCUMENTED
}
_BY_STATUS: Final[Mapping[str, StatusEntry]] = {e.status: e for e in DOCUMENTED}
KNOWN_STATUSES: Final = frozenset(_BY_STATUS)

# ``image`` names a request field ("selfie_file"); anything else is not echoed into a reason.
# fullmatch: "$" would also match before a trailing newline.
_FIELD_NAME = re.compile(r"[a-z][a-z_]{0,39}", re.ASCII)


def http_status_of(status: str) -> int:
    """The HTTP status the vendor documents for ``status``."""
    return _BY_STATUS[status].http_status


def default_class(http_status: int) -> ErrorClass:
    """The explicit default for a status the vendor does not document, by HTTP status.

    5xx and anything that is not a 4xx: the vendor failed (VENDOR_UNAVAILABLE). 429: rate
    limited, as HTTP defines it. 401: credentials rejected. 403: every documented Linkface 403
    other than rate limiting is an account problem, and an undocumented one cannot be assumed
    to be a rate limit. Other 4xx: our request (REQUEST_INVALID).
    """
    if http_status == 429:
        return ErrorClass.RATE_LIMITED
    if http_status == 401:
        return ErrorClass.CREDENTIALS_REJECTED
    if http_status == 403:
        return ErrorClass.ACCOUNT_UNAVAILABLE
    if 400 <= http_status < 500:
        return ErrorClass.REQUEST_INVALID
    return ErrorClass.VENDOR_UNAVAILABLE


# The table and ``default_class`` as the spec declares them (the conformance suite reads it).
CODE_TABLE: Final = CodeTable(
    tuple(
        DocumentedCode(e.status, e.error_class, e.capture_issue, http_status=e.http_status)
        for e in DOCUMENTED
    ),
    tuple(
        CodeDefault(default_class(s), http_status=s) for s in (400, 401, 403, 404, 429, 500, 502)
    ),
)


def _entry(http_status: int, status: str) -> StatusEntry | None:
    # A documented status under another HTTP status still means what the status says: the
    # status string is the more specific of the two.
    return _BY_PAIR.get((http_status, status)) or _BY_STATUS.get(status)


def _reason(status: str, image: str | None) -> str:
    if image and _FIELD_NAME.fullmatch(image):
        return f"{VENDOR}:{status}:{image}"
    return f"{VENDOR}:{status}"


def _retry_after(result: VendorResult) -> float | None:
    text = result.extras.get("retry_after")
    return None if text is None else delay_seconds(text)


def classify(result: VendorResult, status: str | None = None) -> Classification:
    """Classify a failed call from its HTTP status and ``status`` (default: the result's code).

    The vendor's ``image`` field (which request field was at fault) is carried into the reason,
    ``linkface:<STATUS>[:<image>]``; its free-text ``reason`` stays in ``result.message``.
    """
    status = result.code if status is None else status
    image = result.extras.get("image")
    entry = _entry(result.http_status, status)
    if entry is None:
        error_class, issue = default_class(result.http_status), None
    else:
        error_class, issue = entry.error_class, entry.capture_issue
    return Classification(error_class, _reason(status, image), issue, _retry_after(result))
