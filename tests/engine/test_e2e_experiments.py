"""Live experiments end to end: TOML experiments, both simulators over loopback, SQLite results.

Tencent decides live (``video_first``); Linkface is shadowed for consenting subjects, and a
split sends a share of subjects to a Linkface-first arm. The stored results then feed a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.e2e_support import LINKFACE, LINKFACE_PATH, TENCENT, SimCounter, both_captures, policies
from kycmux import Config, Consent, Engine, Outcome, PluginHost, keyed_hash
from kycmux.report import summarize
from kycmux.results import Role, SqliteResultStore
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet

pytestmark = pytest.mark.anyio

SHADOW = {"policy": "video_first", "shadow": LINKFACE, "max_delay": 4.0, "timeout": 4.0}
SPLIT = {
    "policy": "sdk_first",
    "salt": "e2e",
    "arms": {"control": {"weight": 1}, "video": {"weight": 1, "vendors": [TENCENT]}},
}


def engine_with(box: Sandbox, host: PluginHost, results: Path, **experiments: Any) -> Engine:
    data = {
        "vendors": box.tables,
        "policies": policies(),
        "experiments": experiments,
        "engine": {"results": str(results), "record_key": "${E2E_RECORD_KEY}"},
    }
    config = Config.from_mapping(data, host.vendors, {**box.env, "E2E_RECORD_KEY": "e2e-key"})
    return Engine.from_config(config, host=host)


CASES = {
    "genuine": {},
    "spoof": {"video": "spoof_video", "liveness_data": "attack_liveness_data"},
    "impostor": {"video": "impostor_video", "liveness_data": "impostor_liveness_data"},
}


async def test_linkface_shadows_tencent_for_consenting_subjects(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    path = tmp_path / "results.sqlite"
    linkface = SimCounter(box, LINKFACE)
    decisions = {}
    async with engine_with(box, sim_host, path, try_linkface=SHADOW) as engine:
        for name, files in CASES.items():
            evidence = both_captures(
                demo, subject_id=f"e2e-{name}", consents=[Consent.SHADOW_EVALUATION], **files
            )
            decisions[name] = await engine.verify(evidence, policy="video_first")
        refused = await engine.verify(both_captures(demo, subject_id="e2e-no-consent"))
    assert linkface.served(LINKFACE_PATH) == len(CASES)  # never for the refusing subject
    assert refused.record.shadow[0].status == "no_consent"
    for name, decision in decisions.items():
        assert {a.vendor for a in decision.record.attempts} == {TENCENT}, name
        (shadow,) = decision.record.shadow
        assert (shadow.vendor, shadow.status) == (LINKFACE, "answered"), name
        assert {a.role for a in shadow.attempts} == {"shadow"}
    assert decisions["genuine"].outcome is Outcome.ACCEPT
    assert decisions["genuine"].record.shadow[0].outcome == "accept"
    assert decisions["spoof"].outcome is Outcome.REJECT
    assert decisions["spoof"].record.shadow[0].outcome == "reject"

    with SqliteResultStore.open(path) as store:
        results = store.results("try_linkface")
        study = store.study("try_linkface")
    assert study is not None
    assert study.meta["vendor"] == LINKFACE
    # Subjects are hashed with the key from the environment, never the literal in the file.
    expected = keyed_hash(b"e2e-key", "e2e-genuine")
    assert decisions["genuine"].record.subject == expected
    by_item: dict[str, dict[str, str]] = {}
    for result in results:
        by_item.setdefault(result.item, {})[result.system] = result.outcome
        assert result.role is (Role.SHADOW if result.system == LINKFACE else Role.LIVE)
    assert by_item == {
        d.request_id: {"live": d.outcome.value, LINKFACE: d.record.shadow[0].outcome}
        for d in decisions.values()
    }
    # The live and shadow answers are paired by request: the report can compare them.
    summary = summarize(results, study=study, bootstrap=50)
    assert summary["overview"]["n_paired_items"] == len(CASES)
    (pair,) = summary["agreement"]
    assert pair["paired"] is True
    assert pair["n"] == len(CASES)


async def test_split_sends_each_subject_to_one_arm_for_good(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    path = tmp_path / "results.sqlite"
    arms: dict[str, set[str]] = {}
    async with engine_with(box, sim_host, path, rollout=SPLIT) as engine:
        for i in range(12):
            for _ in range(2):
                evidence = both_captures(demo, subject_id=f"person-{i}")
                decision = await engine.verify(evidence, policy="sdk_first")
                experiment = decision.record.experiment
                assert experiment is not None
                arms.setdefault(f"person-{i}", set()).add(experiment["arm"])
                first = decision.record.attempts[0].vendor
                assert first == (TENCENT if experiment["arm"] == "video" else LINKFACE)
    assert all(len(a) == 1 for a in arms.values())
    assert {next(iter(a)) for a in arms.values()} == {"control", "video"}
    with SqliteResultStore.open(path) as store:
        stored = store.results("rollout")
    assert len(stored) == 24
    assert {r.system for r in stored} == {"control", "video"}
    # Arms saw different people: rates compare, agreement cannot be computed.
    summary = summarize(stored, bootstrap=50)
    assert summary["overview"]["n_paired_items"] == 0
    assert all(pair["paired"] is False for pair in summary["agreement"])
