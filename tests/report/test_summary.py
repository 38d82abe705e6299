"""summarize(): every section against hand-computed numbers on small, hand-made studies."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from typing import Any

import attrs
import pytest

from kycmux.report import cohen_kappa, equal_error_rate, summarize
from kycmux.report._labelling import HTER_DEFINITION
from kycmux.results._model import CheckResult, Label, Result, Role
from kycmux.results._store import StudyInfo
from report.report_support import row, scored

G, IMP, S = Label.GENUINE, Label.IMPOSTOR, Label.SPOOF

# Ten items, two systems. Hand-tallied below each list.
_LABELS = {
    "g1": G,
    "g2": G,
    "g3": G,
    "g4": G,
    "g5": G,
    "i1": IMP,
    "i2": IMP,
    "i3": IMP,
    "s1": S,
    "s2": S,
}
_A = {
    "g1": "accept", "g2": "accept", "g3": "accept", "g4": "reject", "g5": "retry_capture",
    "i1": "reject", "i2": "accept", "i3": "reject", "s1": "reject", "s2": "reject",
}  # fmt: skip
# A: attacks accepted 1/5 (i2); impostors 1/3; spoofs 0/2; genuine not accepted 2/5 (g4, g5):
#    reject 1/5, failure to acquire 1/5; HTER (1/5 + 2/5) / 2 = 3/10.
_B = {
    "g1": "accept", "g2": "accept", "g3": "accept", "g4": "accept", "g5": "error",
    "i1": "accept", "i2": "accept", "i3": "reject", "s1": "accept", "s2": "reject",
}  # fmt: skip
# B: attacks accepted 3/5; impostors 2/3; spoofs 1/2; genuine not accepted 1/5 (g5, error):
#    reject 0/5, failure to acquire 1/5; HTER (3/5 + 1/5) / 2 = 2/5.


def _tiny(labelled: bool = True) -> list[Result]:
    rows = []
    for item, label in _LABELS.items():
        for system, outcomes in (("a", _A), ("b", _B)):
            outcome = outcomes[item]
            reasons = () if outcome == "accept" else (f"face_match:{system}:{outcome}",)
            errors = ("vendor_unavailable",) * 2 if outcome == "error" else ()
            rows.append(
                row(
                    item,
                    system,
                    outcome,
                    label=label if labelled else None,
                    reasons=reasons,
                    error_classes=errors,
                    calls=1 + len(errors),
                    billed=outcome != "error",
                    latency=float(10 * (1 + list(_LABELS).index(item))),
                )
            )
    return rows


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    return summarize(_tiny(), bootstrap=200)


def test_the_summary_is_json_ready_and_has_every_section(tiny: dict[str, Any]) -> None:
    assert list(tiny) == [
        "schema", "study", "settings", "verdict", "overview", "outcomes", "latency",
        "agreement", "scores", "usability", "checks", "whole_decision", "accuracy",
        "methods",
    ]  # fmt: skip
    assert tiny["schema"] == "kycmux.report/1"
    assert json.loads(json.dumps(tiny, allow_nan=False)) == tiny
    assert tiny["settings"] == {
        "confidence": 0.95, "bootstrap": 200, "seed": 0, "percentile_method": "linear",
        "max_error_share": 0.2,
    }  # fmt: skip


def test_overview_counts_items_pairs_and_labels(tiny: dict[str, Any]) -> None:
    overview = tiny["overview"]
    assert overview["systems"] == [
        {"name": "a", "role": "offline", "n": 10},
        {"name": "b", "role": "offline", "n": 10},
    ]
    assert overview["n_items"] == 10
    assert overview["n_paired_items"] == 10
    assert overview["labels"] == {"genuine": 5, "impostor": 3, "spoof": 2, "unlabelled": 0}
    assert overview["labelled"] is True
    assert tiny["study"] == {"name": "study", "kind": None, "created_at": None, "meta": {}}


def test_outcome_rates_counts_and_error_breakdowns(tiny: dict[str, Any]) -> None:
    a, b = tiny["outcomes"]["a"], tiny["outcomes"]["b"]
    assert {o: r["count"] for o, r in a["rates"].items()} == {
        "accept": 4, "reject": 5, "retry_capture": 1, "review": 0, "error": 0,
    }  # fmt: skip
    assert a["rates"]["reject"]["value"] == 0.5
    assert a["rates"]["reject"]["n"] == 10
    lo, hi = a["rates"]["reject"]["ci"]
    assert lo < 0.5 < hi
    assert b["rates"]["error"] == {**b["rates"]["error"], "count": 1, "n": 10, "value": 0.1}
    assert b["attempt_error_classes"] == {"vendor_unavailable": 2}
    assert b["first_reasons"] == {
        "reject": {"face_match:b:reject": 2},
        "error": {"face_match:b:error": 1},
    }
    assert a["first_reasons"]["retry_capture"] == {"face_match:a:retry_capture": 1}
    assert (b["calls"], b["calls_per_item"], b["possibly_billed"]) == (12, 1.2, 9)


def test_latency_percentiles_use_the_linear_method(tiny: dict[str, Any]) -> None:
    latency = tiny["latency"]["systems"]["a"]  # 10, 20, ..., 100 ms
    assert latency["n"] == 10
    assert latency["p50"]["value"] == 55.0  # h = 4.5
    assert latency["p95"]["value"] == 95.5  # h = 8.55: 90 + 0.55 * 10
    assert latency["p99"]["value"] == 99.1
    assert (latency["mean_ms"], latency["min_ms"], latency["max_ms"]) == (55.0, 10.0, 100.0)
    lo, hi = latency["p50"]["ci"]
    assert lo <= 55.0 <= hi
    assert tiny["latency"]["plot"] == "latency_cdf.png"


def test_agreement_matrix_kappa_and_disagreements(tiny: dict[str, Any]) -> None:
    (pair,) = tiny["agreement"]
    assert pair["systems"] == ["a", "b"]
    assert pair["paired"]
    assert pair["n"] == 10
    # rows a, columns b; accept, reject, retry_capture, review, error
    assert pair["matrix"] == [
        [4, 0, 0, 0, 0],  # g1 g2 g3 i2
        [3, 2, 0, 0, 0],  # a rejects, b accepts: g4 i1 s1; both reject: i3 s2
        [0, 0, 0, 0, 1],  # g5: retry_capture vs error
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    assert pair["observed_agreement"]["value"] == 0.6
    assert pair["observed_agreement"]["count"] == 6
    # pe = (4*7 + 5*2 + 1*0) / 100 = 0.38; kappa = (0.6 - 0.38) / 0.62 = 11/31
    expected = (Fraction(6, 10) - Fraction(38, 100)) / (1 - Fraction(38, 100))
    assert expected == Fraction(11, 31)
    assert pair["kappa"]["value"] == round(float(expected), 3)
    assert pair["n_disagreements"] == 4
    assert [d["item"] for d in pair["disagreements"]] == ["g4", "g5", "i1", "s1"]
    assert pair["disagreements"][1] == {
        "item": "g5",
        "label": "genuine",
        "outcomes": {"a": "retry_capture", "b": "error"},
        "reasons": {"a": ["face_match:a:retry_capture"], "b": ["face_match:b:error"]},
    }
    assert pair["plot"] == "agreement_a_vs_b.png"


def test_error_rates_at_the_configured_thresholds(tiny: dict[str, Any]) -> None:
    a, b = tiny["accuracy"]["systems"]["a"], tiny["accuracy"]["systems"]["b"]

    def counts(entry: dict[str, Any]) -> dict[str, tuple[int, int]]:
        keys = ("far", "impostor_acceptance", "spoof_acceptance", "frr", "frr_reject", "fta")
        return {k: (entry[k]["count"], entry[k]["n"]) for k in keys}

    assert counts(a) == {
        "far": (1, 5), "impostor_acceptance": (1, 3), "spoof_acceptance": (0, 2),
        "frr": (2, 5), "frr_reject": (1, 5), "fta": (1, 5),
    }  # fmt: skip
    assert counts(b) == {
        "far": (3, 5), "impostor_acceptance": (2, 3), "spoof_acceptance": (1, 2),
        "frr": (1, 5), "frr_reject": (0, 5), "fta": (1, 5),
    }  # fmt: skip
    assert a["impostor_acceptance"]["value"] == round(1 / 3, 4)
    assert a["hter"]["value"] == 0.3
    assert b["hter"]["value"] == 0.4
    assert a["n_labelled"] == 10
    for entry in (a, b):
        lo, hi = entry["hter"]["ci"]
        assert lo <= entry["hter"]["value"] <= hi


def test_a_tiny_sample_is_not_enough_to_call_a_winner(tiny: dict[str, Any]) -> None:
    verdict = tiny["verdict"]
    assert verdict["basis"] == "accuracy"
    assert verdict["winner"] is None
    assert verdict["ranking"] == [
        {"system": "a", "metric": "hter", "value": 0.3},
        {"system": "b", "metric": "hter", "value": 0.4},
    ]
    hter = verdict["comparisons"][0]
    assert hter["metric"] == "hter"
    assert hter["systems"] == ["a", "b"]
    assert hter["difference"] == 0.1
    assert hter["paired"] is True
    assert hter["n"] == 10
    assert hter["ci"][0] <= 0 <= hter["ci"][1]
    assert not hter["significant"]
    half_width = (hter["ci"][1] - hter["ci"][0]) / 2
    rough = math.ceil(10 * (half_width / 0.1) ** 2)
    assert hter["too_few"] is True  # 10 < MIN_ITEMS, whatever the interval says
    assert hter["items_needed"] == max(11, 20, rough)
    assert "too few items to tell (10; at least 20 per system needed)" in verdict["statement"]
    assert "no winner is called" in verdict["statement"]
    assert f"Roughly {hter['items_needed']:,} labelled items" in verdict["statement"]
    assert verdict["statement"] == " ".join(verdict["paragraphs"])


def test_the_summary_does_not_depend_on_row_order() -> None:
    rows = _tiny()
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert summarize(shuffled, bootstrap=100) == summarize(rows, bootstrap=100)


def _intervals(summary: dict[str, Any]) -> list[Any]:
    return [
        summary["latency"]["systems"]["a"]["p50"]["ci"],
        summary["agreement"][0]["kappa"]["ci"],
        summary["accuracy"]["systems"]["a"]["hter"]["ci"],
        summary["verdict"]["comparisons"][0]["ci"],
    ]


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    rows = _tiny()
    first = summarize(rows, bootstrap=100, seed=1)
    assert summarize(rows, bootstrap=100, seed=1) == first
    other = summarize(rows, bootstrap=100, seed=2)
    assert other["accuracy"]["systems"] == {
        s: {
            k: v
            if not isinstance(v, dict)
            else {**v, "ci": other["accuracy"]["systems"][s][k]["ci"]}
            for k, v in entry.items()
        }
        for s, entry in first["accuracy"]["systems"].items()
    }  # the same estimates...
    assert _intervals(other) != _intervals(first)  # ...with other intervals


def test_no_bootstrap_means_no_intervals_and_no_winner() -> None:
    summary = summarize(_clear_winner(200), bootstrap=0)
    assert summary["outcomes"]["good"]["rates"]["accept"]["ci"] is None
    assert summary["accuracy"]["systems"]["good"]["hter"]["ci"] is None
    assert summary["verdict"]["winner"] is None
    assert "bootstrap disabled" in summary["verdict"]["statement"]


def _clear_winner(n: int, *, seed: int = 0) -> list[Result]:
    """``good`` errs on 2% of items, ``bad`` on 30%."""
    rnd = random.Random(seed)
    rows = []
    for index in range(n):
        label = G if index % 2 else (IMP if index % 4 == 0 else S)
        for system, error in (("good", 0.02), ("bad", 0.3)):
            right = "accept" if label is G else "reject"
            wrong = "reject" if label is G else "accept"
            outcome = wrong if rnd.random() < error else right
            rows.append(
                row(f"r{index:04d}", system, outcome, label=label, latency=rnd.uniform(100, 200))
            )
    return rows


def test_a_clearly_better_system_with_enough_data_is_named_the_winner() -> None:
    summary = summarize(_clear_winner(400), bootstrap=300)
    verdict = summary["verdict"]
    assert verdict["basis"] == "accuracy"
    assert verdict["winner"] == "good"
    hter = verdict["comparisons"][0]
    assert hter["significant"]
    assert hter["ci"][0] > 0
    assert hter["items_needed"] is None
    assert verdict["statement"].startswith(f"good is more accurate than bad: {HTER_DEFINITION}")
    assert "excludes 0" in verdict["statement"]


def test_an_interval_excluding_zero_on_a_handful_of_items_calls_nothing() -> None:
    # 12 items where `bad` errs on every attack: every resample separates the two systems, yet
    # 12 items are too few for the interval itself to be trusted.
    rows = []
    for index in range(12):
        label = G if index % 2 else IMP
        rows.append(row(f"r{index}", "good", "accept" if label is G else "reject", label=label))
        rows.append(row(f"r{index}", "bad", "accept", label=label))
    verdict = summarize(rows, bootstrap=200)["verdict"]
    (hter,) = verdict["comparisons"][:1]
    assert hter["ci"][0] > 0  # the bootstrap alone would call it
    assert hter["too_few"] is True
    assert hter["significant"] is False
    assert verdict["winner"] is None
    assert "too few items to tell (12; at least 20 per system needed)" in verdict["statement"]


def test_without_labels_accuracy_cannot_be_judged() -> None:
    summary = summarize(_tiny(labelled=False), bootstrap=200)
    assert summary["accuracy"]["available"] is False
    assert summary["accuracy"]["systems"] == {}
    assert summary["accuracy"]["det"] == []
    verdict = summary["verdict"]
    assert verdict["basis"] == "operational"
    assert verdict["statement"].startswith(
        "Accuracy cannot be judged without ground truth: no item is labelled."
    )
    metrics = [c["metric"] for c in verdict["comparisons"]]
    assert metrics == ["error_rate", "p95_latency_ms"]
    error = verdict["comparisons"][0]
    # a: no errors; b: 1 of 10. Paired over the 10 items.
    assert error["systems"] == ["a", "b"]
    assert error["values"] == {"a": 0.0, "b": 0.1}
    assert error["paired"] is True


def test_unlabelled_operational_winner_needs_intervals_excluding_zero() -> None:
    rows = []
    for index in range(300):
        rows.append(row(f"r{index}", "fast", "accept", latency=100.0 + index % 7))
        rows.append(row(f"r{index}", "slow", "accept", latency=400.0 + index % 11))
    verdict = summarize(rows, bootstrap=200)["verdict"]
    latency = next(c for c in verdict["comparisons"] if c["metric"] == "p95_latency_ms")
    assert latency["systems"] == ["fast", "slow"]
    assert latency["significant"]
    errors = next(c for c in verdict["comparisons"] if c["metric"] == "error_rate")
    assert errors["difference"] == 0
    assert not errors["significant"]
    assert verdict["winner"] == "fast"
    assert "fast is faster" in verdict["statement"]
    assert "On what can be compared, fast is better." in verdict["statement"]


def test_equal_hters_are_called_equal() -> None:
    rows = [r for r in _tiny() if r.system == "a"]
    rows += [attrs.evolve(r, system="copy") for r in rows]
    verdict = summarize(rows, bootstrap=50)["verdict"]
    assert verdict["winner"] is None
    assert verdict["comparisons"][0]["difference"] == 0
    assert verdict["statement"].startswith(f"a and copy have the same {HTER_DEFINITION} (30.00%;")


def test_arms_of_an_experiment_are_unpaired() -> None:
    rows = []
    for index in range(40):
        arm = "arm-a" if index % 2 else "arm-b"
        label = G if index % 4 < 2 else IMP
        outcome = "accept" if (label is G) != (index % 10 == 1) else "reject"
        rows.append(
            row(f"req-{index}", arm, outcome, label=label, role=Role.LIVE, latency=50.0 + index)
        )
    summary = summarize(rows, bootstrap=200)
    assert summary["overview"]["n_paired_items"] == 0
    (pair,) = summary["agreement"]
    assert pair["paired"] is False
    assert pair["matrix"] is None
    assert pair["kappa"] is None
    assert "judged different items" in pair["note"]
    assert "cannot be measured" in pair["note"]
    comparisons = summary["verdict"]["comparisons"]
    assert comparisons
    assert all(c["paired"] is False for c in comparisons)
    assert "independent bootstrap" in summary["verdict"]["statement"]
    hter = comparisons[0]
    assert hter["metric"] == "hter"
    assert hter["n"] == 20


def test_shadow_rows_pair_with_live_rows_on_the_sampled_items() -> None:
    rows = [row(f"q{i}", "live", "accept", role=Role.LIVE) for i in range(10)]
    rows += [row(f"q{i}", "candidate", "accept", role=Role.SHADOW) for i in range(0, 10, 2)]
    summary = summarize(rows, bootstrap=50)
    assert [s["name"] for s in summary["overview"]["systems"]] == ["live", "candidate"]
    assert summary["overview"]["n_paired_items"] == 5
    (pair,) = summary["agreement"]
    assert pair["n"] == 5
    assert pair["matrix"][0][0] == 5
    # Both accepted every paired item: pe = 1, kappa undefined, agreement 1.
    assert pair["kappa"] == {"value": None, "ci": None}
    assert pair["observed_agreement"]["value"] == 1.0
    assert "kappa is undefined" in pair["note"]


def test_single_system_and_empty_studies() -> None:
    single = summarize(_tiny()[::2], bootstrap=50)
    assert single["agreement"] == []
    assert single["verdict"]["basis"] == "single_system"
    assert single["verdict"]["statement"].startswith("Only one system (a) answered")
    assert f"Its {HTER_DEFINITION} is 30.00%" in single["verdict"]["statement"]
    empty = summarize([], bootstrap=50)
    assert empty["overview"]["n_items"] == 0
    assert empty["verdict"]["basis"] == "none"
    assert empty["latency"]["plot"] is None


def test_partial_labels_are_used_and_the_rest_reported() -> None:
    rows = [r if r.item != "g1" else row(r.item, r.system, r.outcome) for r in _tiny()]
    summary = summarize(rows, bootstrap=50)
    assert summary["overview"]["labels"]["unlabelled"] == 1
    assert summary["accuracy"]["note"] == ("1 of 10 items are unlabelled and left out of accuracy.")
    assert summary["accuracy"]["systems"]["a"]["frr"]["n"] == 4
    assert summary["verdict"]["statement"].startswith("Accuracy is judged on labelled items only")


# -- scores: FAR scatter and DET ---------------------------------------------------------------


def _scored_study() -> list[Result]:
    """Face match: both calibrated. Liveness: x has an uncalibrated attack score, y a verdict."""
    face_x = {"g1": 0.9, "g2": 0.8, "g3": 0.7, "g4": 0.4, "i1": 0.6, "i2": 0.5, "i3": 0.3}
    face_y = {"g1": 88.0, "g2": 91.0, "g3": 60.0, "g4": 75.0, "i1": 50.0, "i2": 72.0, "i3": 40.0}
    hack = {"g1": 0.1, "g2": 0.2, "g3": 0.45, "g4": 0.3, "s1": 0.9, "s2": 0.4, "s3": 0.8}
    labels = {
        **dict.fromkeys(("g1", "g2", "g3", "g4"), G),
        "i1": IMP,
        "i2": IMP,
        "i3": IMP,
        "s1": S,
        "s2": S,
        "s3": S,
    }
    rows = []
    for item, label in labels.items():
        x: dict[str, CheckResult] = {}
        y: dict[str, CheckResult] = {}
        if item in face_x:
            x["face_match"] = scored(
                "pass" if face_x[item] >= 0.7 else "fail",
                face_x[item],
                far=10 ** -(face_x[item] * 5),
                name="verify_score",
            )
            y["face_match"] = scored(
                "pass" if face_y[item] >= 70 else "fail",
                face_y[item],
                far=10 ** -(face_y[item] / 20),
                name="sim",
            )
        if item in hack:
            x["liveness"] = scored(
                "pass" if hack[item] < 0.5 else "fail", hack[item], kind="attack", name="hack_score"
            )
            y["liveness"] = CheckResult("pass" if label is G or item == "s2" else "fail")
        rows.append(row(item, "x", "accept", label=label, checks=x))
        rows.append(row(item, "y", "accept", label=label, checks=y))
    # An item where x's face match errored: no score, so it is left out of x's curve.
    rows.append(row("g5", "x", "error", label=G, checks={"face_match": CheckResult("error")}))
    rows.append(
        row(
            "g5",
            "y",
            "accept",
            label=G,
            checks={"face_match": scored("pass", 95.0, far=1e-5, name="sim")},
        )
    )
    return rows


@pytest.fixture(scope="module")
def scores() -> dict[str, Any]:
    return summarize(_scored_study(), bootstrap=100)


def test_scatter_only_where_two_systems_have_calibrated_scores(scores: dict[str, Any]) -> None:
    face, live = scores["scores"]["checks"]
    assert face["check"] == "face_match"
    assert face["systems"]["x"] == {
        "status": "calibrated",
        "score_name": "verify_score",
        "n_scored": 7,
    }
    assert face["pairs"] == [{"systems": ["x", "y"], "n": 7, "plot": "scatter_face_match.png"}]
    assert live["check"] == "liveness"
    assert live["pairs"] == []
    assert live["systems"]["x"]["status"] == "uncalibrated"
    assert live["systems"]["y"]["status"] == "no_score"
    assert "x: hack_score is uncalibrated" in live["notes"][0]
    assert live["notes"][1] == "y: no score for liveness (verdict only)."


def test_det_entries_match_the_eer_of_the_scores_and_count_exclusions(
    scores: dict[str, Any],
) -> None:
    face, live = scores["accuracy"]["det"]
    assert face["attack_labels"] == ["impostor"]
    assert live["attack_labels"] == ["spoof"]
    x = face["systems"]["x"]
    assert (x["n_genuine"], x["n_attack"], x["n_excluded"]) == (4, 3, 1)
    expected = equal_error_rate([0.9, 0.8, 0.7, 0.4], [0.6, 0.5, 0.3])
    assert x["eer"]["value"] == round(expected or 0, 4)
    # Operating point: threshold 0.7 passes no impostor and fails g4.
    assert (x["operating_point"]["far"]["count"], x["operating_point"]["far"]["n"]) == (0, 3)
    assert (x["operating_point"]["frr"]["count"], x["operating_point"]["frr"]["n"]) == (1, 4)
    assert face["plot"] == "det_face_match.png"
    hack = live["systems"]["x"]
    assert hack["kind"] == "attack"
    assert hack["eer"]["value"] == round(
        equal_error_rate([0.1, 0.2, 0.45, 0.3], [0.9, 0.4, 0.8], kind="attack") or 0, 4
    )
    verdict_only = live["systems"]["y"]
    assert verdict_only["kind"] is None
    assert verdict_only["eer"] == {"value": None, "ci": None}
    assert verdict_only["operating_point"]["far"]["count"] == 1  # s2 passed
    assert "y: no score for liveness (verdicts only): operating point only." in live["notes"]


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="several studies"):
        summarize([row("a", "x", "accept", study="one"), row("a", "x", "accept", study="two")])
    with pytest.raises(ValueError, match="study"):
        summarize(_tiny(), study=StudyInfo("other", "offline", 0.0))
    with pytest.raises(ValueError, match="confidence"):
        summarize(_tiny(), confidence=1.0)
    with pytest.raises(ValueError, match="bootstrap"):
        summarize(_tiny(), bootstrap=-1)
    with pytest.raises(ValueError, match="conflicting labels"):
        summarize([row("a", "x", "accept", label=G), row("a", "y", "accept", label=S)])
    with pytest.raises(ValueError, match="unknown outcome"):
        summarize([row("a", "x", "maybe")])


def test_a_later_row_for_the_same_item_and_system_replaces_the_earlier() -> None:
    early = row("a", "x", "error")
    late = attrs.evolve(early, outcome="accept", recorded_at=early.recorded_at + 1)
    summary = summarize([late, early], bootstrap=0)
    assert summary["outcomes"]["x"]["rates"]["accept"]["count"] == 1
    assert summary["outcomes"]["x"]["rates"]["error"]["count"] == 0
    assert summary["overview"]["replaced_rows"] == 1


def test_study_info_is_reported() -> None:
    info = StudyInfo("study", "offline", 1_700_000_000.0, {"manifest": "m.jsonl"})
    summary = summarize(_tiny(), study=info, bootstrap=0)
    assert summary["study"] == {
        "name": "study", "kind": "offline", "created_at": 1_700_000_000.0,
        "meta": {"manifest": "m.jsonl"},
    }  # fmt: skip


def test_cohen_kappa_export_agrees_with_the_summary(tiny: dict[str, Any]) -> None:
    pair = tiny["agreement"][0]
    assert round(cohen_kappa(pair["matrix"]) or 0, 3) == pair["kappa"]["value"]
