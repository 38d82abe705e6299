"""Request building: exactly the documented fields, streamed files, every local limit."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux import (
    AttemptContext,
    Check,
    Evidence,
    FileMedia,
    UrlMedia,
    VendorConfig,
    VendorHooks,
    VendorMediaId,
    VendorRequest,
    VendorSpec,
    check_digit,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError

LIVENESS = frozenset({Check.LIVENESS})
BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
REGISTRY = frozenset({Check.ID_REGISTRY_MATCH})
ID_BODY = "11010519491231002"
ID_NUMBER = ID_BODY + check_digit(ID_BODY)
ID_NAME = "张三"
MIB = 1024 * 1024


def _gif(frames: int) -> bytes:
    """A 1x1 GIF with ``frames`` image descriptors (two or more: animated)."""
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def _mp4(path: Path, size: int) -> Path:
    head = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isommp41"
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


@pytest.fixture
def build(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, context: AttemptContext
) -> Callable[..., VendorRequest]:
    def run(
        checks: frozenset[Check], evidence: Evidence, cfg: VendorConfig = config
    ) -> VendorRequest:
        request = hooks.build_request(
            vendor=spec, checks=checks, evidence=evidence, config=cfg, context=context
        )
        assert isinstance(request, VendorRequest)
        return request

    return run


def test_liveness_only_is_livedetectfour_without_compare(
    build: Callable[..., VendorRequest], mp4_file: Path
) -> None:
    request = build(LIVENESS, Evidence(video=mp4_file, digits="9532"))
    assert (request.vendor, request.operation, request.method) == (
        "tencent_legacy", "livedetectfour", "POST"
    )  # fmt: skip
    assert request.url == "https://recognition.image.myqcloud.com/face/livedetectfour"
    assert request.checks == LIVENESS
    assert request.fields == (
        ("appid", "1250000000"),
        ("validate_data", "9532"),
        ("compare_flag", "false"),
        ("seq", "req-0001"),
    )
    (video,) = request.files
    assert (video.field, video.filename, video.content_type) == ("video", "video.mp4", "video/mp4")
    assert video.path == mp4_file
    assert video.content is None
    assert request.json is None


def test_face_match_adds_the_card_part_and_compare_flag(
    build: Callable[..., VendorRequest], mp4_file: Path, png_file: Path
) -> None:
    evidence = Evidence(video=mp4_file, digits="9532", reference_photo=png_file)
    for checks in (BOTH, frozenset({Check.FACE_MATCH})):
        request = build(checks, evidence)
        assert request.field("compare_flag") == "true"
        assert [(f.field, f.filename, f.content_type, f.path) for f in request.files] == [
            ("video", "video.mp4", "video/mp4", mp4_file),
            ("card", "card.png", "image/png", png_file),
        ]


def test_idcardcompare_multipart_with_the_image_part(
    build: Callable[..., VendorRequest], png_file: Path
) -> None:
    request = build(REGISTRY, Evidence(selfie=png_file, id_number=ID_NUMBER, id_name=ID_NAME))
    assert request.operation == "idcardcompare"
    assert request.url == "https://recognition.image.myqcloud.com/face/idcardcompare"
    assert request.fields == (
        ("appid", "1250000000"),
        ("idcard_number", ID_NUMBER),
        ("idcard_name", ID_NAME),
        ("session_id", "req-0001"),
    )
    (image,) = request.files
    assert (image.field, image.filename, image.content_type, image.path) == (
        "image", "image.png", "image/png", png_file
    )  # fmt: skip


def test_idcardcompare_json_with_url_when_the_photo_is_a_url(
    build: Callable[..., VendorRequest],
) -> None:
    url = "https://cdn.example.com/p/1.jpg"
    request = build(REGISTRY, Evidence(selfie=url, id_number=ID_NUMBER, id_name=ID_NAME))
    assert request.json == {
        "appid": "1250000000",
        "idcard_number": ID_NUMBER,
        "idcard_name": ID_NAME,
        "url": url,
        "session_id": "req-0001",
    }
    assert request.fields == ()
    assert request.files == ()


def test_filenames_never_carry_the_callers_file_names(
    build: Callable[..., VendorRequest], png_file: Path, tmp_path: Path
) -> None:
    personal = tmp_path / f"{ID_NAME}_{ID_NUMBER}.png"
    personal.write_bytes(png_file.read_bytes())
    request = build(REGISTRY, Evidence(selfie=personal, id_number=ID_NUMBER, id_name=ID_NAME))
    assert request.files[0].filename == "image.png"


def test_base_url_from_config_is_used(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    mp4_file: Path,
) -> None:
    cfg = make_config(base_url="http://127.0.0.1:8123/")
    request = build(LIVENESS, Evidence(video=mp4_file, digits="1234"), cfg)
    assert request.url == "http://127.0.0.1:8123/face/livedetectfour"


def test_checks_of_two_operations_cannot_share_a_request(
    build: Callable[..., VendorRequest], mp4_file: Path
) -> None:
    with pytest.raises(ValueError, match="no single operation"):
        build(frozenset({Check.LIVENESS, Check.ID_REGISTRY_MATCH}), Evidence(video=mp4_file))


# --- local validation: each rule names the field and the limit -----------------------------


def _rejects(
    build: Callable[..., VendorRequest],
    checks: frozenset[Check],
    evidence: Evidence,
    field: str,
    words: str,
    cfg: VendorConfig | None = None,
) -> InvalidEvidenceError:
    with pytest.raises(InvalidEvidenceError) as info:
        build(checks, evidence, cfg) if cfg is not None else build(checks, evidence)
    assert info.value.field == field
    assert info.value.vendor == "tencent_legacy"
    assert words in info.value.rule
    return info.value


def test_a_challenge_is_required_for_liveness(
    build: Callable[..., VendorRequest], mp4_file: Path
) -> None:
    _rejects(build, LIVENESS, Evidence(video=mp4_file), "challenge", "livegetfour")


def test_video_is_required_and_must_be_a_file(
    build: Callable[..., VendorRequest],
) -> None:
    _rejects(build, LIVENESS, Evidence(digits="9532"), "video", "required")
    url = Evidence(video=UrlMedia("https://cdn.example.com/v.mp4"), digits="9532")
    _rejects(build, LIVENESS, url, "video", "local file")


def test_video_over_the_documented_3_mb_is_refused(
    build: Callable[..., VendorRequest], tmp_path: Path
) -> None:
    at_limit = _mp4(tmp_path / "ok.mp4", 3 * MIB)
    assert build(LIVENESS, Evidence(video=at_limit, digits="9532")).files[0].size() == 3 * MIB
    over = _mp4(tmp_path / "big.mp4", 3 * MIB + 1)
    error = _rejects(build, LIVENESS, Evidence(video=over, digits="9532"), "video", "3145728")
    assert "3 MiB" in error.rule
    assert str(3 * MIB + 1) in error.rule


def test_video_limit_is_configurable(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    tmp_path: Path,
) -> None:
    video = _mp4(tmp_path / "v.mp4", 2048)
    evidence = Evidence(video=video, digits="9532")
    _rejects(build, LIVENESS, evidence, "video", "1000 bytes", make_config(max_video_bytes=1000))
    assert build(LIVENESS, evidence, make_config(max_video_bytes=2048)).files


def test_card_photo_is_required_for_face_match_and_must_be_a_file(
    build: Callable[..., VendorRequest], mp4_file: Path
) -> None:
    missing = Evidence(video=mp4_file, digits="9532")
    _rejects(build, BOTH, missing, "reference_photo", "required")
    url = Evidence(video=mp4_file, digits="9532", reference_photo="https://cdn.example.com/c.jpg")
    _rejects(build, BOTH, url, "reference_photo", "local file")


def test_livedetectfour_body_limit_counts_video_and_card(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    tmp_path: Path,
    png_file: Path,
) -> None:
    video = _mp4(tmp_path / "v.mp4", 4000)
    evidence = Evidence(video=video, digits="9532", reference_photo=png_file)
    cfg = make_config(max_body_bytes=4200)
    _rejects(build, BOTH, evidence, "reference_photo", "4200 bytes", cfg)
    assert build(LIVENESS, Evidence(video=video, digits="9532"), make_config(max_body_bytes=6000))


def test_id_number_and_name_are_required_for_registry_match(
    build: Callable[..., VendorRequest], png_file: Path
) -> None:
    _rejects(build, REGISTRY, Evidence(selfie=png_file, id_name=ID_NAME), "id_number", "required")
    _rejects(build, REGISTRY, Evidence(selfie=png_file, id_number=ID_NUMBER), "id_name", "required")


def test_registry_photo_must_be_a_file_or_url(build: Callable[..., VendorRequest]) -> None:
    base = {"id_number": ID_NUMBER, "id_name": ID_NAME}
    _rejects(build, REGISTRY, Evidence(**base), "selfie", "required")
    media_id = Evidence(selfie=VendorMediaId("tencent_legacy", "img-1"), **base)
    _rejects(build, REGISTRY, media_id, "selfie", "local file")


def test_animated_gif_is_refused_for_idcardcompare_but_a_still_gif_is_fine(
    build: Callable[..., VendorRequest], tmp_path: Path
) -> None:
    animated, still = tmp_path / "a.gif", tmp_path / "s.gif"
    animated.write_bytes(_gif(2))
    still.write_bytes(_gif(1))
    base = {"id_number": ID_NUMBER, "id_name": ID_NAME}
    _rejects(build, REGISTRY, Evidence(selfie=animated, **base), "selfie", "animated GIF")
    request = build(REGISTRY, Evidence(selfie=still, **base))
    assert (request.files[0].filename, request.files[0].content_type) == ("image.gif", "image/gif")


def test_idcardcompare_body_over_6_mb_is_refused(
    build: Callable[..., VendorRequest], png_file: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as f:
        f.write(png_file.read_bytes())
        f.truncate(6 * MIB)  # trailing bytes after IEND: still a PNG by its header
    error = _rejects(
        build,
        REGISTRY,
        Evidence(selfie=big, id_number=ID_NUMBER, id_name=ID_NAME),
        "selfie",
        "6291456 bytes",
    )
    assert "6 MB" in error.rule


def test_body_limit_is_configurable(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    png_file: Path,
) -> None:
    evidence = Evidence(selfie=png_file, id_number=ID_NUMBER, id_name=ID_NAME)
    _rejects(build, REGISTRY, evidence, "selfie", "500 bytes", make_config(max_body_bytes=500))


def test_nonsense_limits_are_config_errors(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    mp4_file: Path,
) -> None:
    with pytest.raises(ConfigError, match="max_video_bytes"):
        build(LIVENESS, Evidence(video=mp4_file, digits="1"), make_config(max_video_bytes=0))


def test_a_file_that_stopped_being_an_image_is_refused(
    build: Callable[..., VendorRequest], png_file: Path
) -> None:
    evidence = Evidence(selfie=png_file, id_number=ID_NUMBER, id_name=ID_NAME)
    png_file.write_bytes(b"not an image any more")
    _rejects(build, REGISTRY, evidence, "selfie", "not a recognised image")


def test_evidence_value_passes_through_unread(
    build: Callable[..., VendorRequest], mp4_file: Path
) -> None:
    evidence = Evidence(video=FileMedia(mp4_file), digits="0000")
    assert build(LIVENESS, evidence).field("validate_data") == "0000"
