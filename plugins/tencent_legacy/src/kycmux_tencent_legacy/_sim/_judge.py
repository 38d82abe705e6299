"""What the simulated service concludes from uploaded content: pure, deterministic functions.

Synthetic files carry their truth (``kycmux.synthetic``); the shared ``match_strength`` and
``attack_strength`` are mapped onto Tencent's scales with Tencent's own curves (``sim``:
calibrated to the published table, in ``_scores``), so on hard cases this simulator and other
vendors' disagree. Content without an embedded truth gets the answer the real service would
give to something it cannot use.
"""

from __future__ import annotations

import bisect
from typing import Generic, TypeVar

import attrs

from kycmux import id_number_problem
from kycmux.media import ImageFormat, sniff_image_format, sniff_video_format
from kycmux.synthetic import (
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Lips,
    Person,
    Population,
    RegistryStatus,
    VideoTruth,
    attack_strength,
    match_strength,
    read_truth,
)
from kycmux_tencent_legacy._sim._scores import SALT, face_match_sim

__all__ = [
    "LIVE_REJECT",
    "LIVE_UNSURE",
    "MIN_SIDES",
    "Verdict",
    "judge_card",
    "judge_photo",
    "judge_registry",
    "judge_video",
    "sim_for",
    "similarity_for",
]

T = TypeVar("T")
# Minimum resolution the document gives for -5015 (either orientation).
MIN_SIDES = (270, 480)
# attack_strength at or above LIVE_REJECT: -5016 (not live); in [LIVE_UNSURE, LIVE_REJECT):
# -5011 (liveness failed, other). Tencent's lip-reading check is lenient on the hardest spoofs.
LIVE_REJECT = 0.66
LIVE_UNSURE = 0.62
# match_strength -> idcardcompare ``similarity`` (float 0-100, recommended threshold 75; no
# published false-accept table, so none is imitated).
_SIMILARITY_CURVE = (
    (0.0, 0.0), (0.35, 45.0), (0.55, 72.0), (0.7, 82.0), (0.85, 90.0), (1.0, 100.0)
)  # fmt: skip
# A blurred / dark photo makes the comparison as hard as this much more difficulty.
_LOW_QUALITY_DIFFICULTY = 0.3

_AUDIO_CODES = {Audio.SILENT: -5007, Audio.NOISY: -5012, Audio.QUIET: -5013}
_FACES_CODES = {Faces.NONE: -5009, Faces.FEW: -5005}
_CARD_QUALITY_CODES = {
    ImageQuality.CORRUPT: -4018,
    ImageQuality.NO_FACE: -4017,
    ImageQuality.LOW_QUALITY: -4009,
}
_PHOTO_QUALITY_CODES = {ImageQuality.CORRUPT: -4011, ImageQuality.NO_FACE: -4012}
_REGISTRY_CODES = {
    RegistryStatus.NUMBER_INVALID: -5804,
    RegistryStatus.PHOTO_INVALID: -5809,
    RegistryStatus.PHOTO_POOR: -5817,
}


@attrs.frozen
class Verdict(Generic[T]):
    """A status code (0 = fine) and, when fine, what was found.

    Attributes:
        status: Tencent's code for the step (0 when it succeeded).
        value: The decoded truth, person or score when ``status`` is 0.
    """

    status: int
    value: T | None = None


def _curve(points: tuple[tuple[float, float], ...], x: float) -> float:
    xs = [p[0] for p in points]
    i = min(max(bisect.bisect_right(xs, x), 1), len(points) - 1)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (min(max(x, x0), x1) - x0) / (x1 - x0)


def _resolution_ok(truth: VideoTruth) -> bool:
    short, long = sorted((truth.width, truth.height))
    return short >= MIN_SIDES[0] and long >= MIN_SIDES[1]


def _liveness_status(truth: VideoTruth) -> int:
    attack = attack_strength(
        truth.liveness, difficulty=truth.difficulty, salt=SALT, person=truth.person
    )
    if attack >= LIVE_REJECT:
        return -5016
    return -5011 if attack >= LIVE_UNSURE else 0


