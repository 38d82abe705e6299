"""Decisions end to end: the real plugins against both vendors' simulators over loopback HTTP.

Composition across vendors, one call serving two checks, definitive negatives that end the
decision without failover, capture errors with their hints, registry problems sent to review,
and the sync API.
"""

from __future__ import annotations

import anyio
import pytest

from engine.e2e_support import (
    IDCARDCOMPARE_PATH,
    LINKFACE,
    LINKFACE_PATH,
    LIVEDETECTFOUR_PATH,
    TENCENT,
    SimCounter,
    attempts_by,
    both_captures,
    make_engine,
    skip_reasons,
    video_capture,
)
from kycmux import CaptureIssue, Check, Decision, Evidence, Outcome, PluginHost
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet, Population, RegistryStatus

pytestmark = pytest.mark.anyio


async def test_composition_across_vendors(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    me = demo.subject
    evidence = Evidence(
        selfie=demo["selfie"],
        liveness_data=demo["live_liveness_data"],
        id_number=me.id_number,
        id_name=me.name,
        subject_id="composed-1",
    )
    linkface, tencent = SimCounter(box, LINKFACE), SimCounter(box, TENCENT)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="composed")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert set(decision.reasons) == {
        "liveness:linkface:vendor_verdict",
        "face_match:linkface:score_meets_threshold",
        "id_registry_match:tencent_legacy:score_meets_threshold",
    }
    record = decision.record
    (sdk_call,) = attempts_by(record, LINKFACE)
    assert sdk_call.checks == ("face_match", "liveness")
    assert (sdk_call.operation, sdk_call.role, sdk_call.error_class) == (
        "liveness_selfie_verification",
        "primary",
        None,
    )
    assert sdk_call.verdicts == {"face_match": "pass", "liveness": "pass"}
    (registry_call,) = attempts_by(record, TENCENT)
    assert (registry_call.operation, registry_call.checks) == (
        "idcardcompare",
        ("id_registry_match",),
    )
    assert registry_call.vendor_code == "0"
    assert {c.check: c.vendors for c in record.checks} == {
        "liveness": (LINKFACE,),
        "face_match": (LINKFACE,),
        "id_registry_match": (TENCENT,),
    }
    registry_score = next(c for c in record.checks if c.check == "id_registry_match").scores
    assert registry_score[TENCENT]["threshold"] == {"source": "raw", "max_far": None, "raw": 75.0}
    assert registry_score[TENCENT]["raw"] >= 75.0
    # Tencent could serve liveness and face match only from a video: skipped, with the reason.
    skipped = skip_reasons(record)
    assert skipped[(TENCENT, "liveness")].startswith("evidence_missing:video")
    assert "digits" in skipped[(TENCENT, "liveness")]
    assert "reference_photo" in skipped[(TENCENT, "face_match")]
    assert not any(s.vendor == LINKFACE for s in record.skipped)
    # One Linkface call for two checks; Tencent's registry only, never its video endpoint.
    assert linkface.served(LINKFACE_PATH) == 1
    assert tencent.served(IDCARDCOMPARE_PATH) == 1
    assert tencent.served(LIVEDETECTFOUR_PATH) == 0


