"""What the engine decides from Linkface answers: scores it cannot trust, and the thresholds.

Every test here goes through ``VendorClient.interpret`` (parse → classify_error →
normalize_score) and ``judge`` with ``Policy.threshold`` (the conftest ``Pipeline``), so "pass"
means what the engine would decide, not what a helper returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import (
    AttemptContext,
    Check,
    Classification,
    ErrorClass,
    Evidence,
    RawScore,
    Threshold,
    VendorConfig,
    VendorHooks,
    VendorMediaId,
    VendorRequest,
    VendorResponse,
    VendorSpec,
    Verdict,
)
from kycmux.simkit import SimResponse, SimulatorApp, serve
from kycmux_linkface._spec import HACK_SCORE, PATH, VERIFY_SCORE
from linkface.pipeline import PipelineFactory, policy

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
MALFORMED = Classification(ErrorClass.VENDOR_UNAVAILABLE, "malformed_response")

ConfigFactory = Callable[..., VendorConfig]


def ok_body(hack: Any, verify: Any) -> dict[str, Any]:
    return {"request_id": "TID1", "status": "OK", "hack_score": hack, "verify_score": verify}


def ok_response(hack: Any, verify: Any) -> VendorResponse:
    body = json.dumps(ok_body(hack, verify), ensure_ascii=False).encode()
    return VendorResponse(200, {"content-type": "application/json"}, body)


def request_for(checks: frozenset[Check] = BOTH) -> VendorRequest:
    return VendorRequest(
        "linkface",
        "liveness_selfie_verification",
        checks,
        "POST",
        "https://cloudapi.linkface.cn" + PATH,
    )


# -- scores that are not ASCII decimal notation, over the wire ---------------------------------


def canned(body: bytes) -> SimulatorApp:
    """A loopback "Linkface" that answers every verification with ``body`` (HTTP 200)."""
    app = SimulatorApp()
    response = SimResponse(200, body, {"content-type": "application/json; charset=utf-8"})
    app.add_route("POST", PATH, lambda _request: response)
    return app


@pytest.mark.parametrize(
    ("hack", "verify"),
    [
        ("\u0660.\u0660\u0661", "\u0660.\u0669\u0669"),  # Arabic-Indic
        ("\uff10.\uff10\uff11", "\uff10.\uff19\uff19"),  # full-width
        ("0.01", "0.9\u0669"),
        (" 0.01 ", " 0.99 "),
        ("0.01\n", "0.99\n"),
        ("0.0_1", "0.9_9"),
        ("0.01", "0.99"),  # the control: in ASCII, the same answer passes both checks
    ],
    ids=["arabic-indic", "full-width", "mixed", "spaces", "newline", "underscore", "ascii"],
)
def test_scores_not_in_ascii_decimal_are_never_a_pass_over_the_wire(
    pipeline: PipelineFactory,
    hooks: VendorHooks,
    spec: VendorSpec,
    make_config: ConfigFactory,
    context: AttemptContext,
    hack: str,
    verify: str,
) -> None:
    # UTF-8 on the wire, as the vendor sends Chinese; not \u escapes.
    body = json.dumps(ok_body(hack, verify), ensure_ascii=False).encode()
    evidence = Evidence(
        selfie=VendorMediaId("linkface", "IMG1"), liveness_data=VendorMediaId("linkface", "LD1")
    )
    with serve(canned(body)) as running:
        config = make_config(base_url=running.base_url)
        request = hooks.build_request(
            vendor=spec, checks=BOTH, evidence=evidence, config=config, context=context
        )
        path = pipeline(config)
        outcome = path.call(request)
    assert outcome.http_status == 200
    verdicts = path.judge(outcome, policy())
    if (hack, verify) == ("0.01", "0.99"):
        assert {c: v.verdict for c, v in verdicts.items()} == dict.fromkeys(BOTH, Verdict.PASS)
        return
    assert outcome.failure == MALFORMED
    for verdict in verdicts.values():
        assert (verdict.verdict, verdict.reason) == (Verdict.ERROR, "malformed_response")


# -- threshold semantics -----------------------------------------------------------------------


def test_score_specs_declare_the_vendors_comparison() -> None:
    # The original: "verify_score阈值为0.7 … 大于等于0.7是同一人" (at or above 0.7: same person).
    assert VERIFY_SCORE.inclusive is True
    # hack_score is ours to threshold: live strictly below it, so a tie is not live.
    assert HACK_SCORE.inclusive is False


@pytest.mark.parametrize("verify", [0.7, "0.7", "0.70", "7e-1", "0.7e0"])
@pytest.mark.parametrize(
    "rules",
    [policy(), policy(max_far=1e-4), policy(face_raw=0.7)],
    ids=["default-far", "max_far-1e-4", "raw-0.7"],
)
def test_verify_score_exactly_at_the_threshold_passes(
    pipeline: PipelineFactory, config: VendorConfig, verify: Any, rules: Any
) -> None:
    path = pipeline(config)
    outcome = path.interpret(request_for(), ok_response("0.1", verify))
    verdict = path.judge(outcome, rules)[Check.FACE_MATCH]
    assert (verdict.verdict, verdict.reason) == (Verdict.PASS, "score_meets_threshold")


@pytest.mark.parametrize("verify", [0.6999, "0.69999999", 0.6999999999999999])
@pytest.mark.parametrize(
    "rules", [policy(max_far=1e-4), policy(face_raw=0.7)], ids=["max_far-1e-4", "raw-0.7"]
)
def test_verify_score_just_below_the_threshold_fails(
    pipeline: PipelineFactory, config: VendorConfig, verify: Any, rules: Any
) -> None:
    path = pipeline(config)
    outcome = path.interpret(request_for(), ok_response("0.1", verify))
    verdict = path.judge(outcome, rules)[Check.FACE_MATCH]
    assert (verdict.verdict, verdict.error_class) == (Verdict.FAIL, ErrorClass.IDENTITY_MISMATCH)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("source", ["vendor_verdict", "raw"])
def test_hack_score_exactly_at_the_threshold_is_not_live(
    pipeline: PipelineFactory, make_config: ConfigFactory, threshold: float, source: str
) -> None:
    # The configured liveness_threshold (the plugin's own verdict) and a policy's raw
    # threshold on hack_score mean the same thing: live strictly below it.
    config = make_config(liveness_threshold=threshold)
    rules = policy(liveness_raw=threshold if source == "raw" else None)
    path = pipeline(config)
    outcome = path.interpret(request_for(), ok_response(str(threshold), "0.9"))
    verdict = path.judge(outcome, rules)[Check.LIVENESS]
    assert verdict.threshold is not None
    assert verdict.threshold.source == source
    assert (verdict.verdict, verdict.error_class) == (Verdict.FAIL, ErrorClass.NOT_LIVE)
    assert outcome.readings[Check.LIVENESS].answer.passed is False


@pytest.mark.parametrize("source", ["vendor_verdict", "raw"])
def test_hack_score_just_below_the_threshold_is_live(
    pipeline: PipelineFactory, make_config: ConfigFactory, source: str
) -> None:
    config = make_config(liveness_threshold=0.5)
    rules = policy(liveness_raw=0.5 if source == "raw" else None)
    path = pipeline(config)
    outcome = path.interpret(request_for(), ok_response("0.4999", "0.9"))
    assert path.judge(outcome, rules)[Check.LIVENESS].verdict is Verdict.PASS


_BOUNDARY = st.sampled_from([0.0, 0.1, 0.3, 0.49, 0.5, 0.51, 0.7, 0.99, 1.0])


# The fixtures are stateless (plugin hooks, a config factory): examples may share them.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hack=st.one_of(_BOUNDARY, st.floats(0.0, 1.0)),
    threshold=st.one_of(_BOUNDARY.filter(lambda t: t > 0), st.floats(0.01, 1.0)),
)
def test_the_plugins_liveness_verdict_is_the_declared_rule(
    hooks: VendorHooks, spec: VendorSpec, make_config: ConfigFactory, hack: float, threshold: float
) -> None:
    # One rule: the verdict the plugin hands over is what a raw policy threshold would decide.
    config = make_config(liveness_threshold=threshold)
    response = ok_response(hack, "0.9")
    result = hooks.parse(vendor=spec, request=request_for(), response=response, config=config)
    score = HACK_SCORE.normalize(RawScore("hack_score", hack))
    passed = result.answers[Check.LIVENESS].passed
    assert passed is Threshold("raw", raw=threshold).passes(score)
    assert passed is (hack < threshold)
