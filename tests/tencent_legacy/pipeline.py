"""An answer body through what the engine does with it, without the network: the plugin's parse,
core's ``VendorClient.interpret`` (classify, normalize) and ``judge`` with the policy's
threshold, as the decision path applies them."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kycmux import (
    CallOutcome,
    Check,
    CheckPolicy,
    HttpClient,
    PluginHost,
    Policy,
    SendResult,
    VendorClient,
    VendorConfig,
    VendorRequest,
    VendorResponse,
)
from kycmux.decision import VendorVerdict, judge

VENDOR = "tencent_legacy"
LIVEDETECTFOUR, IDCARDCOMPARE = "livedetectfour", "idcardcompare"


def policy(
    host: PluginHost, *, max_far: float | None = None, raw: Mapping[Check, float] | None = None
) -> Policy:
    """Tencent alone for every check; ``max_far`` for face_match, ``raw`` thresholds by check."""
    raw = raw or {}
    rules = {
        check: CheckPolicy(
            (VENDOR,),
            max_far=max_far if check is Check.FACE_MATCH else None,
            raw_thresholds={VENDOR: raw[check]} if check in raw else {},
        )
        for check in Check
    }
    return Policy("tencent-alone", rules).validate(host.vendors)


@attrs.frozen
class Judged:
    """One body's way through the decision path.

    Attributes:
        outcome: What ``VendorClient.interpret`` made of it.
        verdicts: ``judge``'s verdict on each check the request served.
    """

    outcome: CallOutcome
    verdicts: Mapping[Check, VendorVerdict]

    def passed(self) -> frozenset[Check]:
        return frozenset(c for c, v in self.verdicts.items() if v.verdict.value == "pass")


@attrs.define
class Pipeline:
    """Judges answer bodies as the engine would, under one policy."""

    host: PluginHost
    config: VendorConfig
    policy: Policy
    http: HttpClient  # never used: nothing is sent

    def judge(
        self, operation: str, checks: frozenset[Check], body: bytes, status: int = 200
    ) -> Judged:
        client = VendorClient(self.host, {VENDOR: self.config}, self.http)
        request = VendorRequest(VENDOR, operation, checks, "POST", f"https://x/face/{operation}")
        response = VendorResponse(status, {"content-type": "application/json"}, body)
        outcome = client.interpret(request, SendResult(response, None, True, 0.0), 1, 0.0)
        spec = self.host.vendor(VENDOR)
        verdicts = {}
        for check in checks:
            reading = outcome.readings[check]
            score_spec = spec.score_spec(reading.score.name) if reading.score else None
            threshold = self.policy.threshold(spec, check, score_spec)
            verdicts[check] = judge(VENDOR, reading, threshold)
        return Judged(outcome, verdicts)
