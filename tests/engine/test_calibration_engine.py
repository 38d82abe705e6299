"""Per-answer calibration through the engine: verdicts follow the table the answer published,
and the record says which table gave each FAR (contract v2, issue 13)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kycmux
from kycmux import (
    CalibrationUsed,
    Check,
    CheckPolicy,
    Evidence,
    LogLinearCalibration,
    Outcome,
    Policy,
    RawScore,
    RetryPolicy,
    Score,
    VendorResult,
    VendorSettings,
    VendorSpec,
)
from kycmux.testing import FakeClock, FakeVendor, Rig

pytestmark = pytest.mark.anyio

# The fake vendor declares 0.5 -> FAR 1e-2 and 0.7 -> FAR 1e-4.
LENIENT = {"1e-3": 0.5, "1e-4": 0.6, "1e-5": 0.65}  # 0.65 is FAR 1e-5 here, ~3e-4 declared
STRICT = {"1e-3": 0.7, "1e-4": 0.8, "1e-5": 0.9}  # 0.75 is ~3e-4 here, ~3e-5 declared


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file)


def rig_of(**vendors: FakeVendor) -> Rig:
    names = vendors or {"alpha": FakeVendor("alpha", base_url="https://alpha.example.com")}
    return Rig(FakeClock(), {n: [] for n in names}, dict.fromkeys(names, 0), dict(names))


def alpha_only(max_far: float = 1e-4) -> Policy:
    once = VendorSettings(retry=RetryPolicy(max_attempts=1))
    return Policy(
        "p",
        {Check.FACE_MATCH: CheckPolicy(("alpha",), max_far=max_far)},
        vendors={"alpha": once},
    )


def reply(score: float, thresholds: object = None) -> httpx.Response:
    body: dict[str, Any] = {"code": "OK", "live": True, "score": score}
    if thresholds is not None:
        body["thresholds"] = thresholds
    # allow_nan: a vendor may well send NaN; the body is what it is.
    return httpx.Response(200, content=json.dumps(body, allow_nan=True).encode())


async def test_a_lenient_answer_table_passes_what_the_declared_one_would_fail(
    evidence: Evidence,
) -> None:
    rig = rig_of()
    rig.script("alpha", reply(0.65, LENIENT), reply(0.65))
    async with rig.engine(alpha_only()) as engine:
        by_answer = await engine.verify(evidence)
        declared = await engine.verify(evidence)

    assert by_answer.outcome is Outcome.ACCEPT, by_answer.record.explanation
    assert declared.outcome is Outcome.REJECT, declared.record.explanation
    score = by_answer.record.to_dict()["checks"][0]["scores"]["alpha"]
    assert score["far"] == 1e-5
    assert score["calibration"] == {
        "source": "answer",
        "points": [[0.5, 1e-3], [0.6, 1e-4], [0.65, 1e-5]],
    }
    assert by_answer.record.to_dict()["attempts"][0]["scores"]["face_match"] == {
        k: v for k, v in score.items() if k != "threshold"
    }
    assert "alpha: FAR 1e-05 <= max 0.0001 by the per-answer calibration" in (
        by_answer.record.explanation
    )
    declared_score = declared.record.to_dict()["checks"][0]["scores"]["alpha"]
    assert declared_score["calibration"] == {
        "source": "declared",
        "points": [[0.5, 1e-2], [0.7, 1e-4]],
    }
    assert "by the declared calibration" in declared.record.explanation


async def test_a_strict_answer_table_fails_what_the_declared_one_would_pass(
    evidence: Evidence,
) -> None:
    rig = rig_of()
    rig.script("alpha", reply(0.75, STRICT))
    async with rig.engine(alpha_only()) as engine:
        decision = await engine.verify(evidence)

    assert decision.outcome is Outcome.REJECT, decision.record.explanation
    assert decision.record.checks[0].scores["alpha"]["calibration"]["source"] == "answer"
    assert "alpha: FAR 0.000316 > max 0.0001 by the per-answer calibration" in (
        decision.record.explanation
    )


async def test_a_max_far_beyond_the_answer_table_is_no_verdict_unless_extrapolation_is_allowed(
    evidence: Evidence,
) -> None:
    short = {"1e-1": 0.3, "1e-2": 0.4}  # 0.9 extrapolates far below 1e-4 on it
    rig = rig_of()
    rig.script("alpha", reply(0.9, short), reply(0.9, short))
    extrapolating = attrs.evolve(
        alpha_only(),
        name="x",
        checks={Check.FACE_MATCH: CheckPolicy(("alpha",), max_far=1e-4, allow_extrapolation=True)},
    )
    async with rig.engine(alpha_only(), extrapolating) as engine:
        refused = await engine.verify(evidence, policy="p")
        allowed = await engine.verify(evidence, policy=extrapolating.name)

    assert refused.outcome is Outcome.ERROR
    assert refused.record.checks[0].reason == "alpha:max_far_outside_answer_calibration"
    assert "alpha's answer published a calibration not reaching the policy's max_far" in (
        refused.record.explanation
    )
    assert allowed.outcome is Outcome.ACCEPT, allowed.record.explanation


_BAD_NUMBER = st.sampled_from(
    [math.nan, math.inf, -math.inf, "٠.٠٠١", "1e-3 ", "NaN", "0x1p-3", True, None, []]
)


@st.composite
def malformed(draw: st.DrawFn) -> object:
    """A thresholds table that breaks one rule: unordered, a FAR of 0 or above 1, NaN, a
    non-ASCII number, too few points, or not a table at all."""
    kind = draw(st.sampled_from(["unordered", "bad_far", "bad_score", "few", "shape"]))
    fars = ["1e-3", "1e-4", "1e-5"]
    scores = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3, unique=True)))
    if kind == "unordered":
        shuffled = draw(st.permutations(scores).filter(lambda p: list(p) != scores))
        return dict(zip(fars, shuffled, strict=True))
    table: dict[str, object] = dict(zip(fars, scores, strict=True))
    if kind == "bad_far":
        table[draw(st.sampled_from(["0", "1.5", "-1e-3", "nan", "٠.١", "1e-3\n"]))] = 0.95
        del table[draw(st.sampled_from(fars))]
    elif kind == "bad_score":
        table[draw(st.sampled_from(fars))] = draw(_BAD_NUMBER)
    elif kind == "few":
        return dict(list(table.items())[: draw(st.integers(0, 1))])
    else:
        return draw(st.sampled_from([[], "0.5", 0.5, [[0.5]], [[0.5, 1e-3, 1]], True]))
    return table


# The photo file is only read: sharing it between examples is harmless.
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(thresholds=malformed(), score=st.floats(0.0, 1.0))
def test_a_malformed_answer_table_is_never_a_pass(
    evidence: Evidence, thresholds: object, score: float
) -> None:
    rig = rig_of()
    rig.script("alpha", reply(score, thresholds))
    with rig.engine(alpha_only(max_far=1e-2)) as engine:
        decision = engine.verify_sync(evidence)

    assert decision.outcome is not Outcome.ACCEPT
    assert decision.record.checks[0].verdict != "pass"
    assert decision.record.attempts[0].reason == "malformed_response"
    assert not decision.record.attempts[0].scores


class OldStyleVendor(FakeVendor):
    """A vendor plugin with its own contract v1 ``normalize_score(vendor, check, raw)``."""

    @kycmux.hookimpl
    def normalize_score(self, vendor: VendorSpec, check: Check, raw: RawScore) -> Score:
        spec = vendor.score_spec(raw.name)
        assert spec is not None
        # v1 built its Score by hand and stated no calibration.
        declared = spec.normalize(RawScore(raw.name, raw.value))
        return Score(raw.name, raw.value, 0.0, 1.0, spec.kind, far=declared.far)


MODEL_B = LogLinearCalibration(((0.8, 1e-3), (0.9, 1e-4)))


class ModelAwareVendor(FakeVendor):
    """A v2 plugin choosing the table by the model its answer names (``result.extras``)."""

    @kycmux.hookimpl
    def parse(self, vendor: VendorSpec, request: Any, response: Any) -> VendorResult:
        result = super().parse(vendor, request, response)
        model = json.loads(response.body).get("model", "a")
        return VendorResult(
            result.vendor,
            result.operation,
            result.http_status,
            result.ok,
            result.code,
            answers=result.answers,
            extras={"model": model},
        )

    @kycmux.hookimpl
    def normalize_score(self, vendor: VendorSpec, raw: RawScore, result: VendorResult) -> Score:
        spec = vendor.score_spec(raw.name)
        assert spec is not None
        if result.extras.get("model") != "b":
            return spec.normalize(raw)
        far, extrapolated = MODEL_B.far(raw.value)
        used = CalibrationUsed(MODEL_B, "model_b")
        return Score(raw.name, raw.value, 0.0, 1.0, spec.kind, far, extrapolated, calibration=used)


async def test_an_old_style_normalize_score_still_decides(evidence: Evidence) -> None:
    rig = rig_of(alpha=OldStyleVendor("alpha", base_url="https://alpha.example.com"))
    rig.script("alpha", reply(0.75), reply(0.65))
    async with rig.engine(alpha_only()) as engine:
        passed = await engine.verify(evidence)
        failed = await engine.verify(evidence)

    assert (passed.outcome, failed.outcome) == (Outcome.ACCEPT, Outcome.REJECT)
    calibration = passed.record.to_dict()["checks"][0]["scores"]["alpha"]["calibration"]
    assert calibration == {"source": "plugin", "points": None}
    assert "by the plugin's own calibration" in passed.record.explanation


async def test_a_v2_plugin_reads_the_answer_and_names_its_calibration(
    evidence: Evidence,
) -> None:
    rig = rig_of(alpha=ModelAwareVendor("alpha", base_url="https://alpha.example.com"))
    model_b = httpx.Response(200, json={"code": "OK", "live": True, "score": 0.75, "model": "b"})
    rig.script("alpha", model_b, reply(0.75))
    async with rig.engine(alpha_only()) as engine:
        on_b = await engine.verify(evidence)
        on_a = await engine.verify(evidence)

    assert (on_b.outcome, on_a.outcome) == (Outcome.REJECT, Outcome.ACCEPT)
    calibration = on_b.record.to_dict()["checks"][0]["scores"]["alpha"]["calibration"]
    assert calibration == {"source": "model_b", "points": [[0.8, 1e-3], [0.9, 1e-4]]}
    assert "by the model_b calibration" in on_b.record.explanation
    assert on_a.record.checks[0].scores["alpha"]["calibration"]["source"] == "declared"
