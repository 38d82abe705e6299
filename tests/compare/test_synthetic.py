"""write_synthetic_manifest: deterministic, labelled as asked, files that match their labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kycmux.compare._manifest import Manifest, ManifestRow
from kycmux.compare._synthetic import write_synthetic_manifest
from kycmux.exceptions import ConfigError
from kycmux.results import Label
from kycmux.synthetic import (
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Liveness,
    LivenessDataTruth,
    Population,
    VideoTruth,
    read_truth_file,
)

ROWS = 40


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return Manifest.load(write_synthetic_manifest(tmp_path_factory.mktemp("syn"), rows=ROWS))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def truths(row: ManifestRow) -> tuple[ImageTruth, ImageTruth, VideoTruth, LivenessDataTruth]:
    found = []
    for media in (
        row.evidence.selfie,
        row.evidence.reference_photo,
        row.evidence.video,
        row.evidence.liveness_data,
    ):
        assert media is not None
        found.append(read_truth_file(media.path))  # type: ignore[union-attr]
    selfie, card, video, data = found
    assert isinstance(selfie, ImageTruth)
    assert isinstance(card, ImageTruth)
    assert isinstance(video, VideoTruth)
    assert isinstance(data, LivenessDataTruth)
    return selfie, card, video, data


def test_same_seed_same_bytes_other_seed_other_set(tmp_path: Path) -> None:
    one = write_synthetic_manifest(tmp_path / "one", rows=12, seed=7)
    two = write_synthetic_manifest(tmp_path / "two", rows=12, seed=7)
    other = write_synthetic_manifest(tmp_path / "other", rows=12, seed=8)

    assert one.name == "manifest.jsonl"
    assert tree(one.parent) == tree(two.parent)
    assert len(tree(one.parent)) == 1 + 12 * 4
    assert one.read_bytes() != other.read_bytes()


def test_label_mix_follows_the_request(manifest: Manifest, tmp_path: Path) -> None:
    assert Counter(r.label for r in manifest) == {
        Label.GENUINE: 20,
        Label.IMPOSTOR: 10,
        Label.SPOOF: 10,
    }
    mix = {Label.GENUINE: 2.0, Label.SPOOF: 1.0}
    odd = Manifest.load(write_synthetic_manifest(tmp_path, rows=7, mix=mix))
    assert Counter(r.label for r in odd) == {Label.GENUINE: 5, Label.SPOOF: 2}


def test_every_row_is_complete_evidence(manifest: Manifest) -> None:
    assert [r.id for r in manifest] == [f"r{n:04d}" for n in range(1, ROWS + 1)]
    for row in manifest:
        evidence = row.evidence
        assert evidence.digits is not None
        assert len(evidence.digits) == 4
        assert evidence.id_number is not None
        assert evidence.id_name is not None
        assert evidence.subject_id is not None
    assert len({r.evidence.subject_id for r in manifest if r.label is Label.GENUINE}) == 20


def test_file_truths_match_the_labels(manifest: Manifest) -> None:
    population = Population.generate(3 * ROWS, seed=0)
    for row in manifest:
        selfie, card, video, data = truths(row)
        holder = population.by_id(str(card.person))
        assert (row.evidence.id_number, row.evidence.id_name) == (holder.id_number, holder.name)
        # Every live capture shows whoever presented; only the reference shows the claimant.
        assert selfie.person == video.person == data.person == row.evidence.subject_id
        if row.label is Label.IMPOSTOR:
            assert video.person != card.person
        else:
            assert video.person == card.person
        attack = Liveness.SPOOF if row.label is Label.SPOOF else Liveness.LIVE
        assert video.liveness is data.liveness is attack


def test_every_row_states_its_truth_per_check(manifest: Manifest) -> None:
    expected = {
        Label.GENUINE: {"liveness": "genuine", "face_match": "genuine"},
        Label.IMPOSTOR: {"liveness": "genuine", "face_match": "impostor"},
        # A spoof shows the claimed person: an attack on liveness, genuine for face match.
        Label.SPOOF: {"liveness": "spoof", "face_match": "genuine"},
    }
    for row in manifest:
        assert row.label is not None
        wanted = {**expected[row.label], "id_registry_match": expected[row.label]["face_match"]}
        assert {check: truth.value for check, truth in row.truth.items()} == wanted


def test_only_genuine_rows_have_capture_problems(tmp_path: Path) -> None:
    manifest = Manifest.load(write_synthetic_manifest(tmp_path, rows=130, seed=3))
    troubled = Counter()
    for row in manifest:
        selfie, _card, video, data = truths(row)
        problems = {
            "blurred_selfie": selfie.quality is ImageQuality.LOW_QUALITY,
            "silent_video": video.audio is Audio.SILENT,
            "wrong_digits": video.digits_read not in (None, row.evidence.digits),
            "few_faces": video.faces is Faces.FEW,
            "unreadable_sdk_data": not data.readable,
        }
        found = [name for name, present in problems.items() if present]
        assert len(found) <= 1
        if found:
            assert row.label is Label.GENUINE
            troubled[found[0]] += 1
    assert set(troubled) == {
        "blurred_selfie",
        "silent_video",
        "wrong_digits",
        "few_faces",
        "unreadable_sdk_data",
    }
    assert sum(troubled.values()) == round(65 * 0.08)


def test_mostly_clear_cut_with_a_hard_minority(tmp_path: Path) -> None:
    manifest = Manifest.load(write_synthetic_manifest(tmp_path, rows=100, seed=1))
    difficulty = [truths(row)[2].difficulty for row in manifest]
    clear = sum(d <= 0.3 for d in difficulty)
    hard = sum(d >= 0.75 for d in difficulty)
    assert clear >= 50
    assert 5 <= hard <= 35
    assert max(difficulty) > 0.9


def test_file_names_carry_no_personal_data(manifest: Manifest) -> None:
    names = " ".join(p.name for p in (manifest.path.parent / "files").iterdir())
    for row in manifest:
        assert row.evidence.subject_id is not None
        for secret in (row.evidence.id_number, row.evidence.id_name, row.evidence.subject_id):
            assert str(secret) not in names


def test_csv_has_the_same_rows(tmp_path: Path) -> None:
    csv = write_synthetic_manifest(tmp_path, rows=6, seed=2, fmt="csv")
    jsonl = write_synthetic_manifest(tmp_path, rows=6, seed=2)
    assert csv.name == "manifest.csv"
    assert Manifest.load(csv).rows == Manifest.load(jsonl).rows


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"rows": 0}, "rows"),
        ({"seed": -1}, "seed"),
        ({"fmt": "xml"}, "format"),
        ({"mix": {Label.GENUINE: -1.0, Label.SPOOF: 2.0}}, "mix"),
        ({"mix": {Label.GENUINE: 0.0}}, "mix"),
        ({"mix": {"lookalike": 1.0}}, "mix"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        write_synthetic_manifest(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key
    assert not (tmp_path / "files").exists()
