"""Building the unsigned request from evidence, with the vendor's documented local rules.

Pure apart from reading file headers: the selfie's format and dimensions are read from its
first bytes so a request the vendor would refuse is never sent. Files are referenced by path
and streamed by the transport.
"""

from __future__ import annotations

from typing import Final

from kycmux import (
    Check,
    Evidence,
    FileMedia,
    FilePart,
    Media,
    UrlMedia,
    VendorConfig,
    VendorMediaId,
    VendorRequest,
)
from kycmux.exceptions import InvalidEvidenceError
from kycmux.media import ImageFormat, ImageInfo, read_image_info
from kycmux_linkface._settings import Settings
from kycmux_linkface._spec import OPERATION, PATH, VENDOR

__all__ = ["MAX_SIDE", "MIN_SIDE_EXCLUSIVE", "SELFIE_FORMATS", "build_request", "check_selfie"]

SELFIE_FORMATS: Final = frozenset(
    {ImageFormat.JPEG, ImageFormat.BMP, ImageFormat.PNG, ImageFormat.GIF, ImageFormat.TIFF}
)
MIN_SIDE_EXCLUSIVE: Final = 8
MAX_SIDE: Final = 4000

_CONTENT_TYPES: Final = {
    ImageFormat.JPEG: ("image/jpeg", "jpg"),
    ImageFormat.BMP: ("image/bmp", "bmp"),
    ImageFormat.PNG: ("image/png", "png"),
    ImageFormat.GIF: ("image/gif", "gif"),
    ImageFormat.TIFF: ("image/tiff", "tiff"),
}

# Per evidence field: the form field for each way of giving it (the vendor's "one of three").
_SELFIE_FIELDS: Final = ("selfie_file", "selfie_url", "selfie_image_id")
_DATA_FIELDS: Final = ("liveness_data_file", "liveness_data_url", "liveness_data_id")


def _invalid(field: str, rule: str) -> InvalidEvidenceError:
    return InvalidEvidenceError(field, rule, vendor=VENDOR)


def check_selfie(media: FileMedia, max_bytes: int) -> ImageInfo:
    """Apply the vendor's selfie rules to a local file; return what its header says."""
    size = media.size()
    if size > max_bytes:
        raise _invalid("selfie", f"file is {size} bytes; the limit is {max_bytes} bytes (5 MB)")
    info = read_image_info(media.path)
    if info is None or info.format not in SELFIE_FORMATS:
        found = "not an image" if info is None else info.format.value.upper()
        raise _invalid("selfie", f"format must be JPG, BMP, PNG, GIF or TIFF (found {found})")
    if info.width is None or info.height is None:
        raise _invalid("selfie", "the image header does not give its width and height")
    for side, value in (("width", info.width), ("height", info.height)):
        if not MIN_SIDE_EXCLUSIVE < value <= MAX_SIDE:
            raise _invalid(
                "selfie",
                f"{side} is {value} px; it must be > {MIN_SIDE_EXCLUSIVE} and ≤ {MAX_SIDE} px",
            )
    return info


def _media(
    evidence_field: str, media: Media | None, names: tuple[str, str, str]
) -> tuple[Media, str]:
    """The one form this piece is given in and the vendor field it goes to."""
    if media is None:
        raise _invalid(evidence_field, f"is required (exactly one of {', '.join(names)})")
    if isinstance(media, FileMedia):
        return media, names[0]
    if isinstance(media, UrlMedia):
        return media, names[1]
    if media.vendor != VENDOR:
        raise _invalid(
            evidence_field,
            f"a vendor media id must come from {VENDOR}, not from {media.vendor!r}",
        )
    return media, names[2]


def _selfie_part(media: FileMedia, settings: Settings) -> FilePart:
    info = check_selfie(media, settings.max_selfie_bytes)
    content_type, ext = _CONTENT_TYPES[info.format]
    # A neutral filename: the local one may carry a person's name.
    return FilePart("selfie_file", f"selfie.{ext}", content_type, path=media.path)


def _data_part(media: FileMedia) -> FilePart:
    return FilePart(
        "liveness_data_file", "liveness.protobuf", "application/octet-stream", path=media.path
    )


def _text(media: Media) -> str:
    if isinstance(media, UrlMedia):
        return media.url
    if isinstance(media, VendorMediaId):
        return media.id
    raise TypeError("file media has no text form")


def build_request(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig
) -> VendorRequest:
    """The unsigned ``liveness_selfie_verification`` request serving ``checks``."""
    unknown = checks - {Check.LIVENESS, Check.FACE_MATCH}
    if not checks or unknown:
        raise ValueError(f"{VENDOR} serves liveness and face_match, not {sorted(unknown)}")
    settings = Settings.from_config(config)
    selfie, selfie_field = _media("selfie", evidence.selfie, _SELFIE_FIELDS)
    data, data_field = _media("liveness_data", evidence.liveness_data, _DATA_FIELDS)
    fields: list[tuple[str, str]] = []
    files: list[FilePart] = []
    if isinstance(selfie, FileMedia):
        files.append(_selfie_part(selfie, settings))
    else:
        fields.append((selfie_field, _text(selfie)))
    if settings.selfie_auto_rotate:
        fields.append(("selfie_auto_rotate", "true"))
    if isinstance(data, FileMedia):
        files.append(_data_part(data))
    else:
        fields.append((data_field, _text(data)))
    return VendorRequest(
        vendor=VENDOR,
        operation=OPERATION,
        checks=checks,
        method="POST",
        url=config.base_url + PATH,
        fields=tuple(fields),
        files=tuple(files),
    )
