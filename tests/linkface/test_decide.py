"""The simulator's decision scheme: content in, Linkface's answer out (no server needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux.synthetic import (
    ImageQuality,
    ImageTruth,
    Liveness,
    LivenessDataTruth,
    Population,
    image_bytes,
    liveness_data_bytes,
)
from kycmux_linkface._sim import HACK_CURVE, Failure, Scores, decide

LIVE_P1 = liveness_data_bytes(LivenessDataTruth("P0001"))
SELFIE_P1 = image_bytes(ImageTruth("P0001"))


def scores(selfie: bytes, data: bytes) -> Scores:
    outcome = decide(selfie, "selfie_file", data, "liveness_data_file")
    assert isinstance(outcome, Scores), outcome
    return outcome


def failure(selfie: bytes, data: bytes) -> Failure:
    outcome = decide(selfie, "selfie_url", data, "liveness_data_file")
    assert isinstance(outcome, Failure), outcome
    return outcome


def test_hack_curve_is_increasing_and_spans_the_scale() -> None:
    xs, ys = [p[0] for p in HACK_CURVE], [p[1] for p in HACK_CURVE]
    assert xs == sorted(xs)
    assert ys == sorted(ys)
    assert (xs[0], xs[-1]) == (0.0, 1.0)
    assert 0.0 <= ys[0] < ys[-1] <= 1.0


@pytest.mark.parametrize("person", [p.person_id for p in Population.default()])
def test_clear_genuine_live_capture(person: str) -> None:
    got = scores(image_bytes(ImageTruth(person)), liveness_data_bytes(LivenessDataTruth(person)))
    assert got.verify_score >= 0.8  # FAR <= 1e-5 on the vendor's table
    assert got.hack_score < 0.25


def test_every_clear_impostor_pair_scores_below_the_first_published_point() -> None:
    persons = [p.person_id for p in Population.default()]
    for a in persons:
        for b in persons:
            if a != b:
                got = scores(image_bytes(ImageTruth(a)), liveness_data_bytes(LivenessDataTruth(b)))
                assert got.verify_score < 0.4, (a, b)


@pytest.mark.parametrize("person", [p.person_id for p in Population.default()])
def test_clear_attack_scores_high(person: str) -> None:
    data = liveness_data_bytes(LivenessDataTruth(person, Liveness.SPOOF))
    assert scores(image_bytes(ImageTruth(person)), data).hack_score > 0.8


def test_hard_cases_fall_on_both_sides_of_the_thresholds() -> None:
    """Hard genuine pairs straddle verify 0.7 and hard live captures hack 0.5: the borderline
    region where a vendor with another curve (Tencent) decides differently."""
    population = Population.generate(60, seed=4)
    verify, hack = [], []
    for person in population:
        pid = person.person_id
        got = scores(
            image_bytes(ImageTruth(pid, difficulty=1.0), width=64, height=64),
            liveness_data_bytes(LivenessDataTruth(pid, difficulty=1.0)),
        )
        verify.append(got.verify_score >= 0.7)
        hack.append(got.hack_score < 0.5)
    assert any(verify)
    assert not all(verify)
    assert any(hack)
    assert not all(hack)


def test_hard_spoofs_are_still_caught() -> None:
    for person in Population.generate(40, seed=9):
        data = liveness_data_bytes(
            LivenessDataTruth(person.person_id, Liveness.SPOOF, difficulty=1.0)
        )
        assert scores(SELFIE_P1, data).hack_score > 0.55  # above the 0.5 default threshold


def test_decisions_are_deterministic() -> None:
    first = scores(SELFIE_P1, LIVE_P1)
    assert all(scores(SELFIE_P1, LIVE_P1) == first for _ in range(3))


def test_low_quality_selfie_scores_lower() -> None:
    poor = scores(image_bytes(ImageTruth("P0001", ImageQuality.LOW_QUALITY)), LIVE_P1)
    assert poor.verify_score < scores(SELFIE_P1, LIVE_P1).verify_score - 0.05


def test_unknown_face_does_not_match() -> None:
    assert scores(image_bytes(ImageTruth(None)), LIVE_P1).verify_score == 0.0


def test_jpeg_selfies_work_like_png() -> None:
    jpeg = image_bytes(ImageTruth("P0001"), fmt="jpeg")
    assert scores(jpeg, LIVE_P1) == scores(SELFIE_P1, LIVE_P1)


@pytest.mark.parametrize(
    ("selfie", "data", "expected"),
    [
        (SELFIE_P1, b"xxxx", Failure("WRONG_LIVENESS_DATA")),
        (SELFIE_P1, b"", Failure("WRONG_LIVENESS_DATA")),
        (SELFIE_P1, SELFIE_P1, Failure("WRONG_LIVENESS_DATA")),
        (
            SELFIE_P1,
            liveness_data_bytes(LivenessDataTruth("P0001", readable=False)),
            Failure("WRONG_LIVENESS_DATA"),
        ),
        (
            SELFIE_P1,
            liveness_data_bytes(LivenessDataTruth(None)),
            Failure("NO_FACE_DETECTED", "liveness_data_file"),
        ),
        (b"xxxx", LIVE_P1, Failure("CORRUPT_IMAGE", "selfie_url")),
        (LIVE_P1, LIVE_P1, Failure("CORRUPT_IMAGE", "selfie_url")),
        (
            image_bytes(ImageTruth("P0001", ImageQuality.CORRUPT), fmt="jpeg"),
            LIVE_P1,
            Failure("CORRUPT_IMAGE", "selfie_url"),
        ),
        (
            image_bytes(ImageTruth(None, ImageQuality.NO_FACE)),
            LIVE_P1,
            Failure("NO_FACE_DETECTED", "selfie_url"),
        ),
        (
            image_bytes(ImageTruth("P0001"), width=8, height=640),
            LIVE_P1,
            Failure("INVALID_IMAGE_FORMAT_OR_SIZE", "selfie_url"),
        ),
        (
            image_bytes(ImageTruth("P0001"), width=480, height=4001),
            LIVE_P1,
            Failure("INVALID_IMAGE_FORMAT_OR_SIZE", "selfie_url"),
        ),
        (
            image_bytes(ImageTruth("P0001"), pad_to=5 * 1024 * 1024 + 1),
            LIVE_P1,
            Failure("IMAGE_FILE_SIZE_TOO_BIG", "selfie_url"),
        ),
    ],
    ids=[
        "placeholder-data",
        "empty-data",
        "image-as-data",
        "unreadable-data",
        "no-face-in-data",
        "placeholder-selfie",
        "data-as-selfie",
        "corrupt-selfie",
        "no-face-selfie",
        "too-narrow",
        "too-tall",
        "too-big",
    ],
)
def test_documented_failures(selfie: bytes, data: bytes, expected: Failure) -> None:
    assert failure(selfie, data) == expected


def test_selfie_of_exactly_5_mib_is_accepted() -> None:
    selfie = image_bytes(ImageTruth("P0001"), pad_to=5 * 1024 * 1024)
    assert scores(selfie, LIVE_P1).verify_score >= 0.8


def test_other_image_formats_are_refused(make_image: Callable[..., Path]) -> None:
    webp = make_image("webp").read_bytes()
    assert failure(webp, LIVE_P1) == Failure("INVALID_IMAGE_FORMAT_OR_SIZE", "selfie_url")


@pytest.mark.parametrize("fmt", ["bmp", "gif", "tiff"])
def test_real_images_without_a_truth_show_no_known_face(
    make_image: Callable[..., Path], fmt: str
) -> None:
    photo = make_image(fmt, 100, 100).read_bytes()
    assert failure(photo, LIVE_P1) == Failure("NO_FACE_DETECTED", "selfie_url")
