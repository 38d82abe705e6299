"""Outcomes decided by evidence content, over real loopback HTTP: every code a capture, an ID or
a malformed request can produce, classified end to end."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from kycmux import (
    CallOutcome,
    CaptureIssue,
    Check,
    ErrorClass,
    Evidence,
    FilePart,
    VendorRequest,
)
from kycmux.simkit import SimRequest, SimResponse, SimulatorApp, serve
from kycmux.synthetic import (
    DemoSet,
    ImageTruth,
    Liveness,
    Population,
    VideoTruth,
    attack_strength,
    image_bytes,
    write_video,
)
from kycmux_tencent_legacy._sim import TencentSimulator
from kycmux_tencent_legacy._sim._judge import LIVE_REJECT, LIVE_UNSURE

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

LIVENESS = frozenset({Check.LIVENESS})
BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
REGISTRY = frozenset({Check.ID_REGISTRY_MATCH})
PEOPLE = Population.default()
SUBJECT = PEOPLE.by_id("P0001")


def _reading_failed(
    outcome: CallOutcome,
    check: Check,
    status: str,
    error_class: ErrorClass,
    issue: CaptureIssue | None = None,
) -> None:
    reading = outcome.readings[check]
    assert outcome.failure is None  # the call succeeded; this check did not
    assert reading.answer is not None
    assert (reading.answer.ok, reading.answer.status) == (False, status)
    assert reading.failure is not None
    assert (reading.failure.error_class, reading.failure.capture_issue) == (error_class, issue)
    assert reading.failure.reason == f"tencent_legacy:{status}"


def _call_failed(
    outcome: CallOutcome, code: str, error_class: ErrorClass, issue: CaptureIssue | None = None
) -> None:
    assert outcome.result is not None
    assert (outcome.result.ok, outcome.result.code) == (False, code)
    assert outcome.failure is not None
    assert (outcome.failure.error_class, outcome.failure.capture_issue) == (error_class, issue)
    assert outcome.failure.reason == f"tencent_legacy:{code}"


def _video(demo: DemoSet, name: str, card: str | None = "card_photo") -> Evidence:
    photo = demo[card] if card else None
    return Evidence(video=demo[name], digits=demo.digits, reference_photo=photo)


# --- livedetectfour ------------------------------------------------------------------------


def test_live_genuine_video_passes_with_a_calibrated_high_sim(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo, "live_video"))
    assert outcome.failure is None
    live, match = outcome.readings[Check.LIVENESS], outcome.readings[Check.FACE_MATCH]
    assert live.failure is None
    assert live.answer.passed is True
    assert match.failure is None
    assert match.score is not None
    assert match.score.name == "sim"
    assert 85 <= match.score.raw <= 100
    assert match.score.far is not None
    assert match.score.far < 1e-4  # beyond the published 80 => 1e-4 point
    assert match.score.extrapolated


def test_impostor_video_gets_a_low_sim(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(BOTH, _video(demo, "impostor_video"))
    match = outcome.readings[Check.FACE_MATCH]
    assert match.failure is None
    assert match.score.raw < 40
    assert match.score.far == 1.0  # far below 70: capped at 1, extrapolated
    assert match.score.extrapolated


def test_liveness_only_request_has_no_face_match(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(LIVENESS, _video(demo, "live_video", card=None))
    assert set(outcome.readings) == {Check.LIVENESS}
    assert outcome.readings[Check.LIVENESS].answer.passed is True


def test_flv_video_is_accepted(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(LIVENESS, _video(demo, "live_video_flv", card=None))
    assert outcome.readings[Check.LIVENESS].answer.passed is True


LIVENESS_CODES = [
    ("low_res_video", "-5015", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.LOW_RESOLUTION),
    ("no_face_video", "-5009", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_FACE),
    ("few_faces_video", "-5005", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.TOO_FEW_FACES),
    ("silent_video", "-5007", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_SOUND),
    ("noisy_video", "-5012", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.TOO_NOISY),
    ("quiet_video", "-5013", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.TOO_QUIET),
    ("still_lips_video", "-5010", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_LIP_MOVEMENT),
    ("wrong_digits_video", "-5008", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.WRONG_DIGITS),
    ("spoof_video", "-5016", ErrorClass.NOT_LIVE, None),
]


@pytest.mark.parametrize(("name", "status", "error_class", "issue"), LIVENESS_CODES)
def test_liveness_codes_from_video_content(
    wire: Wire,
    demo: DemoSet,
    name: str,
    status: str,
    error_class: ErrorClass,
    issue: CaptureIssue | None,
) -> None:
    outcome = wire.call(BOTH, _video(demo, name))
    _reading_failed(outcome, Check.LIVENESS, status, error_class, issue)
    # No comparison after a failed liveness: face_match fails with the liveness status.
    _reading_failed(outcome, Check.FACE_MATCH, status, error_class, issue)


def test_digits_are_checked_against_the_ones_asked(wire: Wire, demo: DemoSet) -> None:
    # The wrong-digits video shows the person reading 1234: right when 1234 was asked.
    evidence = Evidence(video=demo["wrong_digits_video"], digits="1234")
    assert wire.call(LIVENESS, evidence).readings[Check.LIVENESS].answer.passed is True


def test_video_without_a_truth_is_an_invalid_video(wire: Wire, mp4_file: Path) -> None:
    outcome = wire.call(LIVENESS, Evidence(video=mp4_file, digits="9532"))
    _reading_failed(outcome, Check.LIVENESS, "-5001", ErrorClass.CAPTURE_UNUSABLE,
                    CaptureIssue.BAD_VIDEO)  # fmt: skip


def _spoof_with_attack(low: float, high: float) -> VideoTruth:
    """A spoof video truth whose Tencent attack strength lies in [low, high)."""
    for index in range(200):
        person = f"S{index}"
        for step in range(101):
            difficulty = step / 100
            attack = attack_strength(
                Liveness.SPOOF, difficulty=difficulty, salt="tencent_legacy", person=person
            )
            if low <= attack < high:
                return VideoTruth(person, Liveness.SPOOF, difficulty=difficulty)
    raise AssertionError(f"no spoof has an attack strength in [{low}, {high})")


def test_uncertain_spoof_is_5011_and_the_hardest_spoof_passes(wire: Wire, tmp_path: Path) -> None:
    path = write_video(tmp_path / "unsure.mp4", _spoof_with_attack(LIVE_UNSURE, LIVE_REJECT))
    outcome = wire.call(LIVENESS, Evidence(video=path, digits="9532"))
    _reading_failed(outcome, Check.LIVENESS, "-5011", ErrorClass.NOT_LIVE)
    # Tencent's lip-reading check is lenient: a spoof this hard is taken for live.
    path = write_video(tmp_path / "fooled.mp4", _spoof_with_attack(0.0, LIVE_UNSURE))
    outcome = wire.call(LIVENESS, Evidence(video=path, digits="9532"))
    assert outcome.readings[Check.LIVENESS].answer.passed is True


COMPARE_CODES = [
    ("low_quality_selfie", "-4009", CaptureIssue.BAD_IMAGE),
    ("no_face_selfie", "-4017", CaptureIssue.NO_FACE),
    ("corrupt_selfie", "-4018", CaptureIssue.BAD_IMAGE),
]


@pytest.mark.parametrize(("card", "status", "issue"), COMPARE_CODES)
def test_compare_codes_from_card_content(
    wire: Wire, demo: DemoSet, card: str, status: str, issue: CaptureIssue
) -> None:
    outcome = wire.call(BOTH, _video(demo, "live_video", card=card))
    assert outcome.readings[Check.LIVENESS].answer.passed is True
    _reading_failed(outcome, Check.FACE_MATCH, status, ErrorClass.CAPTURE_UNUSABLE, issue)


def test_card_without_a_truth_shows_no_face(wire: Wire, demo: DemoSet, png_file: Path) -> None:
    evidence = Evidence(video=demo["live_video"], digits=demo.digits, reference_photo=png_file)
    outcome = wire.call(BOTH, evidence)
    _reading_failed(outcome, Check.FACE_MATCH, "-4017", ErrorClass.CAPTURE_UNUSABLE,
                    CaptureIssue.NO_FACE)  # fmt: skip


def test_video_without_a_person_fails_feature_extraction(
    wire: Wire, demo: DemoSet, tmp_path: Path
) -> None:
    path = write_video(tmp_path / "nobody.mp4", VideoTruth(None))
    evidence = Evidence(video=path, digits="9532", reference_photo=demo["card_photo"])
    outcome = wire.call(BOTH, evidence)
    assert outcome.readings[Check.LIVENESS].answer.passed is True
    _reading_failed(outcome, Check.FACE_MATCH, "-4006", ErrorClass.CAPTURE_UNUSABLE,
                    CaptureIssue.BAD_VIDEO)  # fmt: skip


def _prepared(wire: Wire, checks: frozenset[Check], evidence: Evidence) -> VendorRequest:
    return wire.client().prepare("tencent_legacy", checks, evidence, "req-crafted")


def test_invalid_level_parameter_is_5014(wire: Wire, demo: DemoSet) -> None:
    request = _prepared(wire, LIVENESS, _video(demo, "live_video", card=None))
    outcome = wire.exchange(wire.sign(request.with_fields(("level", "9"))))
    _reading_failed(outcome, Check.LIVENESS, "-5014", ErrorClass.REQUEST_INVALID)


def _without(request: VendorRequest, *names: str) -> VendorRequest:
    fields = tuple((k, v) for k, v in request.fields if k not in names)
    files = tuple(f for f in request.files if f.field not in names)
    return attrs.evolve(request, fields=fields, files=files)


@pytest.mark.parametrize("missing", ["appid", "validate_data", "compare_flag", "video", "card"])
def test_missing_livedetectfour_fields_are_21(wire: Wire, demo: DemoSet, missing: str) -> None:
    request = _without(_prepared(wire, BOTH, _video(demo, "live_video")), missing)
    _call_failed(wire.exchange(wire.sign(request)), "21", ErrorClass.REQUEST_INVALID)


def test_bad_compare_flag_is_21(wire: Wire, demo: DemoSet) -> None:
    request = _without(_prepared(wire, LIVENESS, _video(demo, "live_video")), "compare_flag")
    request = request.with_fields(("compare_flag", "yes"))
    _call_failed(wire.exchange(wire.sign(request)), "21", ErrorClass.REQUEST_INVALID)


def test_a_body_that_is_not_a_form_is_21(wire: Wire, demo: DemoSet) -> None:
    request = _prepared(wire, LIVENESS, _video(demo, "live_video"))
    as_json = attrs.evolve(request, fields=(), files=(), json={"appid": "1250000000"})
    _call_failed(wire.exchange(wire.sign(as_json)), "21", ErrorClass.REQUEST_INVALID)


def test_an_unknown_path_is_21(wire: Wire, demo: DemoSet) -> None:
    request = _prepared(wire, LIVENESS, _video(demo, "live_video"))
    elsewhere = attrs.evolve(request, url=request.url.replace("livedetectfour", "livedetect"))
    outcome = wire.exchange(wire.sign(elsewhere))
    _call_failed(outcome, "21", ErrorClass.REQUEST_INVALID)
    assert outcome.http_status == 404


def test_body_over_the_simulators_cap_is_23(
    wire_to: Callable[[TencentSimulator], Wire], demo: DemoSet
) -> None:
    wire = wire_to(TencentSimulator(max_body=2048))
    outcome = wire.call(BOTH, _video(demo, "live_video", card="selfie"))
    _call_failed(outcome, "23", ErrorClass.REQUEST_INVALID)
    small = wire.call(LIVENESS, _video(demo, "live_video", card=None))
    assert small.readings[Check.LIVENESS].answer.passed is True


# --- idcardcompare -------------------------------------------------------------------------


def _registry(demo: DemoSet, selfie: str | Path, person_id: str = "P0001", **kw: str) -> Evidence:
    person = PEOPLE.by_id(person_id)
    photo = demo[selfie] if isinstance(selfie, str) and selfie in demo else selfie
    fields = {"id_number": person.id_number, "id_name": person.name, **kw}
    return Evidence(selfie=photo, **fields)


def test_genuine_selfie_matches_the_registry(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(REGISTRY, _registry(demo, "selfie"))
    reading = outcome.readings[Check.ID_REGISTRY_MATCH]
    assert reading.failure is None
    assert reading.score.name == "similarity"
    assert reading.score.raw > 75
    assert not reading.score.calibrated  # the vendor publishes no FAR table
    assert outcome.result.extras == {"session_id": "req-wire"}


def test_impostor_selfie_scores_low(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(REGISTRY, _registry(demo, "impostor_selfie"))
    assert outcome.readings[Check.ID_REGISTRY_MATCH].score.raw < 50


REGISTRY_CODES = [
    ("selfie", "P0008", {}, "-5804", ErrorClass.REGISTRY_UNUSABLE, None),
    ("registry_photo_invalid_selfie", "P0006", {}, "-5809", ErrorClass.REGISTRY_UNUSABLE, None),
    ("registry_photo_poor_selfie", "P0007", {}, "-5817", ErrorClass.REGISTRY_UNUSABLE, None),
    ("selfie", "P0001", {"id_name": "王秀英"}, "-5803", ErrorClass.IDENTITY_MISMATCH, None),
    ("corrupt_selfie", "P0001", {}, "-4011", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.BAD_IMAGE),
    ("no_face_selfie", "P0001", {}, "-4012", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_FACE),
]


@pytest.mark.parametrize(("selfie", "person", "extra", "code", "error_class", "issue"),
                         REGISTRY_CODES)  # fmt: skip
def test_registry_codes_from_content(
    wire: Wire,
    demo: DemoSet,
    selfie: str,
    person: str,
    extra: dict[str, str],
    code: str,
    error_class: ErrorClass,
    issue: CaptureIssue | None,
) -> None:
    outcome = wire.call(REGISTRY, _registry(demo, selfie, person, **extra))
    _call_failed(outcome, code, error_class, issue)


def test_a_valid_number_the_registry_does_not_hold_is_5804(wire: Wire, demo: DemoSet) -> None:
    evidence = Evidence(selfie=demo["selfie"], id_number="11010519491231002X", id_name="张三")
    _call_failed(wire.call(REGISTRY, evidence), "-5804", ErrorClass.REGISTRY_UNUSABLE)


def test_photo_without_a_truth_shows_no_face(wire: Wire, png_file: Path, demo: DemoSet) -> None:
    outcome = wire.call(REGISTRY, _registry(demo, png_file))
    _call_failed(outcome, "-4012", ErrorClass.CAPTURE_UNUSABLE, CaptureIssue.NO_FACE)


def _gif(frames: int) -> bytes:
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def test_animated_gif_slipping_past_local_checks_is_4011(
    wire: Wire, demo: DemoSet, tmp_path: Path
) -> None:
    animated = tmp_path / "a.gif"
    animated.write_bytes(_gif(3))
    request = _prepared(wire, REGISTRY, _registry(demo, "selfie"))
    swapped = attrs.evolve(request, files=(FilePart("image", "image.gif", "image/gif",
                                                    path=animated),))  # fmt: skip
    _call_failed(wire.exchange(wire.sign(swapped)), "-4011", ErrorClass.CAPTURE_UNUSABLE,
                 CaptureIssue.BAD_IMAGE)  # fmt: skip


@pytest.mark.parametrize("missing", ["idcard_number", "idcard_name"])
def test_missing_id_number_or_name_is_5801(wire: Wire, demo: DemoSet, missing: str) -> None:
    request = _without(_prepared(wire, REGISTRY, _registry(demo, "selfie")), missing)
    _call_failed(wire.exchange(wire.sign(request)), "-5801", ErrorClass.REQUEST_INVALID)


def test_missing_image_is_5805(wire: Wire, demo: DemoSet) -> None:
    request = _without(_prepared(wire, REGISTRY, _registry(demo, "selfie")), "image")
    _call_failed(wire.exchange(wire.sign(request)), "-5805", ErrorClass.REQUEST_INVALID)


def test_url_the_vendor_cannot_download_is_5805(wire: Wire, demo: DemoSet) -> None:
    evidence = _registry(demo, "https://images.example.com/nobody.jpg")
    _call_failed(wire.call(REGISTRY, evidence), "-5805", ErrorClass.REQUEST_INVALID)


def test_url_hosted_by_the_simulator_is_downloaded(wire: Wire, demo: DemoSet) -> None:
    url = "https://images.example.com/p0001.jpg"
    wire.sim.host_media(url, demo["selfie_jpeg"].read_bytes())
    outcome = wire.call(REGISTRY, _registry(demo, url))
    assert outcome.readings[Check.ID_REGISTRY_MATCH].score.raw > 75


class _ImageHost(SimulatorApp):
    """A loopback web server with one image, for the vendor to download."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def routes(self) -> dict[tuple[str, str], Callable[[SimRequest], SimResponse]]:
        return {("GET", "/p.png"): self.image}

    def image(self, _request: SimRequest) -> SimResponse:
        return SimResponse(200, self.data, {"content-type": "image/png"})


