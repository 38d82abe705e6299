"""Request building and the vendor's local limits, checked before anything is sent.

Exactly the documented fields: livedetectfour is multipart (``appid``, ``validate_data``,
``compare_flag``, ``video``, ``card``, ``seq``); idcardcompare is multipart with the ``image``
part, or JSON with ``url`` when the photo is a URL; livegetfour is JSON (``appid``, ``bucket``,
``seq``). Files are referenced by path and streamed.

``validate_data`` is the challenge livegetfour issued (``Evidence.challenge``); digits the
caller chose (``Evidence.digits``) go only under ``allow_caller_digits = true``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kycmux import (
    AttemptContext,
    Check,
    Evidence,
    FileMedia,
    FilePart,
    Media,
    UrlMedia,
    VendorConfig,
    VendorRequest,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError
from kycmux.media import ImageFormat, VideoFormat, read_image_info, sniff_video_format
from kycmux_tencent_legacy._spec import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_VIDEO_BYTES,
    IDCARDCOMPARE,
    LIVEDETECTFOUR,
    LIVEGETFOUR,
    MIB,
    OFFERS,
    PATHS,
    VENDOR,
)

__all__ = ["build", "build_challenge", "estimated_body_size", "operation_for"]

_VIDEO_TYPES: Mapping[VideoFormat, tuple[str, str]] = {
    VideoFormat.MP4: ("video.mp4", "video/mp4"),
    VideoFormat.FLV: ("video.flv", "video/x-flv"),
    VideoFormat.WEBM: ("video.webm", "video/webm"),
    VideoFormat.AVI: ("video.avi", "video/x-msvideo"),
    VideoFormat.THREE_GP: ("video.3gp", "video/3gpp"),
}
_IMAGE_TYPES: Mapping[ImageFormat, tuple[str, str]] = {
    ImageFormat.JPEG: ("jpg", "image/jpeg"),
    ImageFormat.PNG: ("png", "image/png"),
    ImageFormat.GIF: ("gif", "image/gif"),
    ImageFormat.BMP: ("bmp", "image/bmp"),
    ImageFormat.TIFF: ("tiff", "image/tiff"),
    ImageFormat.WEBP: ("webp", "image/webp"),
}
# Multipart framing per part (boundary line, Content-Disposition, Content-Type, blank lines)
# stays well under this with the fixed filenames used here; over-estimating keeps us on the
# safe side of the vendor's body limit.
_PART_OVERHEAD = 256
_OPERATION_OF = {offer.check: offer.operation for offer in OFFERS}


def operation_for(checks: frozenset[Check]) -> str:
    """The one operation serving all of ``checks``."""
    operations = {_OPERATION_OF.get(check) for check in checks}
    operation = operations.pop() if len(operations) == 1 else None
    if operation is None:
        raise ValueError(f"{VENDOR}: no single operation serves {sorted(checks)}")
    return operation


def _limit(config: VendorConfig, key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"vendors.{VENDOR}.{key}", "must be a positive number of bytes")
    return value


def _describe(limit: int) -> str:
    return f"{limit} bytes ({limit / MIB:g} MiB)"


def _require_text(value: str | None, field: str, why: str) -> str:
    if not value:
        raise InvalidEvidenceError(field, f"required: {why}", vendor=VENDOR)
    return value


def _local_file(media: Media | None, field: str, why: str) -> FileMedia:
    if media is None:
        raise InvalidEvidenceError(field, f"required: {why}", vendor=VENDOR)
    if not isinstance(media, FileMedia):
        raise InvalidEvidenceError(
            field, f"must be a local file (this operation takes uploads only): {why}", vendor=VENDOR
        )
    return media


def _video_part(media: FileMedia, limit: int) -> FilePart:
    size = media.size()
    if size > limit:
        raise InvalidEvidenceError(
            "video",
            f"must be at most {_describe(limit)} (the vendor asks for videos under 3 MB); "
            f"this one is {size} bytes",
            vendor=VENDOR,
        )
    fmt = sniff_video_format(media.head())
    if fmt is None:
        raise InvalidEvidenceError("video", "content is not a recognised video", vendor=VENDOR)
    filename, content_type = _VIDEO_TYPES[fmt]
    return FilePart("video", filename, content_type, path=media.path)


def _image_part(media: FileMedia, field: str, part: str, *, no_animation: bool) -> FilePart:
    info = read_image_info(media.path)
    if info is None:
        raise InvalidEvidenceError(field, "content is not a recognised image", vendor=VENDOR)
    if no_animation and info.animated:
        raise InvalidEvidenceError(
            field, "animated GIFs are not accepted by idcardcompare; send one still frame",
            vendor=VENDOR,
        )  # fmt: skip
    extension, content_type = _IMAGE_TYPES[info.format]
    return FilePart(part, f"{part}.{extension}", content_type, path=media.path)


def estimated_body_size(request: VendorRequest) -> int:
    """An upper bound of the multipart body the transport will send for ``request``."""
    texts = sum(len(name) + len(str(value).encode()) for name, value in request.fields)
    parts = len(request.fields) + len(request.files)
    return request.body_size() + texts + _PART_OVERHEAD * (parts + 1)


def _check_body(request: VendorRequest, config: VendorConfig, field: str) -> VendorRequest:
    limit = _limit(config, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    size = estimated_body_size(request)
    if size > limit:
        raise InvalidEvidenceError(
            field,
            f"the request body must be at most {_describe(limit)} (the vendor's 6 MB limit); "
            f"with this file it would be about {size} bytes",
            vendor=VENDOR,
        )
    return request


def _url(config: VendorConfig, operation: str) -> str:
    return f"{config.base_url.rstrip('/')}{PATHS[operation]}"


def _validate_data(evidence: Evidence, config: VendorConfig, now: float) -> str:
    """The digits for ``validate_data``: the livegetfour challenge's, or (opt-in only) the
    caller's own."""
    challenge = evidence.challenge
    if challenge is not None:
        if challenge.vendor != VENDOR:
            # Digits another vendor or account issued: livedetectfour cannot match them.
            raise InvalidEvidenceError(
                "challenge.vendor",
                "must be a challenge this vendor issued (its livegetfour): only the issuer "
                "can verify it",
                vendor=VENDOR,
            )
        if challenge.expired(now):
            raise InvalidEvidenceError(
                "challenge", "expired: ask livegetfour for new digits and record again",
                vendor=VENDOR,
            )  # fmt: skip
        return challenge.value
    if evidence.digits is None:
        raise InvalidEvidenceError(
            "challenge", "required: the digits livegetfour issued (Engine.challenge)",
            vendor=VENDOR,
        )  # fmt: skip
    if config.get("allow_caller_digits", False) is not True:
        raise InvalidEvidenceError(
            "digits",
            "digits the caller chose are refused: validate_data must come from livegetfour "
            f"(Engine.challenge), or set vendors.{VENDOR}.allow_caller_digits = true to migrate",
            vendor=VENDOR,
        )
    return evidence.digits


