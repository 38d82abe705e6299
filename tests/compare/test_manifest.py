"""Manifest.load: JSON lines and CSV, paths next to the manifest, every problem reported."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import Evidence, FileMedia, UrlMedia
from kycmux.compare._manifest import (
    COLUMNS,
    TRUTH_COLUMNS,
    Manifest,
    ManifestRow,
    write_manifest,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError
from kycmux.results import Label
from kycmux.results._model import implied_truth
from kycmux.synthetic import (
    ImageTruth,
    LivenessDataTruth,
    Population,
    VideoTruth,
    write_image,
    write_liveness_data,
    write_video,
)

PERSON = Population.default().persons[0]
G, IMP, S = Label.GENUINE, Label.IMPOSTOR, Label.SPOOF


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A manifest folder with one capture session under ``files/``."""
    files = tmp_path / "set" / "files"
    files.mkdir(parents=True)
    write_image(files / "selfie.png", ImageTruth(PERSON.person_id))
    write_image(files / "card.jpg", ImageTruth(PERSON.person_id))
    write_video(files / "video.mp4", VideoTruth(PERSON.person_id))
    write_liveness_data(files / "live.bin", LivenessDataTruth(PERSON.person_id))
    return tmp_path / "set"


def row(row_id: str, **fields: str) -> dict[str, str]:
    values = {
        "id": row_id,
        "label": "genuine",
        "selfie": "files/selfie.png",
        "reference_photo": "files/card.jpg",
        "video": "files/video.mp4",
        "digits": "0427",
        "liveness_data": "files/live.bin",
        "id_number": PERSON.id_number,
        "id_name": PERSON.name,
        "subject_id": PERSON.person_id,
    }
    values.update(fields)
    return values


def write_jsonl(path: Path, *documents: object) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), "utf-8")
    return path


def test_jsonl_and_csv_load_to_equal_rows(folder: Path) -> None:
    rows = [row("a"), row("b", label="impostor", digits="9999"), row("c", label="")]
    jsonl = Manifest.load(write_manifest(folder / "m.jsonl", rows))
    csv = Manifest.load(write_manifest(folder / "m.csv", rows))

    assert jsonl.rows == csv.rows
    assert [r.id for r in jsonl] == ["a", "b", "c"]
    assert [r.label for r in jsonl] == [Label.GENUINE, Label.IMPOSTOR, None]
    assert len(csv) == 3
    assert csv.path == folder / "m.csv"


def test_a_row_becomes_full_evidence(folder: Path) -> None:
    manifest = Manifest.load(write_manifest(folder / "m.jsonl", [row("a")]))
    files = folder / "files"
    assert manifest.rows == (
        ManifestRow(
            id="a",
            label=Label.GENUINE,
            evidence=Evidence(
                selfie=files / "selfie.png",
                reference_photo=files / "card.jpg",
                video=files / "video.mp4",
                digits="0427",
                liveness_data=files / "live.bin",
                id_number=PERSON.id_number,
                id_name=PERSON.name,
                subject_id=PERSON.person_id,
            ),
        ),
    )