def judge_video(data: bytes, digits: str) -> Verdict[VideoTruth]:
    """The liveness pipeline, first failure wins: container, resolution, faces, sound, lips,
    digits heard, then the attack score."""
    truth = read_truth(data)
    if sniff_video_format(data[:64]) is None or not isinstance(truth, VideoTruth):
        return Verdict(-5001)
    if not _resolution_ok(truth):
        return Verdict(-5015)
    steps = (
        _FACES_CODES.get(truth.faces, 0),
        _AUDIO_CODES.get(truth.audio, 0),
        -5010 if truth.lips is Lips.STILL else 0,
        -5008 if truth.digits_heard(digits) != digits else 0,
        _liveness_status(truth),
    )
    failed = next((code for code in steps if code), 0)
    return Verdict(failed) if failed else Verdict(0, truth)


def _image_truth(data: bytes) -> ImageTruth | None:
    truth = read_truth(data)
    return truth if isinstance(truth, ImageTruth) else None


def sim_for(video: VideoTruth, card: ImageTruth) -> int:
    """livedetectfour's ``sim`` for the video's face frames against the card photo."""
    return face_match_sim(video.person, card.person, max(video.difficulty, card.difficulty))


def judge_card(data: bytes, video: VideoTruth) -> Verdict[int]:
    """The comparison of the video's face frames with the card photo: status and ``sim``."""
    if sniff_image_format(data[:64]) is None:
        return Verdict(-4018)
    card = _image_truth(data)
    if card is None:
        return Verdict(-4017)  # a picture in which this service finds no face
    status = _CARD_QUALITY_CODES.get(card.quality, 0)
    if status:
        return Verdict(status)
    if card.person is None:
        return Verdict(-4017)
    if video.person is None:
        return Verdict(-4006)  # face frames without a person: no features to extract
    return Verdict(0, sim_for(video, card))


def _gif_frames(data: bytes) -> int:
    """Image descriptors in a GIF, walking blocks without decoding (0 if unreadable)."""
    if len(data) < 13:
        return 0
    pos = 13 + ((3 << ((data[10] & 0x07) + 1)) if data[10] & 0x80 else 0)
    frames = 0
    while pos < len(data) and frames < 2:
        introducer = data[pos]
        if introducer == 0x2C:  # image descriptor
            if pos + 10 > len(data):
                break
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 0x07) + 1)) if flags & 0x80 else 0) + 1
            frames += 1
        elif introducer == 0x21:  # extension
            pos += 2
        else:
            break
        while pos < len(data) and data[pos]:  # data sub-blocks
            pos += data[pos] + 1
        pos += 1
    return frames


def judge_photo(data: bytes) -> Verdict[ImageTruth]:
    """idcardcompare's photo: decodable (no animated GIF), with a face."""
    fmt = sniff_image_format(data[:64])
    if fmt is None or (fmt is ImageFormat.GIF and _gif_frames(data) > 1):
        return Verdict(-4011)
    photo = _image_truth(data)
    if photo is None:
        return Verdict(-4012)
    status = _PHOTO_QUALITY_CODES.get(photo.quality, 0)
    if status:
        return Verdict(status)
    return Verdict(-4012) if photo.person is None else Verdict(0, photo)


def judge_registry(number: str, name: str, population: Population) -> Verdict[Person]:
    """The registry lookup: number known and valid, name matching, photo usable."""
    person = None if id_number_problem(number) else population.by_id_number(number)
    if person is None:
        return Verdict(-5804)
    if person.name != name.strip():
        return Verdict(-5803)
    status = _REGISTRY_CODES.get(person.registry, 0)
    return Verdict(status) if status else Verdict(0, person)


def similarity_for(photo: ImageTruth, person: Person) -> float:
    difficulty = photo.difficulty
    if photo.quality is ImageQuality.LOW_QUALITY:
        difficulty = min(1.0, difficulty + _LOW_QUALITY_DIFFICULTY)
    strength = match_strength(
        photo.person, person.person_id, difficulty=difficulty, salt=f"{SALT}/idcardcompare"
    )
    return round(_curve(_SIMILARITY_CURVE, strength), 2)
