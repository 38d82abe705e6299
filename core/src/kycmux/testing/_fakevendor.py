"""A configurable in-test vendor plugin: real hooks, no simulator, for core and engine tests."""

from __future__ import annotations

import json
from typing import Any

import kycmux
from kycmux import (
    CaptureIssue,
    Check,
    CheckAnswer,
    CheckOffer,
    Classification,
    ConfigField,
    ErrorClass,
    EvidenceKind,
    LogLinearCalibration,
    Need,
    RawScore,
    ScoreKind,
    ScoreSpec,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError


class FakeVendor:
    """A vendor plugin named ``name`` serving liveness and face match in one operation.

    It answers JSON ``{"code": "...", "live": bool, "score": float}``, optionally with the
    calibration of this answer's score, ``"thresholds": {"1e-3": 0.6, "1e-4": 0.7, ...}`` (FAR
    to score), and records every hook call it sees in ``calls`` (hook name, vendor name).
    """

    def __init__(self, name: str, *, base_url: str = "https://api.example.com") -> None:
        self.name = name
        self.base_url = base_url
        self.calls: list[tuple[str, str]] = []

    @kycmux.hookimpl
    def register_vendors(self) -> list[VendorSpec]:
        return [
            VendorSpec(
                name=self.name,
                display_name=f"Fake {self.name}",
                default_base_url=self.base_url,
                offers=(
                    CheckOffer(Check.LIVENESS, "verify", (Need(EvidenceKind.SELFIE),)),
                    CheckOffer(Check.FACE_MATCH, "verify", (Need(EvidenceKind.SELFIE),)),
                ),
                config_fields=(
                    ConfigField("token", secret=True, required=True, doc="API token"),
                    ConfigField("region", default="cn"),
                    ConfigField("retries", type=int, default=1),
                ),
                scores=(
                    ScoreSpec(
                        "score",
                        Check.FACE_MATCH,
                        ScoreKind.SIMILARITY,
                        0.0,
                        1.0,
                        LogLinearCalibration(((0.5, 1e-2), (0.7, 1e-4))),
                        recommended_threshold=0.7,
                    ),
                ),
            )
        ]

    @kycmux.hookimpl
    def build_request(self, vendor: VendorSpec, checks: frozenset[Check]) -> VendorRequest:
        self.calls.append(("build_request", vendor.name))
        return VendorRequest(vendor.name, "verify", checks, "POST", f"{self.base_url}/verify")

    @kycmux.hookimpl
    def sign(self, vendor: VendorSpec, request: VendorRequest, config: Any) -> VendorRequest:
        self.calls.append(("sign", vendor.name))
        return request.with_header("X-Token", config["token"])

    @kycmux.hookimpl
    def parse(
        self, vendor: VendorSpec, request: VendorRequest, response: VendorResponse
    ) -> VendorResult:
        self.calls.append(("parse", vendor.name))
        try:
            body = json.loads(response.body)
        except ValueError:
            raise ProtocolError(vendor.name, "not JSON", http_status=response.status_code) from None
        answers = {}
        if Check.LIVENESS in request.checks:
            answers[Check.LIVENESS] = CheckAnswer(Check.LIVENESS, True, "OK", passed=body["live"])
        if Check.FACE_MATCH in request.checks:
            calibration = None
            if "thresholds" in body:  # raises ProtocolError for a malformed table
                calibration = LogLinearCalibration.from_answer(vendor.name, body["thresholds"])
            score = RawScore("score", float(body["score"]), calibration=calibration)
            answers[Check.FACE_MATCH] = CheckAnswer(Check.FACE_MATCH, True, "OK", score=score)
        return VendorResult(
            vendor.name,
            "verify",
            response.status_code,
            body["code"] == "OK",
            body["code"],
            answers=answers,
        )

    @kycmux.hookimpl
    def classify_error(
        self, vendor: VendorSpec, result: VendorResult | None
    ) -> Classification | None:
        self.calls.append(("classify_error", vendor.name))
        if result is None:
            return None
        cls, issue = CODES.get(result.code, (ErrorClass.VENDOR_UNAVAILABLE, None))
        return Classification(cls, f"{vendor.name}:{result.code}", issue)


CODES = {
    "LIMIT": (ErrorClass.RATE_LIMITED, None),
    "BADREQ": (ErrorClass.REQUEST_INVALID, None),
    "SPOOF": (ErrorClass.NOT_LIVE, None),
    "MISMATCH": (ErrorClass.IDENTITY_MISMATCH, None),
    "NOFACE": (ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_FACE),
    "REGISTRY": (ErrorClass.REGISTRY_UNUSABLE, None),
    "AUTH": (ErrorClass.CREDENTIALS_REJECTED, None),
    "DOWN": (ErrorClass.VENDOR_UNAVAILABLE, None),
}
"""The fake vendor's answer codes: each one's error class and capture issue."""
