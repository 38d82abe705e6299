"""A labelled synthetic manifest for trying comparisons end to end against the simulators.

Every row is one capture session: the live captures (a selfie, a lip-reading video with the
digits it was asked to read, a liveness-SDK data file), all showing whoever presented, and the
reference (the ID-card photo), showing the claimed person. Each vendor compares the sides its
offer declares (``EvidenceRoles``: Tencent video vs card photo, Linkface SDK data vs its
reference, a selfie-vs-card vendor selfie vs card photo), so an impostor is an impostor to all
of them. The files carry their truth (``kycmux.synthetic``); the simulators decide from it.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from kycmux.compare._manifest import write_manifest
from kycmux.exceptions import ConfigError
from kycmux.results._model import Label
from kycmux.synthetic import (
    ATTACK_DIFFICULTY,
    GENUINE_DIFFICULTY,
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Liveness,
    LivenessDataTruth,
    Person,
    Population,
    RegistryStatus,
    VideoTruth,
    write_image,
    write_liveness_data,
    write_video,
)

__all__ = ["DEFAULT_MIX", "write_synthetic_manifest"]

DEFAULT_MIX: Mapping[Label, float] = MappingProxyType(
    {Label.GENUINE: 0.5, Label.IMPOSTOR: 0.25, Label.SPOOF: 0.25}
)
_FORMATS = {"jsonl": "manifest.jsonl", "csv": "manifest.csv"}

# Difficulty per label: GENUINE_DIFFICULTY and ATTACK_DIFFICULTY (kycmux.synthetic), where the
# simulators' calibration to the vendors' published false-accept tables integrates over them.
# Measured on the bundled simulators at their recommended thresholds: see docs/simulators.md.
# Genuine rows with a capture problem, each troubling one vendor's capture only (Tencent reads
# the video, Linkface the SDK data and the selfie): such a row comes out retry_capture or
# reject for one vendor and fine for the other, as real capture trouble does.
_CAPTURE_PROBLEM_SHARE = 0.08
_PROBLEMS = ("silent_video", "unreadable_sdk_data", "wrong_digits", "blurred_selfie", "few_faces")


@attrs.frozen
class _Session:
    """What one row's captures show.

    Attributes:
        card: The ID card holder (the claimed identity).
        captured: Who the live captures show.
        liveness: Live person, or an attack.
        difficulty: How hard the captures are to judge.
        digits: The digits the video was asked to read.
        problem: A capture problem (genuine rows only), or ``None``.
    """

    card: Person
    captured: Person
    liveness: Liveness
    difficulty: float
    digits: str
    problem: str | None = None


def write_synthetic_manifest(
    directory: str | os.PathLike[str],
    *,
    rows: int = 200,
    seed: int = 0,
    mix: Mapping[Label, float] = DEFAULT_MIX,
    fmt: str = "jsonl",
) -> Path:
    """Write ``rows`` labelled synthetic rows and their files; return the manifest path.

    The manifest is ``directory/manifest.jsonl`` (or ``.csv``), the files go to
    ``directory/files/`` named after the row id. The same arguments always give the same bytes.
    ``mix`` gives the share of each label (normalised; counts are rounded to sum to ``rows``):
    genuine rows show the card holder, live; impostor rows another person, live, in every
    live capture (only the card photo shows the holder); spoof rows an attack showing the
    holder. Each row states its truth per check (``liveness_truth``, ``face_match_truth``,
    ``id_registry_match_truth``): a spoof is genuine for the face checks.
    """
    counts = _label_counts(rows, mix)
    if fmt not in _FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(_FORMATS)}")
    if seed < 0:
        raise ConfigError("seed", "must not be negative")
    rng = random.Random(seed)
    people = _people(rows, seed)
    folder = Path(directory)
    (folder / "files").mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(rows)))
    records = []
    for index, (label, problem) in enumerate(_plan(rng, counts)):
        row_id = f"r{index + 1:0{width}d}"
        session = _session(rng, label, problem, people[index], people)
        records.append(_write_row(folder, row_id, label, session))
    return write_manifest(folder / _FORMATS[fmt], records)


def _plan(rng: random.Random, counts: Mapping[Label, int]) -> list[tuple[Label, str | None]]:
    """Each row's label and capture problem, in row order: labels shuffled, and a fixed share
    of genuine rows given a problem, every kind of problem in turn."""
    labels = [label for label, count in counts.items() for _ in range(count)]
    rng.shuffle(labels)
    genuine = [i for i, label in enumerate(labels) if label is Label.GENUINE]
    troubled = rng.sample(genuine, round(len(genuine) * _CAPTURE_PROBLEM_SHARE))
    problems = {row: _PROBLEMS[n % len(_PROBLEMS)] for n, row in enumerate(troubled)}
    return [(label, problems.get(i)) for i, label in enumerate(labels)]


def _label_counts(rows: int, mix: Mapping[Label, float]) -> dict[Label, int]:
    """Largest-remainder rounding, so the counts sum to ``rows`` and follow ``mix``."""
    if rows < 1:
        raise ConfigError("rows", "must be at least 1")
    try:
        shares = {Label(label): float(share) for label, share in mix.items()}
    except ValueError:
        raise ConfigError("mix", "keys must be labels (genuine, impostor, spoof)") from None
    if any(not math.isfinite(s) or s < 0 for s in shares.values()) or sum(shares.values()) <= 0:
        raise ConfigError("mix", "shares must be non-negative numbers, not all zero")
    total = sum(shares.values())
    exact = {label: rows * share / total for label, share in shares.items()}
    counts = {label: math.floor(value) for label, value in exact.items()}
    by_remainder = sorted(exact, key=lambda label: counts[label] - exact[label])
    for label in by_remainder[: rows - sum(counts.values())]:
        counts[label] += 1
    return {label: counts.get(label, 0) for label in Label}


def _people(rows: int, seed: int) -> list[Person]:
    """One distinct card holder per row (registry status OK), plus spares for impostors."""
    # 17 of every 20 generated persons have status OK.
    population = Population.generate(math.ceil((rows + 2) * 20 / 17) + 20, seed)
    return list(population.by_status(RegistryStatus.OK))


def _session(
    rng: random.Random, label: Label, problem: str | None, card: Person, people: list[Person]
) -> _Session:
    mix = GENUINE_DIFFICULTY if label is Label.GENUINE else ATTACK_DIFFICULTY
    difficulty = mix.draw(rng)
    digits = f"{rng.randrange(10_000):04d}"
    if label is Label.IMPOSTOR:
        other = card
        while other is card:
            other = rng.choice(people)
        return _Session(card, other, Liveness.LIVE, difficulty, digits)
    liveness = Liveness.SPOOF if label is Label.SPOOF else Liveness.LIVE
    return _Session(card, card, liveness, difficulty, digits, problem)


def _write_row(folder: Path, row_id: str, label: Label, session: _Session) -> dict[str, str]:
    files = folder / "files"
    names = {
        "selfie": f"{row_id}_selfie.png",
        "reference_photo": f"{row_id}_card.jpg",
        "video": f"{row_id}_video.mp4",
        "liveness_data": f"{row_id}_liveness.bin",
    }
    selfie, card, video, sdk = _truths(session)
    same = session.card is session.captured
    write_image(files / names["selfie"], selfie)
    write_image(files / names["reference_photo"], card)
    write_video(files / names["video"], video)
    write_liveness_data(files / names["liveness_data"], sdk)
    return {
        "id": row_id,
        "label": label.value,
        "liveness_truth": "spoof" if session.liveness is Liveness.SPOOF else "genuine",
        "face_match_truth": "genuine" if same else "impostor",
        "id_registry_match_truth": "genuine" if same else "impostor",
        **{field: f"files/{name}" for field, name in names.items()},
        "digits": session.digits,
        "id_number": session.card.id_number,
        "id_name": session.card.name,
        "subject_id": session.captured.person_id,
    }


def _truths(s: _Session) -> tuple[ImageTruth, ImageTruth, VideoTruth, LivenessDataTruth]:
    """Selfie, card photo, video and SDK data of one session.

    The live captures (selfie, video, SDK data) show who presented and carry the difficulty;
    the card photo, the reference, shows the claimed person and is clear (simulators use the
    larger difficulty of the two sides).
    """
    holder, who, d = s.card.person_id, s.captured.person_id, s.difficulty
    blurred = s.problem == "blurred_selfie"
    quality = ImageQuality.LOW_QUALITY if blurred else ImageQuality.OK
    selfie = ImageTruth(who, quality, difficulty=d)
    card = ImageTruth(holder)
    wrong = f"{(int(s.digits) + 1) % 10_000:04d}" if s.problem == "wrong_digits" else None
    video = VideoTruth(
        who,
        s.liveness,
        digits_read=wrong,
        audio=Audio.SILENT if s.problem == "silent_video" else Audio.OK,
        faces=Faces.FEW if s.problem == "few_faces" else Faces.OK,
        difficulty=d,
    )
    readable = s.problem != "unreadable_sdk_data"
    sdk = LivenessDataTruth(who, s.liveness, readable=readable, difficulty=d)
    return selfie, card, video, sdk
