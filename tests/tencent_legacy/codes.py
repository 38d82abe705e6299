"""The documented Tencent codes and what each must mean, written out independently of the
plugin's own table (shared by the unit and the over-the-wire tests)."""

from __future__ import annotations

from kycmux import CaptureIssue, ErrorClass

E, C = ErrorClass, CaptureIssue
EXPECTED: dict[str, tuple[ErrorClass, CaptureIssue | None]] = {
    "4": (E.CREDENTIALS_REJECTED, None),
    "5": (E.CREDENTIALS_REJECTED, None),
    "6": (E.CREDENTIALS_REJECTED, None),
    "9": (E.CREDENTIALS_REJECTED, None),
    "10": (E.CREDENTIALS_REJECTED, None),
    "11": (E.CREDENTIALS_REJECTED, None),
    "12": (E.CREDENTIALS_REJECTED, None),
    "13": (E.REPLAY_DETECTED, None),
    "14": (E.CREDENTIALS_REJECTED, None),
    "15": (E.RATE_LIMITED, None),
    "16": (E.CREDENTIALS_REJECTED, None),
    "21": (E.REQUEST_INVALID, None),
    "23": (E.REQUEST_INVALID, None),
    "24": (E.ACCOUNT_UNAVAILABLE, None),
    "107": (E.VENDOR_UNAVAILABLE, None),
    "108": (E.VENDOR_UNAVAILABLE, None),
    "213": (E.VENDOR_UNAVAILABLE, None),
    "-4006": (E.CAPTURE_UNUSABLE, C.BAD_VIDEO),
    "-4007": (E.CAPTURE_UNUSABLE, C.BAD_VIDEO),
    "-4009": (E.CAPTURE_UNUSABLE, C.BAD_IMAGE),
    "-4010": (E.CAPTURE_UNUSABLE, C.OTHER),
    "-4011": (E.CAPTURE_UNUSABLE, C.BAD_IMAGE),
    "-4012": (E.CAPTURE_UNUSABLE, C.NO_FACE),
    "-4015": (E.CAPTURE_UNUSABLE, C.NO_FACE),
    "-4016": (E.CAPTURE_UNUSABLE, C.BAD_IMAGE),
    "-4017": (E.CAPTURE_UNUSABLE, C.NO_FACE),
    "-4018": (E.CAPTURE_UNUSABLE, C.BAD_IMAGE),
    "-5001": (E.CAPTURE_UNUSABLE, C.BAD_VIDEO),
    "-5002": (E.CAPTURE_UNUSABLE, C.WRONG_DIGITS),
    "-5005": (E.CAPTURE_UNUSABLE, C.TOO_FEW_FACES),
    "-5007": (E.CAPTURE_UNUSABLE, C.NO_SOUND),
    "-5008": (E.CAPTURE_UNUSABLE, C.WRONG_DIGITS),
    "-5009": (E.CAPTURE_UNUSABLE, C.NO_FACE),
    "-5010": (E.CAPTURE_UNUSABLE, C.NO_LIP_MOVEMENT),
    "-5011": (E.NOT_LIVE, None),
    "-5012": (E.CAPTURE_UNUSABLE, C.TOO_NOISY),
    "-5013": (E.CAPTURE_UNUSABLE, C.TOO_QUIET),
    "-5014": (E.REQUEST_INVALID, None),
    "-5015": (E.CAPTURE_UNUSABLE, C.LOW_RESOLUTION),
    "-5016": (E.NOT_LIVE, None),
    "-5801": (E.REQUEST_INVALID, None),
    "-5802": (E.VENDOR_UNAVAILABLE, None),
    "-5803": (E.IDENTITY_MISMATCH, None),
    "-5804": (E.REGISTRY_UNUSABLE, None),
    "-5805": (E.REQUEST_INVALID, None),
    "-5809": (E.REGISTRY_UNUSABLE, None),
    "-5817": (E.REGISTRY_UNUSABLE, None),
}
# Code 3 has two meanings, told apart by the message (see test_errors).
DOCUMENTED = frozenset({"3", *EXPECTED})
# Where the real service reports a code in a livedetectfour answer (the rest: top level).
LIVE_STATUS = frozenset(c for c in EXPECTED if c.startswith("-50"))
COMPARE_STATUS = frozenset({"-4006", "-4007", "-4009", "-4010", "-4015", "-4016", "-4017", "-4018"})
# Top-level codes that belong to idcardcompare (the photo and the registry).
IDCARDCOMPARE_CODES = frozenset({"-4011", "-4012", *(c for c in EXPECTED if c.startswith("-58"))})