def test_loopback_url_is_downloaded_for_real(wire: Wire, demo: DemoSet) -> None:
    with serve(_ImageHost(demo["selfie"].read_bytes())) as images:
        outcome = wire.call(REGISTRY, _registry(demo, f"{images.base_url}/p.png"))
        missing = wire.call(REGISTRY, _registry(demo, f"{images.base_url}/gone.png"))
    assert outcome.readings[Check.ID_REGISTRY_MATCH].score.raw > 75
    _call_failed(missing, "-5805", ErrorClass.REQUEST_INVALID)


def test_image_as_base64_text_is_accepted(wire: Wire, demo: DemoSet) -> None:
    request = _without(_prepared(wire, REGISTRY, _registry(demo, "selfie")), "image")
    encoded = base64.b64encode(image_bytes(ImageTruth("P0001"))).decode()
    outcome = wire.exchange(wire.sign(request.with_fields(("image", encoded))))
    assert outcome.readings[Check.ID_REGISTRY_MATCH].score.raw > 75


def test_simulator_answers_carry_the_trailing_comma(wire: Wire, demo: DemoSet) -> None:
    request = wire.sign(_prepared(wire, REGISTRY, _registry(demo, "selfie")))
    sent = wire.http.send(request, 10.0)
    assert sent.response is not None
    assert b'"session_id":"req-crafted",\n},' in sent.response.body
