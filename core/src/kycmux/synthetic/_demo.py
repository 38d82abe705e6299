"""A labelled set of synthetic files covering every outcome, for the demo, sandbox and tests."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from kycmux.synthetic._image import write_image
from kycmux.synthetic._liveness import write_liveness_data
from kycmux.synthetic._population import Person, Population, RegistryStatus
from kycmux.synthetic._truth import (
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Lips,
    Liveness,
    LivenessDataTruth,
    Truth,
    VideoTruth,
)
from kycmux.synthetic._video import write_video

__all__ = ["DEMO_DIGITS", "DemoSet", "demo_truths", "write_demo_set"]

DEMO_DIGITS = "9532"


@attrs.frozen
class DemoSet(Mapping[str, Path]):
    """The files ``write_demo_set`` wrote, by name; a read-only mapping name -> path.

    Attributes:
        directory: Where the files are.
        paths: Each file's path, by name (``"selfie"``, ``"spoof_video"``...).
        truths: The truth each file carries, by the same names.
        subject: The genuine person most files show.
        impostor: Another person, for mismatches.
        digits: The digits every video was asked to read.
    """

    directory: Path
    paths: Mapping[str, Path]
    truths: Mapping[str, Truth] = attrs.field(repr=False)
    subject: Person
    impostor: Person
    digits: str = DEMO_DIGITS

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def demo_truths(population: Population) -> dict[str, tuple[str, Truth]]:
    """The demo files as ``name -> (file name, truth)``; the subject is the first OK person."""
    subject, impostor = _subject_and_impostor(population)
    me, other = subject.person_id, impostor.person_id
    files: dict[str, tuple[str, Truth]] = {
        "selfie": ("selfie.png", ImageTruth(me)),
        "selfie_jpeg": ("selfie.jpg", ImageTruth(me)),
        "card_photo": ("card_photo.jpg", ImageTruth(me)),
        "hard_selfie": ("hard_selfie.png", ImageTruth(me, difficulty=0.7)),
        "impostor_selfie": ("impostor_selfie.png", ImageTruth(other)),
        "hard_impostor_selfie": ("hard_impostor_selfie.png", ImageTruth(other, difficulty=0.8)),
        "no_face_selfie": ("no_face_selfie.png", ImageTruth(None, ImageQuality.NO_FACE)),
        "corrupt_selfie": ("corrupt_selfie.jpg", ImageTruth(me, ImageQuality.CORRUPT)),
        "low_quality_selfie": ("low_quality_selfie.png", ImageTruth(me, ImageQuality.LOW_QUALITY)),
        "live_video": ("live_video.mp4", VideoTruth(me)),
        "live_video_flv": ("live_video.flv", VideoTruth(me)),
        "hard_live_video": ("hard_live_video.mp4", VideoTruth(me, difficulty=0.7)),
        "impostor_video": ("impostor_video.mp4", VideoTruth(other)),
        "spoof_video": ("spoof_video.mp4", VideoTruth(me, Liveness.SPOOF)),
        "hard_spoof_video": (
            "hard_spoof_video.mp4",
            VideoTruth(me, Liveness.SPOOF, difficulty=0.8),
        ),
        "wrong_digits_video": ("wrong_digits_video.mp4", VideoTruth(me, digits_read="1234")),
        "silent_video": ("silent_video.mp4", VideoTruth(me, audio=Audio.SILENT)),
        "quiet_video": ("quiet_video.mp4", VideoTruth(me, audio=Audio.QUIET)),
        "noisy_video": ("noisy_video.mp4", VideoTruth(me, audio=Audio.NOISY)),
        "still_lips_video": ("still_lips_video.mp4", VideoTruth(me, lips=Lips.STILL)),
        "few_faces_video": ("few_faces_video.mp4", VideoTruth(me, faces=Faces.FEW)),
        "no_face_video": ("no_face_video.mp4", VideoTruth(None, faces=Faces.NONE)),
        "low_res_video": ("low_res_video.mp4", VideoTruth(me, width=240, height=320)),
        "live_liveness_data": ("live_liveness_data.bin", LivenessDataTruth(me)),
        "hard_live_liveness_data": (
            "hard_live_liveness_data.bin",
            LivenessDataTruth(me, difficulty=0.7),
        ),
        "attack_liveness_data": ("attack_liveness_data.bin", LivenessDataTruth(me, Liveness.SPOOF)),
        "impostor_liveness_data": ("impostor_liveness_data.bin", LivenessDataTruth(other)),
        "unreadable_liveness_data": (
            "unreadable_liveness_data.bin",
            LivenessDataTruth(me, readable=False),
        ),
    }
    for status in RegistryStatus:
        holders = population.by_status(status)
        if status is not RegistryStatus.OK and holders:
            name = f"registry_{status.value}_selfie"
            files[name] = (f"{name}.png", ImageTruth(holders[0].person_id))
    return files


def write_demo_set(
    directory: str | os.PathLike[str], population: Population | None = None
) -> DemoSet:
    """Write the demo files into ``directory`` (created if needed) and return them by name.

    With the default population the subject is P0001 (张伟), the impostor P0002 (王秀英), and
    ``registry_<status>_selfie`` files show the persons whose registry entry is not OK.
    """
    population = Population.default() if population is None else population
    subject, impostor = _subject_and_impostor(population)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    truths: dict[str, Truth] = {}
    for name, (filename, truth) in demo_truths(population).items():
        paths[name] = _write(folder / filename, truth)
        truths[name] = truth
    return DemoSet(folder, MappingProxyType(paths), MappingProxyType(truths), subject, impostor)


def _write(path: Path, truth: Truth) -> Path:
    if isinstance(truth, ImageTruth):
        return write_image(path, truth)
    if isinstance(truth, VideoTruth):
        return write_video(path, truth)
    return write_liveness_data(path, truth)


def _subject_and_impostor(population: Population) -> tuple[Person, Person]:
    fine = population.by_status(RegistryStatus.OK)
    if len(fine) < 2:
        raise ValueError("a demo set needs a population with at least two persons in status OK")
    return fine[0], fine[1]