def test_relative_paths_are_resolved_against_the_manifest_folder(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = str(folder / "files" / "card.jpg")
    url = "https://example.com/card.jpg"
    rows = [row("a", reference_photo=absolute), row("b", reference_photo=url)]
    manifest = Manifest.load(write_manifest(folder / "m.csv", rows))

    first, second = manifest.rows
    assert first.evidence.selfie == FileMedia(folder / "files" / "selfie.png")
    assert first.evidence.reference_photo == FileMedia(Path(absolute))
    assert second.evidence.reference_photo == UrlMedia(url)


def test_digest_names_the_content(folder: Path) -> None:
    first = Manifest.load(write_manifest(folder / "m.jsonl", [row("a")]))
    same = Manifest.load(write_manifest(folder / "copy.jsonl", [row("a")]))
    other = Manifest.load(write_manifest(folder / "m.jsonl", [row("b")]))

    assert first.digest.startswith("sha256:")
    assert len(first.digest) == len("sha256:") + 16
    assert first.digest == same.digest != other.digest


def test_lenient_where_harmless(folder: Path) -> None:
    """Blank lines, null values, padded cells, upper-case labels and a BOM are accepted."""
    documents = [row("a", label="Spoof"), {**row("b"), "id_name": None}]
    path = write_jsonl(folder / "m.jsonl", documents[0], {}, documents[1])
    path.write_text(path.read_text("utf-8").replace("{}\n", "\n"), "utf-8")
    manifest = Manifest.load(path)
    assert [r.label for r in manifest] == [Label.SPOOF, Label.GENUINE]
    assert manifest.rows[1].evidence.id_name is None

    csv = folder / "m.csv"
    csv.write_text("\ufeffid , label ,selfie\n a , genuine , files/selfie.png \n\n", "utf-8")
    (only,) = Manifest.load(csv).rows
    assert (only.id, only.label) == ("a", Label.GENUINE)


def test_write_manifest_is_deterministic_and_ordered(folder: Path) -> None:
    shuffled = dict(reversed(list(row("a").items())))
    path = write_manifest(folder / "m.jsonl", [shuffled])
    # JSON lines leave empty values out: the row has no per-check truth columns.
    assert list(json.loads(path.read_text("utf-8"))) == [
        c for c in COLUMNS if c not in TRUTH_COLUMNS
    ]
    csv = write_manifest(folder / "m.csv", [shuffled, row("b")])
    assert csv.read_text("utf-8").splitlines()[0] == ",".join(COLUMNS)
    assert csv.read_bytes() == write_manifest(folder / "n.csv", [shuffled, row("b")]).read_bytes()
    with pytest.raises(ValueError, match="nickname"):
        write_manifest(folder / "m.jsonl", [{**row("a"), "nickname": "x"}])


# errors --------------------------------------------------------------------------------------


def test_unknown_csv_column_names_line_1_and_the_column(folder: Path) -> None:
    path = folder / "m.csv"
    path.write_text("id,label,selfi\na,genuine,files/selfie.png\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown column 'selfi'") as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:1"


def test_unknown_jsonl_field_names_its_line(folder: Path) -> None:
    path = write_jsonl(folder / "m.jsonl", row("a"), {**row("b"), "nickname": "x"})
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:2"
    assert caught.value.rule.startswith("row b: unknown field 'nickname' (expected id, label,")


def test_duplicate_id_names_both_lines(folder: Path) -> None:
    path = write_manifest(folder / "m.csv", [row("a"), row("b"), row("a")])
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:4"  # header is line 1
    assert caught.value.rule == "row a: duplicate: already on line 2"


def test_bad_label_names_the_field_without_echoing_the_value(folder: Path) -> None:
    path = write_jsonl(folder / "m.jsonl", row("a", label=PERSON.id_number))
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:1"
    assert caught.value.rule.startswith("row a: label: must be one of genuine, impostor, spoof")
    assert PERSON.id_number not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"selfie": "files/missing.png"}, "selfie", "file does not exist"),
        ({"video": "files/selfie.png"}, "video", "not a recognised video"),
        ({"digits": "12a4"}, "digits", "ASCII digits"),
        ({"id_number": PERSON.id_number[:-1] + "0"}, "id_number", "check character"),
        ({"id_name": "x" * 65}, "id_name", "at most 64"),
    ],
)
def test_evidence_problem_names_row_line_and_field(
    folder: Path, fields: dict[str, str], field: str, rule: str
) -> None:
    path = write_manifest(folder / "m.jsonl", [row("a"), row("b", **fields)])
    with pytest.raises(InvalidEvidenceError) as caught:
        Manifest.load(path)
    assert caught.value.field == field
    assert caught.value.rule.startswith("row b (line 2): ")
    assert rule in caught.value.rule
    assert PERSON.id_number[2:-2] not in str(caught.value)
    assert PERSON.name not in str(caught.value)


def test_every_problem_is_reported_at_once(folder: Path) -> None:
    rows = [
        row("a", selfie="files/nope.png", digits="x"),
        row("b"),
        row("c", label="maybe"),
        row("a"),
        row("", video="files/gone.mp4"),
    ]
    path = write_manifest(folder / "m.csv", rows)
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    message = str(caught.value)
    assert "6 problems" in message
    lines = message.splitlines()[1:]
    assert lines[0].startswith("  row a (line 2): selfie: file does not exist")
    assert lines[1].startswith("  row a (line 2): digits: must be 1-16 ASCII digits")
    assert lines[2].startswith("  row c (line 4): label: must be one of")
    assert lines[3] == "  row a (line 5): duplicate: already on line 2"
    assert lines[4] == "  line 6: id: must not be empty"
    assert lines[5].startswith("  line 6: video: file does not exist")


