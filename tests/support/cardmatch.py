"""A third vendor for comparison tests: face match only, selfie against the card photo.

``CardMatch`` is a real plugin (build, sign, parse) with a simulator on loopback that judges
identity from the faces the synthetic images really show (their embedded truth), scored with
the shared ``match_strength``, so its impostor acceptance follows what the files show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
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
    EvidenceRoles,
    FileMedia,
    FilePart,
    LogLinearCalibration,
    Need,
    RawScore,
    ScoreKind,
    ScoreSpec,
    Secret,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ProtocolError
from kycmux.simkit import SimRequest, SimResponse, SimulatorApp
from kycmux.synthetic import ImageTruth, match_strength, read_truth

NAME = "cardmatch"
PATH = "/compare"
THRESHOLD = 0.6
PUBLISHED_FAR = 1e-2
"""The false-accept rate the fake vendor "publishes" for its recommended threshold."""

_CALIBRATION = LogLinearCalibration(((0.5, 1e-1), (THRESHOLD, PUBLISHED_FAR), (0.7, 1e-3)))


class CardMatchSim(SimulatorApp):
    """Compares the selfie with the card photo by the persons they show."""

    def routes(self) -> Mapping[tuple[str, str], Any]:
        return {("POST", PATH): self.compare}

    def compare(self, request: SimRequest) -> SimResponse:
        form = request.form()
        selfie, card = (_image(form.files.get(name)) for name in ("selfie", "card"))
        if selfie is None or card is None:
            return SimResponse.json(200, {"code": "NOFACE"})
        strength = match_strength(
            selfie.person,
            card.person,
            difficulty=max(selfie.difficulty, card.difficulty),
            salt=NAME,
        )
        return SimResponse.json(200, {"code": "OK", "score": round(strength, 4)})

    def render_fault(self, kind: Any) -> SimResponse:
        return SimResponse.json(500, {"code": "DOWN"})

    def client_settings(self) -> Mapping[str, str | Secret]:
        return {"token": Secret("sim-token")}


def _image(parts: Any) -> ImageTruth | None:
    if not parts:
        return None
    truth = read_truth(parts[0].data)
    return truth if isinstance(truth, ImageTruth) else None


class CardMatch:
    """The plugin: one operation, face match only, selfie (live) against card (reference)."""

    @kycmux.hookimpl
    def register_vendors(self) -> list[VendorSpec]:
        needs = (Need(EvidenceKind.SELFIE), Need(EvidenceKind.REFERENCE_PHOTO))
        roles = EvidenceRoles(live=EvidenceKind.SELFIE, reference=EvidenceKind.REFERENCE_PHOTO)
        return [
            VendorSpec(
                name=NAME,
                display_name="Card match (test vendor)",
                default_base_url="https://cardmatch.example.com",
                offers=(CheckOffer(Check.FACE_MATCH, "compare", needs, roles=roles),),
                config_fields=(ConfigField("token", secret=True, required=True),),
                scores=(
                    ScoreSpec(
                        "score",
                        Check.FACE_MATCH,
                        ScoreKind.SIMILARITY,
                        0.0,
                        1.0,
                        _CALIBRATION,
                        recommended_threshold=THRESHOLD,
                        inclusive=True,
                    ),
                ),
                simulator=CardMatchSim,
            )
        ]

    @kycmux.hookimpl
    def build_request(
        self, vendor: VendorSpec, checks: frozenset[Check], evidence: Any, config: Any
    ) -> VendorRequest:
        files = []
        for field, media in (("selfie", evidence.selfie), ("card", evidence.reference_photo)):
            assert isinstance(media, FileMedia)
            files.append(FilePart(field, f"{field}.img", path=media.path))
        return VendorRequest(
            NAME, "compare", checks, "POST", config.base_url + PATH, files=tuple(files)
        )

    @kycmux.hookimpl
    def sign(self, vendor: VendorSpec, request: VendorRequest, config: Any) -> VendorRequest:
        return request.with_header("X-Token", config["token"])

    @kycmux.hookimpl
    def parse(
        self, vendor: VendorSpec, request: VendorRequest, response: VendorResponse
    ) -> VendorResult:
        try:
            body = json.loads(response.body)
        except ValueError:
            raise ProtocolError(NAME, "not JSON", http_status=response.status_code) from None
        ok = body.get("code") == "OK"
        answers = {}
        if ok:
            score = float(body["score"])
            if not math.isfinite(score):
                raise ProtocolError(NAME, "score is not finite", http_status=response.status_code)
            answers[Check.FACE_MATCH] = CheckAnswer(
                Check.FACE_MATCH, True, "OK", score=RawScore("score", score)
            )
        return VendorResult(
            NAME, "compare", response.status_code, ok, body.get("code"), answers=answers
        )

    @kycmux.hookimpl
    def classify_error(
        self, vendor: VendorSpec, result: VendorResult | None
    ) -> Classification | None:
        if result is None:
            return None
        if result.code == "NOFACE":
            return Classification(
                ErrorClass.CAPTURE_UNUSABLE, f"{NAME}:NOFACE", CaptureIssue.NO_FACE
            )
        return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"{NAME}:{result.code}")
