"""The report's structure: usable systems, a section per check, whole decisions compared only
between usable systems serving the same checks."""

from __future__ import annotations

from typing import Any

import pytest

from kycmux.report import summarize
from kycmux.results._model import CheckResult, Label, Result
from report.report_support import row

G, IMP, S = Label.GENUINE, Label.IMPOSTOR, Label.SPOOF
# 20 genuine, 10 impostor, 10 spoof items.
LABELS = {f"g{i:02d}": G for i in range(20)} | {f"i{i}": IMP for i in range(10)}
LABELS |= {f"s{i}": S for i in range(10)}


def _verdicts(label: Label, *, live_ok: bool = True, face_ok: bool = True) -> dict[str, str]:
    """Verdicts of a system that is right unless told otherwise."""
    live = "pass" if (label is not S) == live_ok else "fail"
    face = "pass" if (label is not IMP) == face_ok else "fail"
    return {"liveness": live, "face_match": face}


def _rows(system: str, checks: tuple[str, ...], wrong: set[str] = frozenset()) -> list[Result]:
    """One result per item; ``wrong`` items get the wrong verdict on every check."""
    rows = []
    for item, label in LABELS.items():
        ok = item not in wrong
        verdicts = _verdicts(label, live_ok=ok, face_ok=ok)
        chosen = {c: CheckResult(verdicts[c], vendor=system) for c in checks}
        outcome = "accept" if all(c.verdict == "pass" for c in chosen.values()) else "reject"
        rows.append(row(item, system, outcome, label=label, checks=chosen))
    return rows


def _errors(system: str, share: float) -> list[Result]:
    """A system answering both checks, right when it answers, with ``share`` in error."""
    errored = set(list(LABELS)[: round(share * len(LABELS))])
    rows = []
    for item, label in LABELS.items():
        if item in errored:
            rows.append(row(item, system, "error", label=label, reasons=("runner:RuntimeError",)))
            continue
        verdicts = _verdicts(label)
        checks = {c: CheckResult(v, vendor=system) for c, v in verdicts.items()}
        outcome = "accept" if label is G else "reject"
        rows.append(row(item, system, outcome, label=label, checks=checks))
    return rows


def _check(summary: dict[str, Any], check: str) -> dict[str, Any]:
    return next(c for c in summary["checks"] if c["check"] == check)


BOTH = ("liveness", "face_match")


def test_a_face_match_only_system_is_judged_on_face_match_alone() -> None:
    results = _rows("a", BOTH, wrong={"g00", "s0"}) + _rows("b", BOTH) + _rows("c", ("face_match",))
    summary = summarize(results, bootstrap=0)
    live, face = _check(summary, "liveness"), _check(summary, "face_match")
    assert list(live["systems"]) == ["a", "b"]
    assert list(face["systems"]) == ["a", "b", "c"]
    # c never looked for spoofs: no spoof counts against it, on face match or anywhere.
    assert (face["systems"]["c"]["n_genuine"], face["systems"]["c"]["n_attack"]) == (20, 10)
    assert face["systems"]["c"]["hter"]["value"] == 0.0
    # a errs on g00 (both checks) and s0 (a spoof passed: liveness only counts it).
    assert live["systems"]["a"]["far"] == {"value": 0.1, "count": 1, "n": 10, "ci": None}
    assert live["systems"]["a"]["frr"]["count"] == 1
    assert live["ranking"] == [{"system": "b", "hter": 0.0}, {"system": "a", "hter": 0.075}]
    assert [r["system"] for r in face["ranking"]] == ["b", "c", "a"]
    whole = summary["whole_decision"]
    assert whole["groups"] == [
        {"checks": ["liveness", "face_match"], "systems": ["a", "b"]},
        {"checks": ["face_match"], "systems": ["c"]},
    ]
    assert whole["compared"] == ["a", "b"]
    assert set(summary["accuracy"]["systems"]) == {"a", "b"}
    assert [r["system"] for r in summary["verdict"]["ranking"]] == ["b", "a"]
    assert summary["verdict"]["excluded"] == whole["excluded"]
    assert (
        "On face_match alone (HTER, best first): b 0.00%, c 0.00%, a"
        in (summary["verdict"]["statement"])
    )


