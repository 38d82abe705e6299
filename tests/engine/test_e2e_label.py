"""A live shadow experiment gets ground truth afterwards (``kycmux label``) and with it the
accuracy section offline runs have; its study says its answers came from simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.e2e_support import LINKFACE, both_captures, policies
from kycmux import Config, Consent, Engine, PluginHost
from kycmux.cli._main import main
from kycmux.report import summarize
from kycmux.results import SqliteResultStore
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet

pytestmark = pytest.mark.anyio

SHADOW = {"policy": "video_first", "shadow": LINKFACE, "max_delay": 4.0, "timeout": 4.0}
CASES = {
    "genuine": {},
    "spoof": {"video": "spoof_video", "liveness_data": "attack_liveness_data"},
    "impostor": {"video": "impostor_video", "liveness_data": "impostor_liveness_data"},
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


async def test_live_decisions_labelled_later_get_an_accuracy_section(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    path = tmp_path / "results.sqlite"
    ids = {}
    async with engine_with(box, sim_host, path, try_linkface=SHADOW) as engine:
        for name, files in CASES.items():
            evidence = both_captures(
                demo, subject_id=f"label-{name}", consents=[Consent.SHADOW_EVALUATION], **files
            )
            ids[name] = (await engine.verify(evidence, policy="video_first")).request_id
    with SqliteResultStore.open(path) as store:
        before = summarize(store.results("try_linkface"), study=store.study("try_linkface"))
    assert before["accuracy"]["available"] is False
    assert before["verdict"]["provenance"]["answers"] == {
        "live": "simulator",
        LINKFACE: "simulator",
    }
    assert before["verdict"]["provenance"]["data"] == "traffic"
    assert before["verdict"]["statement"].startswith("Simulated vendors: this ranks the simulators")

    labels = tmp_path / "review.jsonl"
    labels.write_text(
        "".join(f'{{"request_id": "{rid}", "label": "{name}"}}\n' for name, rid in ids.items()),
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["label", str(labels), "--results", str(path)])
    assert done.exit_code == 0, done.output
    assert "try_linkface: 3 labelled" in done.output

    with SqliteResultStore.open(path) as store:
        after = summarize(store.results("try_linkface"), study=store.study("try_linkface"))
    assert after["accuracy"]["available"] is True
    assert after["overview"]["labels"] == {
        "genuine": 1,
        "impostor": 1,
        "spoof": 1,
        "unlabelled": 0,
    }
    assert set(after["accuracy"]["systems"]) == {"live", LINKFACE}
    assert after["accuracy"]["systems"]["live"]["n_labelled"] == 3