def test_only_evidence_problems_raise_invalid_evidence(folder: Path) -> None:
    rows = [row("a", digits="x"), row("b", selfie="files/nope.png")]
    path = write_manifest(folder / "m.jsonl", rows)
    with pytest.raises(InvalidEvidenceError) as caught:
        Manifest.load(path)
    assert "2 problems" in caught.value.rule
    assert "row a (line 1): digits:" in caught.value.rule
    assert "row b (line 2): selfie: file does not exist" in caught.value.rule


def test_at_most_20_problems_are_listed(folder: Path) -> None:
    rows = [row(f"r{n}", digits="x") for n in range(25)]
    path = write_manifest(folder / "m.jsonl", rows)
    with pytest.raises(InvalidEvidenceError) as caught:
        Manifest.load(path)
    listed = [line for line in caught.value.rule.splitlines() if "digits:" in line]
    assert len(listed) == 20
    assert caught.value.rule.endswith("... and 5 more")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('{"id": "a", "digits": 427}\n', "row a: digits: must be a string or null"),
        ('{"id": "a",\n', "not valid JSON (one object per line)"),
        ('["a"]\n', "must be a JSON object (one object per line)"),
        ('{"id": "a"}\n', "row a: the row has no evidence"),
    ],
)
def test_jsonl_format_problems(folder: Path, text: str, rule: str) -> None:
    path = folder / "m.jsonl"
    path.write_text('{"id": "ok", "digits": "1"}\n' + text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:2"
    assert caught.value.rule == rule


@pytest.mark.parametrize(
    ("text", "line", "rule"),
    [
        ("label,selfie\ngenuine,files/selfie.png\n", 1, "the header has no 'id' column"),
        ("id,digits,digits\na,1,2\n", 1, "column 'digits' appears more than once"),
        ("id,digits\na,1,2\n", 2, "has 3 cells, the header 2"),
        ("", 1, "the CSV header row is missing"),
        ("id,digits\n", 1, "the manifest has no rows"),
    ],
)
def test_csv_format_problems(folder: Path, text: str, line: int, rule: str) -> None:
    path = folder / "m.csv"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert caught.value.key == f"{path}:{line}"
    assert caught.value.rule == rule


def test_unreadable_manifests(folder: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Manifest.load(folder / "none.jsonl")
    (folder / "m.xml").write_text("<rows/>", "utf-8")
    with pytest.raises(ConfigError, match=r"\.jsonl, \.json"):
        Manifest.load(folder / "m.xml")
    (folder / "m.csv").write_bytes("id,id_name\na,\u5f20\n".encode("gb18030"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        Manifest.load(folder / "m.csv")


# per-check truth ---------------------------------------------------------------------------


def test_a_row_can_be_genuine_for_face_match_and_a_spoof_for_liveness(folder: Path) -> None:
    rows = [
        row("a", label="spoof", liveness_truth="spoof", face_match_truth="genuine"),
        # All three given and no label: the label is what they add up to.
        row(
            "b",
            label="",
            liveness_truth="genuine",
            face_match_truth="impostor",
            id_registry_match_truth="impostor",
        ),
        # Only some given: the row label stays unknown, so no check gets an invented truth.
        row("c", label="", face_match_truth="genuine"),
    ]
    for suffix in ("jsonl", "csv"):
        a, b, c = Manifest.load(write_manifest(folder / f"m.{suffix}", rows)).rows
        assert (a.label, a.truth) == (S, {"liveness": S, "face_match": G})
        assert (a.truth_for("face_match"), a.truth_for("id_registry_match")) == (G, None)
        assert b.label is IMP
        assert b.truth_for("liveness") is G
        assert (c.label, c.truth_for("face_match"), c.truth_for("liveness")) == (None, G, None)


def test_a_manifest_with_labels_only_is_read_as_the_labels_imply(folder: Path) -> None:
    rows = [row("g"), row("i", label="impostor"), row("s", label="spoof")]
    g, i, s = Manifest.load(write_manifest(folder / "m.jsonl", rows)).rows
    assert g.truth == i.truth == s.truth == {}
    assert [g.truth_for("liveness"), g.truth_for("face_match")] == [G, G]
    # An impostor is a live person; a spoof may show anyone, so face match is unknown.
    assert [i.truth_for("liveness"), i.truth_for("face_match")] == [G, IMP]
    assert [s.truth_for("liveness"), s.truth_for("face_match")] == [S, None]


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"liveness_truth": "impostor"}, "liveness_truth", "must be genuine or spoof, or empty"),
        ({"face_match_truth": "spoof"}, "face_match_truth", "must be genuine or impostor"),
        (
            {"label": "impostor", "face_match_truth": "genuine"},
            "face_match_truth",
            "contradicts label impostor: a row labelled impostor is impostor for face_match",
        ),
        (
            {"label": "genuine", "liveness_truth": "spoof"},
            "liveness_truth",
            "contradicts label genuine",
        ),
    ],
    ids=["liveness-impostor", "face-spoof", "impostor-genuine-face", "genuine-spoof"],
)
def test_a_bad_truth_names_the_field_and_the_rule(
    folder: Path, fields: dict[str, str], field: str, rule: str
) -> None:
    path = write_manifest(folder / "m.jsonl", [row("a", **fields)])
    with pytest.raises(ConfigError) as caught:
        Manifest.load(path)
    assert f"row a: {field}: {rule}" in str(caught.value)


