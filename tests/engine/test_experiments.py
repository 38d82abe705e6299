"""Traffic-splitting experiments: sticky keyed assignment, weights, routing, records, storage."""

from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import Any

import pytest

from kycmux import (
    Arm,
    Check,
    CheckPolicy,
    Evidence,
    Outcome,
    ShadowExperiment,
    SplitExperiment,
    experiment_from_table,
    experiment_key,
)
from kycmux.exceptions import PolicyError
from kycmux.results import Role, SqliteResultStore
from kycmux.testing import answer, make_rig, policy

pytestmark = pytest.mark.anyio

KEY = experiment_key(b"fixed-test-key")


def split(**overrides: Any) -> SplitExperiment:
    fields: dict[str, Any] = {
        "name": "ab",
        "policy": "p",
        "arms": (Arm("to_alpha", 3, vendors=("alpha",)), Arm("to_beta", 1, vendors=("beta",))),
    }
    return SplitExperiment(**(fields | overrides))


@pytest.fixture
def selfie(png_file: Path) -> Path:
    return png_file


def test_weights_hold_over_many_subjects() -> None:
    # 5:3:2 over 30,000 subjects with a fixed key; the chi-square critical value for 2 degrees
    # of freedom at p = 0.001 is 13.82, so a correct splitter fails this 1 time in 1,000 keys,
    # and this key is fixed.
    experiment = split(arms=(Arm("a", 5), Arm("b", 3), Arm("c", 2)))
    n = 30_000
    counts = collections.Counter(
        experiment.pick(KEY, f"subject-{i}", "r")[0].name for i in range(n)
    )
    expected = {"a": 0.5 * n, "b": 0.3 * n, "c": 0.2 * n}
    chi2 = sum((counts[arm] - e) ** 2 / e for arm, e in expected.items())
    assert chi2 < 13.82, (counts, chi2)


def test_assignment_is_sticky_per_subject_and_ignores_the_request() -> None:
    experiment = split()
    for i in range(200):
        arms = {experiment.pick(KEY, f"s{i}", f"request-{j}")[0].name for j in range(5)}
        assert len(arms) == 1


def test_assignment_is_keyed_and_salted() -> None:
    experiment = split()
    subjects = [f"s{i}" for i in range(400)]
    base = [experiment.pick(KEY, s, "r")[0].name for s in subjects]
    same_key = [
        experiment.pick(experiment_key(b"fixed-test-key"), s, "r")[0].name for s in subjects
    ]
    other_key = [experiment.pick(experiment_key(b"another"), s, "r")[0].name for s in subjects]
    salted = [split(salt="v2").pick(KEY, s, "r")[0].name for s in subjects]
    assert base == same_key  # another process with the same key agrees, no shared state
    assert base != other_key
    assert base != salted


def test_no_subject_falls_back_to_the_request() -> None:
    experiment = split(arms=(Arm("a", 1), Arm("b", 1)))
    arms = {experiment.pick(KEY, None, f"request-{j}") for j in range(64)}
    assert {by for _, by in arms} == {"request"}
    assert {arm.name for arm, _ in arms} == {"a", "b"}


async def test_decisions_follow_their_arm_and_say_so(selfie: Path) -> None:
    rig = make_rig()
    engine = rig.engine(policy(), experiments=[split()])
    arms: dict[str, str] = {}
    for i in range(40):
        decision = await engine.verify(Evidence(selfie=selfie, subject_id=f"person-{i}"))
        experiment = decision.record.experiment
        assert experiment is not None
        assert experiment["name"] == "ab"
        assert experiment["assignment"] == "subject"
        arms[f"person-{i}"] = experiment["arm"]
        (attempt,) = decision.record.attempts
        assert attempt.vendor == ("alpha" if experiment["arm"] == "to_alpha" else "beta")
        assert experiment["policy"] == f"p[ab:{experiment['arm']}]"
    assert set(arms.values()) == {"to_alpha", "to_beta"}
    assert rig.calls["alpha"] + rig.calls["beta"] == 40
    # Same people again: same arms.
    for person, arm in arms.items():
        again = await engine.verify(Evidence(selfie=selfie, subject_id=person))
        assert again.record.experiment is not None
        assert again.record.experiment["arm"] == arm


