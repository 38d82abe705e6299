"""build_request: the documented fields only, and the vendor's local evidence rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux import (
    AttemptContext,
    Check,
    Evidence,
    UrlMedia,
    VendorConfig,
    VendorHooks,
    VendorMediaId,
    VendorRequest,
    VendorSpec,
)
from kycmux.exceptions import InvalidEvidenceError

BOTH = frozenset({Check.LIVENESS, Check.FACE_MATCH})
MiB = 1024 * 1024


@pytest.fixture
def build(
    hooks: VendorHooks, spec: VendorSpec, config: VendorConfig, context: AttemptContext
) -> Callable[..., VendorRequest]:
    def run(
        evidence: Evidence, checks: frozenset[Check] = BOTH, cfg: VendorConfig | None = None
    ) -> VendorRequest:
        request: VendorRequest = hooks.build_request(
            vendor=spec, checks=checks, evidence=evidence, config=cfg or config, context=context
        )
        return request

    return run


def test_files_become_streamed_parts_with_neutral_names(
    build: Callable[..., VendorRequest], make_image: Callable[..., Path], data_file: Path
) -> None:
    selfie = make_image("jpeg", 640, 480)
    request = build(Evidence(selfie=selfie, liveness_data=data_file))
    assert (request.vendor, request.operation, request.method) == (
        "linkface",
        "liveness_selfie_verification",
        "POST",
    )
    assert request.url == "https://cloudapi.linkface.cn/identity/liveness_selfie_verification"
    assert request.checks == BOTH
    assert [(f.field, f.filename, f.content_type, f.path) for f in request.files] == [
        ("selfie_file", "selfie.jpg", "image/jpeg", selfie),
        ("liveness_data_file", "liveness.protobuf", "application/octet-stream", data_file),
    ]
    assert all(f.content is None for f in request.files)
    assert request.fields == ()
    assert request.params == ()
    assert request.headers == ()


def test_urls_and_vendor_ids_become_text_fields(build: Callable[..., VendorRequest]) -> None:
    request = build(
        Evidence(
            selfie=UrlMedia("https://img.example.com/s.jpg"),
            liveness_data=VendorMediaId("linkface", "LD123"),
        )
    )
    assert request.fields == (
        ("selfie_url", "https://img.example.com/s.jpg"),
        ("liveness_data_id", "LD123"),
    )
    assert request.files == ()
    request = build(
        Evidence(
            selfie=VendorMediaId("linkface", "IMG9"),
            liveness_data=UrlMedia("https://data.example.com/l.protobuf"),
        )
    )
    assert request.fields == (
        ("selfie_image_id", "IMG9"),
        ("liveness_data_url", "https://data.example.com/l.protobuf"),
    )


def test_selfie_auto_rotate_sent_only_when_enabled(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    make_image: Callable[..., Path],
    data_file: Path,
) -> None:
    evidence = Evidence(selfie=make_image(), liveness_data=data_file)
    assert build(evidence).field("selfie_auto_rotate") is None
    on = build(evidence, cfg=make_config(selfie_auto_rotate=True))
    assert on.field("selfie_auto_rotate") == "true"


def test_base_url_is_configurable(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    make_image: Callable[..., Path],
    data_file: Path,
) -> None:
    cfg = make_config(base_url="http://127.0.0.1:8123")
    request = build(Evidence(selfie=make_image(), liveness_data=data_file), cfg=cfg)
    assert request.url == "http://127.0.0.1:8123/identity/liveness_selfie_verification"


@pytest.mark.parametrize("checks", [{Check.LIVENESS}, {Check.FACE_MATCH}])
def test_request_serves_only_the_checks_asked(
    build: Callable[..., VendorRequest],
    make_image: Callable[..., Path],
    data_file: Path,
    checks: set[Check],
) -> None:
    request = build(Evidence(selfie=make_image(), liveness_data=data_file), frozenset(checks))
    assert request.checks == checks


def test_unknown_check_is_refused(
    build: Callable[..., VendorRequest], make_image: Callable[..., Path], data_file: Path
) -> None:
    evidence = Evidence(selfie=make_image(), liveness_data=data_file)
    with pytest.raises(ValueError, match="id_registry_match"):
        build(evidence, frozenset({Check.ID_REGISTRY_MATCH}))


@pytest.mark.parametrize(
    ("missing", "rule"),
    [
        ("selfie", "exactly one of selfie_file, selfie_url, selfie_image_id"),
        ("liveness_data", "exactly one of liveness_data_file, liveness_data_url, liveness_data_id"),
    ],
)
def test_each_piece_is_required(
    build: Callable[..., VendorRequest],
    make_image: Callable[..., Path],
    data_file: Path,
    missing: str,
    rule: str,
) -> None:
    pieces = {"selfie": make_image(), "liveness_data": data_file}
    del pieces[missing]
    with pytest.raises(InvalidEvidenceError) as info:
        build(Evidence(**pieces))
    assert (info.value.field, info.value.vendor) == (missing, "linkface")
    assert rule in info.value.rule


@pytest.mark.parametrize("field", ["selfie", "liveness_data"])
def test_vendor_ids_of_another_vendor_are_refused(
    build: Callable[..., VendorRequest],
    make_image: Callable[..., Path],
    data_file: Path,
    field: str,
) -> None:
    pieces: dict[str, object] = {"selfie": make_image(), "liveness_data": data_file}
    pieces[field] = VendorMediaId("tencent_legacy", "X1")
    with pytest.raises(InvalidEvidenceError, match="must come from linkface") as info:
        build(Evidence(**pieces))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("fmt", "content_type", "ext"),
    [
        ("jpeg", "image/jpeg", "jpg"),
        ("bmp", "image/bmp", "bmp"),
        ("png", "image/png", "png"),
        ("gif", "image/gif", "gif"),
        ("tiff", "image/tiff", "tiff"),
    ],
)
def test_documented_selfie_formats_are_accepted(
    build: Callable[..., VendorRequest],
    make_image: Callable[..., Path],
    data_file: Path,
    fmt: str,
    content_type: str,
    ext: str,
) -> None:
    request = build(Evidence(selfie=make_image(fmt, 100, 120), liveness_data=data_file))
    part = request.files[0]
    assert (part.field, part.filename, part.content_type) == (
        "selfie_file",
        f"selfie.{ext}",
        content_type,
    )


def test_other_image_formats_are_refused(
    build: Callable[..., VendorRequest], make_image: Callable[..., Path], data_file: Path
) -> None:
    with pytest.raises(InvalidEvidenceError) as info:
        build(Evidence(selfie=make_image("webp"), liveness_data=data_file))
    assert info.value.field == "selfie"
    assert info.value.rule == "format must be JPG, BMP, PNG, GIF or TIFF (found WEBP)"


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (9, 9, True),
        (4000, 4000, True),
        (8, 100, False),
        (100, 8, False),
        (4001, 100, False),
        (100, 4001, False),
    ],
)
@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "gif", "tiff"])
def test_selfie_dimensions_must_be_over_8_and_at_most_4000(
    build: Callable[..., VendorRequest],
    make_image: Callable[..., Path],
    data_file: Path,
    fmt: str,
    width: int,
    height: int,
    ok: bool,
) -> None:
    evidence = Evidence(selfie=make_image(fmt, width, height), liveness_data=data_file)
    if ok:
        assert build(evidence).files[0].field == "selfie_file"
        return
    with pytest.raises(InvalidEvidenceError) as info:
        build(evidence)
    side, value = ("width", width) if width in (8, 4001) else ("height", height)
    assert info.value.field == "selfie"
    assert info.value.rule == f"{side} is {value} px; it must be > 8 and ≤ 4000 px"


def test_selfie_without_dimensions_in_its_header_is_refused(
    build: Callable[..., VendorRequest], tmp_path: Path, data_file: Path
) -> None:
    selfie = tmp_path / "nosof.jpg"
    selfie.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    with pytest.raises(InvalidEvidenceError, match="does not give its width and height"):
        build(Evidence(selfie=selfie, liveness_data=data_file))


def test_selfie_size_limit_is_5_mib_inclusive(
    build: Callable[..., VendorRequest], make_image: Callable[..., Path], data_file: Path
) -> None:
    at_limit = make_image("png", size=5 * MiB)
    assert build(Evidence(selfie=at_limit, liveness_data=data_file)).files[0].size() == 5 * MiB
    over = make_image("png", size=5 * MiB + 1)
    with pytest.raises(InvalidEvidenceError) as info:
        build(Evidence(selfie=over, liveness_data=data_file))
    assert info.value.field == "selfie"
    assert info.value.rule == "file is 5242881 bytes; the limit is 5242880 bytes (5 MB)"


def test_selfie_size_limit_follows_config(
    build: Callable[..., VendorRequest],
    make_config: Callable[..., VendorConfig],
    make_image: Callable[..., Path],
    data_file: Path,
) -> None:
    evidence = Evidence(selfie=make_image("png", size=2000), liveness_data=data_file)
    with pytest.raises(InvalidEvidenceError, match="limit is 1999 bytes"):
        build(evidence, cfg=make_config(max_selfie_bytes=1999))