_TRUTH_VALUES = st.sampled_from(["", "genuine", "impostor", "spoof", "GENUINE", "x", " spoof "])
_TRUTH_COLUMNS = ("liveness_truth", "face_match_truth", "id_registry_match_truth")


def _expected_truths(label: str, truths: tuple[str, ...]) -> dict[str, Label] | None:
    """What a row with these values must load to, or ``None`` when it must be refused."""
    row_label = Label(label) if label else None
    found = {}
    for column, value in zip(_TRUTH_COLUMNS, truths, strict=True):
        if not value.strip():
            continue
        check = column.removesuffix("_truth")
        allowed = {G, S} if check == "liveness" else {G, IMP}
        truth = next((t for t in allowed if t.value == value.strip().lower()), None)
        implied = implied_truth(row_label, check)
        if truth is None or (implied is not None and implied is not truth):
            return None
        found[check] = truth
    return found


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    label=st.sampled_from(["", "genuine", "impostor", "spoof"]),
    truths=st.tuples(_TRUTH_VALUES, _TRUTH_VALUES, _TRUTH_VALUES),
)
def test_any_truth_columns_load_consistently_or_are_refused(
    folder: Path, label: str, truths: tuple[str, str, str]
) -> None:
    fields = dict(zip(_TRUTH_COLUMNS, truths, strict=True))
    path = write_manifest(folder / "m.jsonl", [row("a", label=label, **fields)])
    expected = _expected_truths(label, truths)
    if expected is None:
        with pytest.raises(ConfigError, match="_truth: "):
            Manifest.load(path)
        return
    (loaded,) = Manifest.load(path).rows
    assert loaded.truth == expected
    if label:
        assert loaded.label is Label(label)
    elif len(expected) == len(_TRUTH_COLUMNS):
        values = set(expected.values())
        assert loaded.label is next((x for x in (S, IMP) if x in values), G)
    else:
        assert loaded.label is None


def test_every_truth_combination_a_check_allows_loads(folder: Path) -> None:
    live = ("genuine", "spoof")
    face = ("genuine", "impostor")
    for n, (a, b, c) in enumerate(itertools.product(live, face, face)):
        fields = {"liveness_truth": a, "face_match_truth": b, "id_registry_match_truth": c}
        (loaded,) = Manifest.load(
            write_manifest(folder / f"m{n}.jsonl", [row("a", label="", **fields)])
        ).rows
        assert {k: v.value for k, v in loaded.truth.items()} == {
            "liveness": a,
            "face_match": b,
            "id_registry_match": c,
        }