async def test_arm_vendors_go_first_and_keep_failover(selfie: Path) -> None:
    rig = make_rig()
    rig.script("beta", *[answer("DOWN") for _ in range(3)])
    experiment = split(arms=(Arm("to_beta", 1, vendors=("beta",)), Arm("never", 1e-9)))
    engine = rig.engine(policy(), experiments=[experiment])
    async with rig.clock.autojump():
        decision = await engine.verify(Evidence(selfie=selfie, subject_id="x"))
    assert (decision.record.attempts[0].vendor, decision.record.attempts[0].role) == (
        "beta",
        "primary",
    )
    assert decision.record.attempts[-1].vendor == "alpha"  # failover still behind it
    assert decision.outcome is Outcome.ACCEPT


async def test_an_arm_can_be_a_whole_policy(selfie: Path) -> None:
    rig = make_rig()
    rig.script("beta", answer(score=0.6))
    strict = policy(
        name="strict",
        checks={Check.FACE_MATCH: CheckPolicy(("beta",), max_far=1e-6, allow_extrapolation=True)},
    )
    experiment = split(arms=(Arm("strict", 1, policy="strict"), Arm("none", 1e-9)))
    engine = rig.engine(policy(), strict, experiments=[experiment])
    decision = await engine.verify(Evidence(selfie=selfie, subject_id="y"))
    assert decision.record.policy == "strict"
    assert decision.outcome is Outcome.REJECT  # score 0.6 is FAR 1e-3 > 1e-6
    assert rig.calls == {"alpha": 0, "beta": 1}


async def test_naming_the_vendor_bypasses_the_experiment(selfie: Path) -> None:
    rig = make_rig()
    engine = rig.engine(policy(), experiments=[split()])
    decision = await engine.verify(Evidence(selfie=selfie, subject_id="z"), vendor="alpha")
    assert decision.record.experiment is None


async def test_disabled_experiment_leaves_decisions_alone(selfie: Path) -> None:
    rig = make_rig()
    engine = rig.engine(policy(), experiments=[split(enabled=False)])
    decision = await engine.verify(Evidence(selfie=selfie, subject_id="z"))
    assert decision.record.experiment is None
    assert decision.record.policy == "p"


class _RefusingStore(SqliteResultStore):
    """Refuses every result the way a database does: quoting the row in its message."""

    def add(self, result: Any) -> None:
        raise ValueError("duplicate key (subject)=(110101199003077777)")


