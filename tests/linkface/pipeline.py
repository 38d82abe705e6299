"""The engine's decision path for one Linkface exchange, for tests that judge answers."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from kycmux import (
    CallOutcome,
    Check,
    CheckPolicy,
    Policy,
    SendResult,
    VendorClient,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorSpec,
)
from kycmux.decision import VendorVerdict, judge

__all__ = ["Pipeline", "PipelineFactory", "policy"]


def policy(
    *,
    max_far: float | None = None,
    face_raw: float | None = None,
    liveness_raw: float | None = None,
) -> Policy:
    """A policy asking Linkface for both checks; by default the engine's own thresholds
    (FAR 1e-4 for ``verify_score``, the vendor's verdict for ``hack_score``)."""

    def rule(raw: float | None, far: float | None = None) -> CheckPolicy:
        raw_thresholds = {} if raw is None else {"linkface": raw}
        return CheckPolicy(("linkface",), max_far=far, raw_thresholds=raw_thresholds)

    return Policy(
        "linkface-tests",
        {Check.LIVENESS: rule(liveness_raw), Check.FACE_MATCH: rule(face_raw, max_far)},
    )


@attrs.define
class Pipeline:
    """What the engine does with one Linkface exchange: ``VendorClient.interpret`` (parse →
    classify_error → normalize_score), then ``judge`` of each check against
    ``Policy.threshold``, as the engine's ``_judge`` does. ``call`` also signs the request and
    sends it through core's transport (``kycmux._transport._http``)."""

    client: VendorClient
    spec: VendorSpec

    def interpret(self, request: VendorRequest, response: VendorResponse) -> CallOutcome:
        sent = SendResult(response, None, True, 0.0)
        return self.client.interpret(request, sent, attempt=1, started_at=0.0)

    def call(self, request: VendorRequest) -> CallOutcome:
        return self.client.call(request, "req-pipeline", attempt=1, timeout=10.0)

    def judge(self, outcome: CallOutcome, rules: Policy) -> dict[Check, VendorVerdict]:
        verdicts = {}
        for check, reading in outcome.readings.items():
            score_spec = self.spec.score_spec(reading.score.name) if reading.score else None
            threshold = rules.threshold(self.spec, check, score_spec)
            verdicts[check] = judge(self.spec.name, reading, threshold)
        return verdicts


PipelineFactory = Callable[[VendorConfig], Pipeline]
