"""Decision records end to end: one JSON line per decision, and no secret or personal data.

The canaries are real: the simulators' credentials signed every request, the ID number and
name went to Tencent's registry, the images went out in full, and Tencent's answer carried
its ``photo`` field (a wiretap on ``parse`` proves it came over the wire).
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from engine.e2e_support import both_captures, make_engine, video_capture
from kycmux import Evidence, Outcome, PluginHost, VendorResponse, hookimpl
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet, VideoTruth
from kycmux_tencent_legacy._sim import _best_frame

pytestmark = pytest.mark.anyio


class Wiretap:
    """A plugin that keeps every vendor response body the engine parses (it parses nothing)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    @hookimpl(tryfirst=True)
    def parse(self, response: VendorResponse) -> None:
        self.bodies.append(bytes(response.body))


def _image_canaries(data: bytes) -> list[str]:
    """Forms a leaked image would take in a JSON text: base64, hex, or a latin-1 decode."""
    middle = data[len(data) // 2 : len(data) // 2 + 48]
    return [
        base64.b64encode(data).decode()[:64],
        base64.b64encode(middle).decode()[4:52],
        middle.hex(),
        middle.decode("latin-1"),
    ]


async def test_records_one_line_per_decision_and_no_canary_anywhere(
    box: Sandbox, demo: DemoSet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host = PluginHost.from_entry_points()  # the sink registers on the host: give it its own
    wiretap = Wiretap()
    host.register(wiretap, "test.wiretap")
    path = tmp_path / "records" / "decisions.jsonl"
    me, other = demo.subject, demo.impostor
    cases = [
        Evidence(
            selfie=demo["selfie"],
            liveness_data=demo["live_liveness_data"],
            id_number=me.id_number,
            id_name=me.name,
        ),
        video_capture(demo, id_number=me.id_number, id_name=me.name),
        Evidence(selfie=demo["selfie"], id_number=me.id_number, id_name=other.name),
        both_captures(demo, selfie="impostor_selfie", id_number=other.id_number),
    ]
    policies = ["composed", "video_first", "registry", "sdk_first"]
    async with make_engine(box, host, records=str(path)) as engine:
        decisions = [await engine.verify(e, policy=p) for e, p in zip(cases, policies, strict=True)]

    assert [d.outcome for d in decisions] == [
        Outcome.ACCEPT,
        Outcome.ACCEPT,
        Outcome.REJECT,
        Outcome.REJECT,
    ]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(decisions)
    for line, decision in zip(lines, decisions, strict=True):
        stored = json.loads(line)
        assert stored == json.loads(json.dumps(decision.record.to_dict()))
        assert {"outcome", "checks", "attempts", "skipped", "request_id"} <= set(stored)
        assert stored["subject"].startswith("hmac-sha256:")
    # The bundled plugins publish no per-answer table: every FAR is on the declared one.
    scores = [
        score
        for d in decisions
        for part in (*d.record.to_dict()["checks"], *d.record.to_dict()["attempts"])
        for score in part["scores"].values()
    ]
    calibrated = [s for s in scores if s["calibrated"]]
    assert calibrated
    assert all(
        s["calibration"]["source"] == "declared" and len(s["calibration"]["points"]) >= 2
        for s in calibrated
    )
    assert all(s["calibration"] is None for s in scores if not s["calibrated"])

    # The canaries did travel: credentials are configured, Tencent returned its photo field.
    photo = _best_frame(_video_truth(demo))
    assert any(photo.encode() in body for body in wiretap.bodies)
    canaries = [value for value in box.env.values() if len(value) >= 8]
    assert len(canaries) == len(box.env) >= 4
    canaries += [me.id_number, other.id_number, me.name, other.name, photo, photo[100:160]]
    for name in ("selfie", "impostor_selfie", "card_photo", "live_video", "live_liveness_data"):
        canaries += _image_canaries(demo[name].read_bytes())

    texts = {
        "records file": path.read_text(encoding="utf-8"),
        "to_dict": "\n".join(json.dumps(d.record.to_dict(), ensure_ascii=False) for d in decisions),
        "to_dict (ascii)": "\n".join(json.dumps(d.record.to_dict()) for d in decisions),
        "log": caplog.text,
        "repr": "\n".join(repr(d) for d in decisions),
    }
    for where, text in texts.items():
        leaked = [c[:12] + "..." for c in canaries if c in text]
        assert not leaked, f"{where} leaks {leaked}"


def _video_truth(demo: DemoSet) -> VideoTruth:
    truth = demo.truths["live_video"]
    assert isinstance(truth, VideoTruth)
    return truth


async def test_two_engines_on_one_host_keep_their_own_records(
    box: Sandbox, demo: DemoSet, tmp_path: Path
) -> None:
    host = PluginHost.from_entry_points()
    first_path, second_path = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first = make_engine(box, host, records=str(first_path))
    second = make_engine(box, host, records=str(second_path))
    async with first, second:
        mine = await second.verify(both_captures(demo), policy="sdk_first")

    # The second engine's decision goes to the second engine's file, and only there.
    assert not first_path.exists()
    stored = [json.loads(line) for line in second_path.read_text(encoding="utf-8").splitlines()]
    assert [r["request_id"] for r in stored] == [mine.request_id]
    assert host.failures == ()