@pytest.mark.parametrize("share", [1.0, 0.25])
def test_a_system_with_too_many_errors_is_reported_and_never_ranked(share: float) -> None:
    results = (
        _rows("a", BOTH, wrong={"g00"}) + _rows("b", BOTH, wrong={"g01"}) + _errors("x", share)
    )
    summary = summarize(results, bootstrap=0)
    usability = summary["usability"]
    assert usability["unusable"] == ["x"]
    x = usability["systems"]["x"]
    assert (x["n"], x["errors"], x["usable"]) == (40, round(40 * share), False)
    why = "all 40 answers were errors" if share == 1 else "10 of 40 answers were errors, more"
    assert x["reason"].startswith(why)
    for check in BOTH:
        entry = _check(summary, check)
        assert entry["systems"]["x"]["usable"] is False
        assert "x" not in {r["system"] for r in entry["ranking"]}
        assert {"system": "x", "reason": entry["systems"]["x"]["reason"]} in entry["unranked"]
    assert summary["whole_decision"]["compared"] == ["a", "b"]
    assert "x" not in summary["accuracy"]["systems"]
    assert "x" not in {r["system"] for r in summary["verdict"]["ranking"]}
    assert f"Not ranked: x is unusable: {x['reason']}." in summary["verdict"]["statement"]


def test_the_error_share_limit_is_stated_and_can_be_raised() -> None:
    results = _rows("a", BOTH) + _errors("x", 0.25)
    loose = summarize(results, bootstrap=0, max_error_share=0.3)
    assert loose["settings"]["max_error_share"] == loose["usability"]["max_error_share"] == 0.3
    assert loose["usability"]["unusable"] == []
    assert loose["whole_decision"]["compared"] == ["a", "x"]
    with pytest.raises(ValueError, match="max_error_share"):
        summarize(results, max_error_share=1.0)


def test_with_no_two_systems_serving_the_same_checks_nothing_is_ranked_whole() -> None:
    results = _rows("a", BOTH) + _rows("c", ("face_match",))
    summary = summarize(results, bootstrap=0)
    assert summary["whole_decision"]["compared"] == []
    assert summary["accuracy"]["systems"] == {}
    verdict = summary["verdict"]
    assert verdict["winner"] is None
    assert verdict["ranking"] == []
    assert verdict["paragraphs"][0].startswith("No two usable systems serve the same checks")


def test_per_check_truth_decides_what_each_check_is_judged_on() -> None:
    """A spoof of the claimed person, stated genuine for face match, is still no evidence on
    face match (a vendor may stop at the failed liveness); an impostor is live."""
    results = []
    for item, label in LABELS.items():
        truth = {"liveness": "spoof", "face_match": "genuine"} if label is S else {}
        verdicts = _verdicts(label)
        checks = {c: CheckResult(v, vendor="a") for c, v in verdicts.items()}
        outcome = "accept" if label is G else "reject"
        results.append(row(item, "a", outcome, label=label, checks=checks))
        results[-1] = Result.from_dict({**results[-1].to_dict(), "truth": truth})
    summary = summarize(results, bootstrap=0)
    live, face = (_check(summary, c)["systems"]["a"] for c in BOTH)
    assert (live["n_genuine"], live["n_attack"]) == (20, 10)
    assert (face["n_genuine"], face["n_attack"]) == (20, 10)
    assert summary["accuracy"]["det"][0]["systems"]["a"]["n_attack"] == 10


def test_of_two_groups_serving_the_same_checks_the_larger_is_compared_whole() -> None:
    face = ("face_match",)
    results = _rows("a", BOTH) + _rows("b", BOTH) + _rows("d", BOTH, wrong={"g00"})
    results += _rows("c", face) + _rows("e", face)
    summary = summarize(results, bootstrap=0)
    whole = summary["whole_decision"]
    assert whole["compared"] == ["a", "b", "d"]
    reason = (
        "its decisions serve face_match; whole decisions are compared for the larger group "
        "serving liveness, face_match"
    )
    assert whole["excluded"] == [{"system": s, "reason": reason} for s in ("c", "e")]
    # Per check, everyone offering it is still ranked.
    assert {r["system"] for r in _check(summary, "face_match")["ranking"]} == set("abcde")
