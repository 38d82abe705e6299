"""Contract v2: a raw score may carry the calibration its answer published, and every score
says which calibration gave its FAR (issue 13)."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kycmux
from kycmux import (
    CalibrationSource,
    CalibrationUsed,
    Check,
    LogLinearCalibration,
    PluginHost,
    RawScore,
    Score,
    ScoreKind,
    ScoreSpec,
    VendorResult,
    VendorSpec,
)
from kycmux._records._record import to_plain
from kycmux.exceptions import PluginError, ProtocolError
from kycmux.testing import FakeVendor

DECLARED = LogLinearCalibration(((0.5, 1e-2), (0.7, 1e-4)))
SPEC = ScoreSpec("score", Check.FACE_MATCH, ScoreKind.SIMILARITY, 0.0, 1.0, DECLARED)
THRESHOLDS = {"1e-3": 0.6, "1e-4": 0.65, "1e-5": 0.7}


def test_an_answer_table_is_read_in_far_order_whatever_the_object_order() -> None:
    shuffled = {"1e-5": 0.7, "1e-3": 0.6, "1e-4": "0.65"}
    table = LogLinearCalibration.from_answer("v", shuffled)
    assert table.points == ((0.6, 1e-3), (0.65, 1e-4), (0.7, 1e-5))
    assert LogLinearCalibration.from_answer("v", [[0.6, 1e-3], (0.7, "1e-5")]).points == (
        (0.6, 1e-3),
        (0.7, 1e-5),
    )


def test_the_answer_calibration_wins_over_the_declared_one() -> None:
    table = LogLinearCalibration.from_answer("v", THRESHOLDS)
    score = SPEC.normalize(RawScore("score", 0.7, calibration=table))
    assert score.far == 1e-5  # the declared table says 1e-4 at 0.7
    assert score.calibration == CalibrationUsed(table, CalibrationSource.ANSWER)
    assert score.calibration_source == "answer"
    assert score.as_dict()["calibration"] == {"source": "answer", "points": table.points}


def test_without_one_the_declared_calibration_is_used_and_shared() -> None:
    score = SPEC.normalize(RawScore("score", 0.7))
    assert score.far == 1e-4
    assert score.calibration is not None
    assert score.calibration.source == "declared"
    assert score.calibration.points is DECLARED.points  # shared, not copied per score
    assert score.calibration.far(0.5) == (1e-2, False)


def test_an_uncalibrated_score_records_no_calibration() -> None:
    spec = attrs.evolve(SPEC, calibration=None)
    score = spec.normalize(RawScore("score", 0.7))
    assert (score.far, score.calibration, score.calibration_source) == (None, None, None)
    assert score.as_dict()["calibration"] is None


def test_a_plugin_far_without_a_stated_calibration_is_recorded_as_the_plugins() -> None:
    score = Score("s", 0.7, 0.0, 1.0, ScoreKind.SIMILARITY, far=1e-4)
    assert score.calibration_source == "plugin"
    assert score.as_dict()["calibration"] == {"source": "plugin", "points": None}


def test_a_record_holds_the_points_as_plain_lists() -> None:
    plain = to_plain({"score": SPEC.normalize(RawScore("score", 0.7)).as_dict()})
    assert plain["score"]["calibration"] == {
        "source": "declared",
        "points": [[0.5, 1e-2], [0.7, 1e-4]],
    }


@pytest.mark.parametrize(
    ("thresholds", "rule"),
    [
        ({"1e-3": 0.7, "1e-4": 0.6}, "strictly ascending"),  # unordered: FAR rises with score
        ({"1e-3": 0.6, "0.001": 0.7}, "strictly descending"),  # one FAR twice
        ({"0": 0.8, "1e-4": 0.7}, r"in \(0, 1\]"),
        ({"1.5": 0.6, "1e-4": 0.7}, r"in \(0, 1\]"),
        ({"1e-3": math.nan, "1e-4": 0.7}, "finite"),
        ({"1e-3": math.inf, "1e-4": 0.7}, "finite"),
        ({"1e-3": "٠.٦", "1e-4": 0.7}, "ASCII decimal"),  # Arabic-Indic digits: float() reads them
        ({"1e-3": "0.6\n", "1e-4": 0.7}, "ASCII decimal"),
        ({"1e-3": True, "1e-4": 0.7}, "ASCII decimal"),
        ({"1e-3": 10**400, "1e-4": 0.7}, "ASCII decimal"),
        ({"1e-3": None, "1e-4": 0.7}, "ASCII decimal"),
        ({}, "at least two"),
        ({"1e-3": 0.6}, "at least two"),
        ([[0.6, 1e-3, 1]], r"\(raw, FAR\) pair"),
        ("0.6:1e-3", "must be an object"),
        (0.6, "must be an object"),
        ([[0.7, 1e-4], [0.6, 1e-3]], "strictly ascending"),
    ],
)
def test_a_malformed_answer_table_is_a_protocol_error_naming_the_rule(
    thresholds: object, rule: str
) -> None:
    with pytest.raises(ProtocolError, match=f"thresholds: .*{rule}"):
        LogLinearCalibration.from_answer("v", thresholds)


@pytest.mark.parametrize(
    "points",
    [
        ((0.5, 1e-2),),
        ((0.5, 1e-2), (0.5, 1e-3)),
        ((0.5, 1e-2), (0.7, 1e-2)),
        ((0.5, 1e-2), (math.nan, 1e-3)),
        ((0.5, 1e-2), (10**400, 1e-3)),
        ((0.5, 0.0), (0.7, 1e-4)),
        ((0.5, True), (0.7, 1e-4)),
        [(0.5, 1e-2), (0.7, 1e-4)],
    ],
)
def test_a_declared_table_follows_the_same_rules(points: object) -> None:
    with pytest.raises(ValueError, match="points: "):
        LogLinearCalibration(points)  # type: ignore[arg-type]


def test_a_calibration_source_is_a_short_lower_case_name() -> None:
    assert CalibrationUsed(DECLARED, "vendor_v2").source == "vendor_v2"
    with pytest.raises(ValueError, match="source: "):
        CalibrationUsed(DECLARED, "Per Answer")


_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.dictionaries(_NUMBER.map(str), _NUMBER, max_size=5), st.lists(_NUMBER)))
def test_any_answer_table_is_valid_or_a_protocol_error(thresholds: object) -> None:
    try:
        table = LogLinearCalibration.from_answer("v", thresholds)
    except ProtocolError:
        return
    raws = [p[0] for p in table.points]
    fars = [p[1] for p in table.points]
    assert len(raws) >= 2
    assert all(math.isfinite(r) for r in raws)
    assert raws == sorted(set(raws))
    assert all(0 < f <= 1 for f in fars)
    assert fars == sorted(set(fars), reverse=True)


class OldStyle:
    """A plugin written against contract v1: ``normalize_score(vendor, check, raw)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Check, float]] = []

    @kycmux.hookimpl(tryfirst=True)
    def normalize_score(self, vendor: VendorSpec, check: Check, raw: RawScore) -> Score:
        self.seen.append((vendor.name, check, raw.value))
        return Score(raw.name, raw.value, 0.0, 1.0, ScoreKind.SIMILARITY, far=1e-6)


