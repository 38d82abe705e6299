"""Every local evidence rule, with good and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kycmux import (
    Consent,
    Evidence,
    EvidenceKind,
    FileMedia,
    MediaForm,
    UrlMedia,
    VendorMediaId,
    check_digit,
    id_number_problem,
)
from kycmux.exceptions import InvalidEvidenceError

GOOD_ID = "11010519491231002X"


def with_check(first17: str) -> str:
    return first17 + check_digit(first17)


def test_check_digit_matches_the_gb11643_worked_example() -> None:
    # The standard's own example number: 11010519491231002X.
    assert check_digit("11010519491231002") == "X"
    assert id_number_problem(GOOD_ID) is None


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("1101051949123100", "18 characters"),
        ("11010519491231002Y", "digit or X"),
        ("1101051949123100AX", "17 characters must be digits"),
        ("110105194912310021", "check character"),
        (with_check("01010519491231002"), "region code"),
        (with_check("11010519490230002"), "real birth date"),  # 30 February
        (with_check("11010518991231002"), "between 1900 and today"),
        (with_check("11010530001231002"), "between 1900 and today"),
    ],
)
def test_bad_id_numbers_are_refused_with_the_rule(value: str, rule: str) -> None:
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(id_number=value)
    assert info.value.field == "id_number"
    assert rule in info.value.rule


def test_birth_date_today_is_allowed_and_tomorrow_is_not() -> None:
    today = dt.date(2020, 5, 17)
    born_today = with_check("110105" + "20200517" + "002")
    born_tomorrow = with_check("110105" + "20200518" + "002")
    assert id_number_problem(born_today, today=today) is None
    assert "between 1900 and today" in (id_number_problem(born_tomorrow, today=today) or "")


def test_lower_case_x_is_normalised() -> None:
    assert Evidence(id_number=GOOD_ID.lower()).id_number == GOOD_ID


@pytest.mark.parametrize(
    ("name", "rule"), [("", "not be empty"), ("   ", "not be empty"), ("张\x00三", "control")]
)
def test_bad_names(name: str, rule: str) -> None:
    with pytest.raises(InvalidEvidenceError, match=rule) as info:
        Evidence(id_name=name)
    assert info.value.field == "id_name"


def test_name_must_be_utf8_when_given_as_bytes() -> None:
    assert Evidence(id_name="张三".encode()).id_name == "张三"
    with pytest.raises(InvalidEvidenceError, match="UTF-8"):
        Evidence(id_name="张三".encode("gbk"))


def test_images_are_recognised_by_content(tmp_path: Path, png_file: Path) -> None:
    assert Evidence(selfie=png_file).selfie == FileMedia(png_file)
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"this is text, not a jpeg")
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(reference_photo=fake)
    assert info.value.field == "reference_photo"
    assert "not a recognised image" in info.value.rule


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidEvidenceError, match="does not exist") as info:
        Evidence(selfie=tmp_path / "nope.png")
    assert info.value.field == "selfie"
    empty = tmp_path / "empty.bin"
    empty.touch()
    with pytest.raises(InvalidEvidenceError, match="is empty") as info:
        Evidence(liveness_data=empty)
    assert info.value.field == "liveness_data"


def test_what_is_not_a_regular_file_does_not_exist_as_evidence(
    tmp_path: Path, png_file: Path
) -> None:
    # One stat answers "a file?" and "empty?": a directory, a path through a file and a
    # symlink loop are refused as missing, as Path.is_file would, naming the file only.
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    for path in (tmp_path, png_file / "inside.png", loop):
        with pytest.raises(InvalidEvidenceError, match="does not exist") as info:
            Evidence(selfie=path)
        assert str(tmp_path) not in str(info.value)
    linked = tmp_path / "linked.png"
    linked.symlink_to(png_file)
    assert Evidence(selfie=linked).media_form(EvidenceKind.SELFIE) is MediaForm.FILE


def test_video_container_is_recognised(png_file: Path, mp4_file: Path) -> None:
    assert Evidence(video=mp4_file).media_form(EvidenceKind.VIDEO) is MediaForm.FILE
    with pytest.raises(InvalidEvidenceError, match="not a recognised video"):
        Evidence(video=png_file)


def test_urls_and_vendor_ids() -> None:
    evidence = Evidence(selfie="https://example.com/a.jpg")
    assert evidence.selfie == UrlMedia("https://example.com/a.jpg")
    assert evidence.media_form(EvidenceKind.SELFIE) is MediaForm.URL
    with pytest.raises(InvalidEvidenceError, match="absolute http"):
        Evidence(selfie=UrlMedia("ftp://example.com/a.jpg"))
    with pytest.raises(InvalidEvidenceError, match="must not be empty"):
        Evidence(liveness_data=VendorMediaId("linkface", " "))


@pytest.mark.parametrize("digits", ["", "95a2", "９５３２", "1" * 17])
def test_bad_digits(digits: str) -> None:
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(digits=digits)
    assert info.value.field == "digits"


def test_good_evidence_and_masked_repr(png_file: Path, mp4_file: Path) -> None:
    evidence = Evidence(
        selfie=png_file,
        video=mp4_file,
        digits="9532",
        id_number=GOOD_ID,
        id_name="张三丰",
        subject_id="user-1",
        consents=["shadow_evaluation"],
    )
    assert evidence.consents == frozenset({Consent.SHADOW_EVALUATION})
    text = repr(evidence)
    assert GOOD_ID not in text
    assert "张三丰" not in text
    assert "11**************2X" in text
    assert evidence.get(EvidenceKind.DIGITS) == "9532"
    assert evidence.get(EvidenceKind.LIVENESS_DATA) is None