async def test_a_failing_result_store_is_logged_by_type_and_the_decision_stands(
    selfie: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    store = _RefusingStore.open(tmp_path / "results.sqlite")
    engine = rig.engine(policy(), experiments=[split()], results=store)
    with caplog.at_level(logging.ERROR, logger="kycmux"):
        decision = await engine.verify(Evidence(selfie=selfie, subject_id="p1"))
        await engine.aclose()
    store.close()
    assert decision.record.experiment is not None
    assert "result store write for ab failed (ValueError)" in caplog.text
    assert "110101199003077777" not in caplog.text


async def test_arm_results_land_in_the_store(selfie: Path, tmp_path: Path) -> None:
    rig = make_rig()
    store = SqliteResultStore.open(tmp_path / "results.sqlite")
    engine = rig.engine(policy(), experiments=[split()], results=store)
    requests = {}
    for i in range(12):
        decision = await engine.verify(Evidence(selfie=selfie, subject_id=f"p{i}"))
        assert decision.record.experiment is not None
        requests[decision.request_id] = decision.record.experiment["arm"]
    await engine.aclose()
    study = store.study("ab")
    assert study is not None
    assert study.kind == "experiment"
    assert study.meta["type"] == "split"
    stored = store.results("ab")
    assert {r.item: r.system for r in stored} == requests
    assert {r.role for r in stored} == {Role.LIVE}
    assert all(r.subject and r.subject.startswith("hmac-sha256:") for r in stored)
    store.close()


@pytest.mark.parametrize(
    ("table", "key", "rule"),
    [
        ({"arms": {"a": {}, "b": {}}}, "experiments.x.policy", "is required"),
        ({"policy": "p"}, "experiments.x", "either arms"),
        ({"policy": "p", "arms": {}, "shadow": "beta"}, "experiments.x", "either arms"),
        ({"policy": "p", "arms": {"a": {}}}, "experiments.x.arms", "at least two arms"),
        (
            {"policy": "p", "arms": {"a": {}, "b": {}}, "colour": 1},
            "experiments.x.colour",
            "unknown",
        ),
        (
            {"policy": "p", "arms": {"a": {"weight": 0}, "b": {}}},
            "experiments.x.arms.a.weight",
            "positive",
        ),
        (
            {"policy": "p", "arms": {"a": {"policy": "q", "vendors": ["beta"]}, "b": {}}},
            "experiments.x.arms.a.vendors",
            "not both",
        ),
        ({"policy": "p", "arms": {"a": {"speed": 1}, "b": {}}}, "experiments.x.arms.a.speed", ""),
        ({"policy": "p", "shadow": "beta", "sample": 1.5}, "experiments.x.sample", "(0, 1]"),
        ({"policy": "p", "shadow": "beta", "max_delay": -1}, "experiments.x.max_delay", ">= 0"),
        ({"policy": "p", "shadow": "beta", "on_late": "later"}, "experiments.x.on_late", "later"),
    ],
)
def test_bad_experiment_tables_name_the_key(table: dict[str, Any], key: str, rule: str) -> None:
    with pytest.raises(PolicyError) as caught:
        experiment_from_table("x", table)
    assert caught.value.key == key
    assert rule in caught.value.rule


@pytest.mark.parametrize(
    ("experiment", "key", "rule"),
    [
        (split(policy="nope"), "experiments.ab.policy", "no policy 'nope'"),
        (
            split(arms=(Arm("a", 1, policy="nope"), Arm("b", 1))),
            "experiments.ab.arms.a",
            "no policy 'nope'",
        ),
        (
            split(arms=(Arm("a", 1, vendors=("zeta",)), Arm("b", 1))),
            "experiments.ab.arms.a",
            "no loaded plugin provides 'zeta'",
        ),
        (
            ShadowExperiment("sh", "p", "zeta"),
            "experiments.sh.shadow",
            "zeta is not configured",
        ),
    ],
)
def test_experiments_are_checked_against_policies_and_vendors(
    experiment: Any, key: str, rule: str
) -> None:
    rig = make_rig()
    with pytest.raises(PolicyError) as caught:
        rig.engine(policy(), experiments=[experiment])
    assert caught.value.key == key
    assert rule in caught.value.rule


def test_one_split_per_policy() -> None:
    rig = make_rig()
    with pytest.raises(PolicyError, match="already split by experiment 'ab'"):
        rig.engine(policy(), experiments=[split(), split(name="cd")])


def test_experiments_from_the_config_file(tmp_path: Path) -> None:
    table = {
        "policy": "p",
        "salt": "2026-q4",
        "arms": {"control": {"weight": 9}, "beta_first": {"weight": 1, "vendors": ["beta"]}},
    }
    experiment = experiment_from_table("rollout", table)
    assert isinstance(experiment, SplitExperiment)
    assert [(a.name, a.weight, a.vendors) for a in experiment.arms] == [
        ("control", 9.0, ()),
        ("beta_first", 1.0, ("beta",)),
    ]
    shadow = experiment_from_table(
        "try_beta", {"policy": "p", "shadow": "beta", "sample": 0.25, "on_late": "cancel"}
    )
    assert isinstance(shadow, ShadowExperiment)
    assert (shadow.vendor, shadow.sample, shadow.on_late.value) == ("beta", 0.25, "cancel")
