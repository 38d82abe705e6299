"""``kycmux label`` and ``kycmux replay`` end to end on a sandbox study, and its labelling."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

from kycmux.cli._main import main
from kycmux.results import Label, SqliteResultStore

LINKFACE, TENCENT = "linkface", "tencent_legacy"
POLICIES = """
[policies.same]
liveness = { vendors = ["linkface", "tencent_legacy"] }
face_match = { vendors = ["linkface", "tencent_legacy"] }

[policies.strict]
liveness = { vendors = ["linkface", "tencent_legacy"] }
face_match = { vendors = ["linkface", "tencent_legacy"], raw_thresholds = { linkface = 0.9 } }

[policies.registry]
id_registry_match = { vendors = ["tencent_legacy"] }
liveness = { vendors = ["linkface", "tencent_legacy"] }
"""


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=False)


@attrs.frozen
class Study:
    folder: Path
    store: Path
    policies: Path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("truth")
    made = invoke(["synthetic-manifest", str(folder / "data"), "--rows", "24", "--seed", "9"])
    assert made.exit_code == 0, made.output
    out = folder / "report"
    args = ["compare", str(folder / "data" / "manifest.jsonl"), "--sandbox", "--out", str(out)]
    compared = invoke([*args, "--bootstrap", "100"])
    assert compared.exit_code == 0, compared.output
    policies = folder / "policies.toml"
    policies.write_text(POLICIES, encoding="utf-8")
    return Study(folder, out / "results.sqlite", policies)


def test_a_sandbox_report_says_it_ranks_simulators_in_its_verdict(study: Study) -> None:
    summary = json.loads((study.folder / "report" / "summary.json").read_text(encoding="utf-8"))
    verdict = summary["verdict"]
    assert verdict["statement"].startswith(
        "Simulated vendors, synthetic data: this ranks the simulators, not the vendors."
    )
    assert verdict["provenance"] == {
        "label": "simulated",
        "answers": {LINKFACE: "simulator", TENCENT: "simulator"},
        "data": "synthetic",
        "simulated": True,
        "statement": verdict["paragraphs"][0],
    }
    assert summary["study"]["meta"]["source"]["data"] == "synthetic"
    html = (study.folder / "report" / "index.html").read_text(encoding="utf-8")
    assert "simulated vendors: ranks the simulators" in html
    assert "Appendix: study settings as recorded" in html
    # The hashes are in the appendix, not among the facts in words.
    words = html.split('id="appendix"')[0]
    assert "sha256:" not in words.split('id="study"')[1]


def test_label_stores_truth_once_and_reports_unknown_ids(study: Study, tmp_path: Path) -> None:
    labels = tmp_path / "review.csv"
    labels.write_text(
        "request_id,label,liveness\nr0001,spoof,spoof\nr0002,genuine,\nnot-a-row,genuine,\n",
        encoding="utf-8",
    )
    args = ["label", str(labels), "--results", str(study.store)]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    assert "manifest: 2 labelled, 0 already had this truth" in first.output
    assert "1 request ids are in no study" in first.output
    assert "not-a-row" in first.output
    again = invoke(args)
    assert "manifest: 0 labelled, 2 already had this truth" in again.output
    with SqliteResultStore.open(study.store) as store:
        rows = {(r.item, r.system): r.label for r in store.results("manifest")}
    assert rows[("r0001", LINKFACE)] is rows[("r0001", TENCENT)] is Label.SPOOF
    assert rows[("r0002", LINKFACE)] is Label.GENUINE


def test_label_with_only_unknown_ids_fails_and_a_bad_file_names_the_line(
    study: Study, tmp_path: Path
) -> None:
    unknown = tmp_path / "u.jsonl"
    unknown.write_text('{"request_id": "nope", "label": "spoof"}\n', encoding="utf-8")
    assert invoke(["label", str(unknown), "--results", str(study.store)]).exit_code == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request_id": "r0001", "label": "fake"}\n', encoding="utf-8")
    refused = invoke(["label", str(bad), "--results", str(study.store)])
    assert refused.exit_code == 2
    assert "bad.jsonl:1: label: must be one of" in refused.output


def _replay(study: Study, policy: str, *extra: str) -> dict[str, object]:
    args = ["replay", "--results", str(study.store), "--study", "manifest"]
    done = invoke([*args, "--policy", policy, "--config", str(study.policies), "--json", *extra])
    assert done.exit_code == 0, done.output
    summary: dict[str, object] = json.loads(done.output)
    return summary


def test_replay_under_the_same_policy_changes_nothing(study: Study) -> None:
    summary = _replay(study, "same")
    systems = summary["systems"]
    assert isinstance(systems, dict)
    for system in (LINKFACE, TENCENT):
        entry = systems[system]
        assert (entry["n"], entry["replayed"], entry["unchanged"]) == (24, 24, 24)
        assert entry["changed"] == {}
    assert summary["vendors_called"] == 0


def test_replay_under_a_stricter_threshold_turns_exactly_the_low_scores_to_rejects(
    study: Study,
) -> None:
    with SqliteResultStore.open(study.store) as store:
        rows = [r for r in store.results("manifest") if r.system == LINKFACE]
    expected = sorted(
        r.item for r in rows if r.outcome == "accept" and (r.checks["face_match"].raw or 0.0) < 0.9
    )
    assert expected, "the sandbox gave no accepted face match under 0.9: the test proves nothing"
    summary = _replay(study, "strict", "--examples", "100")
    entry = summary["systems"][LINKFACE]  # type: ignore[index]
    assert entry["accept_to_reject"] == len(expected)
    assert sorted(entry["changed"]["accept->reject"]["examples"]) == expected
    assert entry["reject_to_accept"] == 0
    # Tencent's rows keep the default threshold: nothing moves.
    assert summary["systems"][TENCENT]["changed"] == {}  # type: ignore[index]


def test_replay_refuses_what_was_never_asked(study: Study) -> None:
    summary = _replay(study, "registry")
    entry = summary["systems"][TENCENT]  # type: ignore[index]
    assert entry["replayed"] == 0
    assert entry["refused"]["count"] == 24
    (reason,) = entry["refused"]["reasons"]
    assert reason == "the policy asks for id_registry_match, which this decision did not"


def test_replay_saved_as_a_study_reports_itself_as_a_replay(study: Study) -> None:
    args = ["replay", "--results", str(study.store), "--study", "manifest", "--policy", "strict"]
    saved = invoke([*args, "--config", str(study.policies), "--save-as", "what-if"])
    assert saved.exit_code == 0, saved.output
    assert "Stored 48 replayed rows as study 'what-if'" in saved.output
    out = study.folder / "what-if"
    report = invoke(
        ["report", "--results", str(study.store), "--study", "what-if", "--out", str(out)]
    )
    assert report.exit_code == 0, report.output
    verdict = json.loads((out / "summary.json").read_text(encoding="utf-8"))["verdict"]
    assert verdict["provenance"]["label"] == "replay"
    assert verdict["provenance"]["simulated"] is True
    assert verdict["statement"].startswith("Replayed answers: vendor answers recorded in manifest")
    assert "this ranks the simulators, not the vendors" in verdict["paragraphs"][0]


def test_replay_names_a_missing_policy(study: Study) -> None:
    args = ["replay", "--results", str(study.store), "--study", "manifest", "--policy", "nope"]
    done = CliRunner().invoke(main, [*args, "--config", str(study.policies)])
    assert done.exit_code == 2
    assert "no [policies.nope]" in done.output