class NewStyle:
    """A contract v2 plugin reading the answer the score came in."""

    def __init__(self) -> None:
        self.results: list[VendorResult | None] = []

    @kycmux.hookimpl(tryfirst=True)
    def normalize_score(self, raw: RawScore, result: VendorResult | None) -> None:
        self.results.append(result)


def test_old_and_new_style_implementations_both_register_and_answer() -> None:
    host = PluginHost()
    host.register(FakeVendor("alpha"), "alpha")
    old, new = OldStyle(), NewStyle()
    host.register(old, "old")
    host.register(new, "new")
    spec = host.vendor("alpha")
    result = VendorResult("alpha", "verify", 200, True, "OK")
    hooks = host.hooks_for("alpha")
    score = hooks.normalize_score(
        vendor=spec, check=Check.FACE_MATCH, raw=RawScore("score", 0.8), result=result
    )
    assert score.far == 1e-6
    assert score.calibration_source == "plugin"
    assert old.seen == [("alpha", Check.FACE_MATCH, 0.8)]
    assert new.results == [result]
    # A direct call written before v2 names no result: it still works, without a warning.
    hooks.normalize_score(vendor=spec, check=Check.FACE_MATCH, raw=RawScore("score", 0.8))
    assert new.results == [result, None]


def test_a_table_on_an_attack_score_is_the_plugins_bug_not_a_far() -> None:
    host = PluginHost()
    host.register(FakeVendor("alpha"), "alpha")
    spec = host.vendor("alpha")
    attack = attrs.evolve(spec.scores[0], kind=ScoreKind.ATTACK)
    spec = attrs.evolve(spec, scores=(attack,))
    table = LogLinearCalibration.from_answer("alpha", THRESHOLDS)
    with pytest.raises(PluginError, match="a FAR table came with attack score 'score'"):
        host.hooks_for("alpha").normalize_score(
            vendor=spec, check=Check.FACE_MATCH, raw=RawScore("score", 0.9, calibration=table)
        )