def _livedetectfour(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig, context: AttemptContext
) -> VendorRequest:
    request_id = context.request_id
    digits = _validate_data(evidence, config, context.now())
    video = _local_file(evidence.video, "video", "the lip-reading video")
    files = [_video_part(video, _limit(config, "max_video_bytes", DEFAULT_MAX_VIDEO_BYTES))]
    compare = Check.FACE_MATCH in checks
    if compare:
        card = _local_file(evidence.reference_photo, "reference_photo", "face_match's card photo")
        files.append(_image_part(card, "reference_photo", "card", no_animation=False))
    request = VendorRequest(
        vendor=VENDOR,
        operation=LIVEDETECTFOUR,
        checks=checks,
        method="POST",
        url=_url(config, LIVEDETECTFOUR),
        fields=(
            ("appid", str(config["appid"])),
            ("validate_data", digits),
            ("compare_flag", "true" if compare else "false"),
            ("seq", request_id),
        ),
        files=tuple(files),
    )
    return _check_body(request, config, "reference_photo" if compare else "video")


def _idcardcompare(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig, request_id: str
) -> VendorRequest:
    why = "id_registry_match compares the photo with the registry entry for this ID"
    number = _require_text(evidence.id_number, "id_number", why)
    name = _require_text(evidence.id_name, "id_name", why)
    selfie = evidence.selfie
    common: tuple[tuple[str, str], ...] = (
        ("appid", str(config["appid"])),
        ("idcard_number", number),
        ("idcard_name", name),
    )
    base = VendorRequest(
        vendor=VENDOR,
        operation=IDCARDCOMPARE,
        checks=checks,
        method="POST",
        url=_url(config, IDCARDCOMPARE),
    )
    if isinstance(selfie, UrlMedia):
        body = {**dict(common), "url": selfie.url, "session_id": request_id}
        return attrs.evolve(base, json=body)
    photo = _local_file(selfie, "selfie", "a file or an http(s) URL of the photo")
    part = _image_part(photo, "selfie", "image", no_animation=True)
    request = attrs.evolve(base, fields=(*common, ("session_id", request_id)), files=(part,))
    return _check_body(request, config, "selfie")


def build(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig, context: AttemptContext
) -> VendorRequest:
    """The unsigned request serving ``checks``; ``InvalidEvidenceError`` for what won't do."""
    if operation_for(checks) == LIVEDETECTFOUR:
        return _livedetectfour(checks, evidence, config, context)
    return _idcardcompare(checks, evidence, config, context.request_id)


def build_challenge(config: VendorConfig, context: AttemptContext) -> VendorRequest:
    """The unsigned livegetfour request: JSON, as the vendor's SDKs send it."""
    body = {
        "appid": str(config["appid"]),
        "bucket": str(config.get("bucket", "")),
        "seq": context.request_id,
    }
    return VendorRequest(
        vendor=VENDOR,
        operation=LIVEGETFOUR,
        checks=frozenset(),
        method="POST",
        url=_url(config, LIVEGETFOUR),
        json=body,
    )