async def test_livedetectfour_with_card_serves_liveness_and_face_match(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    tencent, linkface = SimCounter(box, TENCENT), SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(video_capture(demo), policy="video_first")

    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    (call,) = decision.record.attempts
    assert (call.vendor, call.operation, call.checks) == (
        TENCENT,
        "livedetectfour",
        ("face_match", "liveness"),
    )
    assert call.verdicts == {"face_match": "pass", "liveness": "pass"}
    face = next(c for c in decision.record.checks if c.check == "face_match")
    assert face.vendors == (TENCENT,)
    # Tencent's sim is calibrated (70 = FAR 1e-3, 80 = 1e-4): the policy's max_far applies.
    assert face.scores[TENCENT]["name"] == "sim"
    assert face.scores[TENCENT]["threshold"]["max_far"] == 1e-4
    assert face.scores[TENCENT]["far"] <= 1e-4
    assert tencent.served(LIVEDETECTFOUR_PATH) == 1
    assert linkface.served() == 0
    assert skip_reasons(decision.record)[(LINKFACE, "liveness")].startswith("evidence_missing:")


async def test_spoof_video_rejects_without_asking_linkface(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    # Linkface could serve both checks from this evidence too: it must still not be asked.
    evidence = both_captures(demo, video="spoof_video", subject_id="spoofer")
    linkface = SimCounter(box, LINKFACE)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="video_first")

    assert decision.outcome is Outcome.REJECT
    assert "liveness:tencent_legacy:-5016" in decision.reasons
    (call,) = decision.record.attempts
    # The call succeeded (code 0); the per-check statuses carry the -5016.
    assert (call.vendor, call.vendor_code) == (TENCENT, "0")
    assert call.verdicts["liveness"] == "fail"
    assert attempts_by(decision.record, LINKFACE) == []
    assert not any(s.vendor == LINKFACE for s in decision.record.skipped)
    assert linkface.served() == 0


async def test_attack_liveness_data_rejects_without_asking_tencent(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    evidence = both_captures(demo, liveness_data="attack_liveness_data", subject_id="attacker")
    tencent = SimCounter(box, TENCENT)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="sdk_first")

    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == ("liveness:linkface:vendor_verdict",)
    liveness = next(c for c in decision.record.checks if c.check == "liveness")
    assert (liveness.verdict, liveness.vendors) == ("fail", (LINKFACE,))
    assert [a.vendor for a in decision.record.attempts] == [LINKFACE]
    assert tencent.served() == 0


async def test_impostor_rejects_on_face_match_score(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    evidence = both_captures(demo, selfie="impostor_selfie", subject_id="impostor")
    tencent = SimCounter(box, TENCENT)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="sdk_first")

    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == ("face_match:linkface:score_below_threshold",)
    face = next(c for c in decision.record.checks if c.check == "face_match")
    score = face.scores[LINKFACE]
    assert score["name"] == "verify_score"
    assert score["far"] > score["threshold"]["max_far"] == 1e-4
    assert [a.vendor for a in decision.record.attempts] == [LINKFACE]
    assert tencent.served() == 0


async def test_registry_name_mismatch_rejects(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    evidence = Evidence(
        selfie=demo["selfie"], id_number=demo.subject.id_number, id_name=demo.impostor.name
    )
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="registry")

    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == ("id_registry_match:tencent_legacy:-5803",)
    (call,) = decision.record.attempts
    assert (call.error_class, call.vendor_code) == ("identity_mismatch", "-5803")


@pytest.mark.parametrize(
    ("policy", "evidence_args", "issue", "asked", "spared"),
    [
        (
            "video_first",
            {"video": "wrong_digits_video"},
            CaptureIssue.WRONG_DIGITS,
            TENCENT,
            LINKFACE,
        ),
        ("video_first", {"video": "silent_video"}, CaptureIssue.NO_SOUND, TENCENT, LINKFACE),
        ("video_first", {"video": "no_face_video"}, CaptureIssue.NO_FACE, TENCENT, LINKFACE),
        ("sdk_first", {"selfie": "no_face_selfie"}, CaptureIssue.NO_FACE, LINKFACE, TENCENT),
    ],
    ids=["wrong-digits", "silent-video", "no-face-in-video", "no-face-in-selfie"],
)
async def test_capture_errors_ask_for_a_new_capture_without_failover(
    box: Sandbox,
    sim_host: PluginHost,
    demo: DemoSet,
    policy: str,
    evidence_args: dict[str, str],
    issue: CaptureIssue,
    asked: str,
    spared: str,
) -> None:
    evidence = both_captures(demo, **evidence_args)
    other = SimCounter(box, spared)
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy=policy)

    assert decision.outcome is Outcome.RETRY_CAPTURE
    assert decision.hint == issue.hint
    assert decision.record.hint == issue.hint
    (call,) = decision.record.attempts
    assert (call.vendor, call.capture_issue) == (asked, issue.value)
    assert {c.verdict for c in decision.record.checks} == {"retry_capture"}
    assert other.served() == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RegistryStatus.PHOTO_INVALID, "-5809"),
        (RegistryStatus.PHOTO_POOR, "-5817"),
        (RegistryStatus.NUMBER_INVALID, "-5804"),
    ],
)
async def test_unusable_registry_data_goes_to_review(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, status: RegistryStatus, code: str
) -> None:
    (person,) = Population.default().by_status(status)
    evidence = Evidence(
        selfie=demo[f"registry_{status.value}_selfie"],
        id_number=person.id_number,
        id_name=person.name,
    )
    async with make_engine(box, sim_host) as engine:
        decision = await engine.verify(evidence, policy="registry")

    assert decision.outcome is Outcome.REVIEW
    assert decision.reasons == (f"id_registry_match:tencent_legacy:{code}",)
    assert decision.hint is None
    (call,) = decision.record.attempts
    assert call.error_class == "registry_unusable"


async def test_concurrent_decisions_share_one_engine(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    cases = [
        (both_captures(demo, subject_id=f"live-{i}"), "sdk_first", Outcome.ACCEPT) for i in range(4)
    ] + [
        (video_capture(demo, subject_id=f"video-{i}"), "video_first", Outcome.ACCEPT)
        for i in range(3)
    ]
    cases += [
        (video_capture(demo, "spoof_video"), "video_first", Outcome.REJECT),
        (both_captures(demo, selfie="impostor_selfie"), "sdk_first", Outcome.REJECT),
        (video_capture(demo, "quiet_video"), "video_first", Outcome.RETRY_CAPTURE),
    ]
    linkface, tencent = SimCounter(box, LINKFACE), SimCounter(box, TENCENT)
    decisions: list[Decision | None] = [None] * len(cases)

    async def decide(index: int, evidence: Evidence, policy: str) -> None:
        decisions[index] = await engine.verify(evidence, policy=policy)

    async with make_engine(box, sim_host) as engine, anyio.create_task_group() as group:
        for index, (evidence, policy, _) in enumerate(cases):
            group.start_soon(decide, index, evidence, policy)

    done = [d for d in decisions if d is not None]
    assert [d.outcome for d in done] == [expected for _, _, expected in cases]
    assert len({d.request_id for d in done}) == len(cases)
    # One call per decision: five to Linkface (four live, one impostor), five to Tencent.
    assert linkface.served() == 5
    assert tencent.served(LIVEDETECTFOUR_PATH) == 5


def test_sync_api_from_plain_code(
    sim_sandbox: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    linkface = SimCounter(sim_sandbox, LINKFACE)
    with make_engine(sim_sandbox, sim_host) as engine:
        first = engine.verify_sync(both_captures(demo), policy="sdk_first")
        second = engine.verify_sync(
            video_capture(demo, "spoof_video"), policy="video_first", checks=[Check.LIVENESS]
        )

    assert first.outcome is Outcome.ACCEPT
    assert [(a.vendor, a.checks) for a in first.record.attempts] == [
        (LINKFACE, ("face_match", "liveness"))
    ]
    assert second.outcome is Outcome.REJECT
    assert [c.check for c in second.record.checks] == ["liveness"]
    assert second.request_id != first.request_id
    assert linkface.served() == 1
