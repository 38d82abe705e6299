"""What a decision is made from: the checks, the kinds of evidence, and ``Evidence`` itself."""

from __future__ import annotations

import enum
import errno
import os
import stat
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import attrs

from kycmux._model._challenge import Challenge
from kycmux._model._idnumber import id_number_problem
from kycmux._model._privacy import mask_id_number, mask_name
from kycmux.exceptions import InvalidEvidenceError
from kycmux.media import sniff_image_format, sniff_video_format

__all__ = [
    "Check",
    "Consent",
    "Evidence",
    "EvidenceKind",
    "FileMedia",
    "Media",
    "MediaForm",
    "UrlMedia",
    "VendorMediaId",
    "as_media",
]


class Check(enum.StrEnum):
    """The canonical kinds of check a vendor can serve.

    Attributes:
        LIVENESS: Is the capture of a live person (not a photo, screen or mask)?
        FACE_MATCH: Is the live capture the same person as a reference photo?
        ID_REGISTRY_MATCH: Is the photo the person the national ID registry holds for this ID
            number and name?
    """

    LIVENESS = "liveness"
    FACE_MATCH = "face_match"
    ID_REGISTRY_MATCH = "id_registry_match"


class EvidenceKind(enum.StrEnum):
    """The pieces of evidence a check can need; each is one ``Evidence`` attribute."""

    SELFIE = "selfie"
    REFERENCE_PHOTO = "reference_photo"
    VIDEO = "video"
    DIGITS = "digits"
    LIVENESS_DATA = "liveness_data"
    ID_NUMBER = "id_number"
    ID_NAME = "id_name"

    @property
    def is_text(self) -> bool:
        """Given as text (digits, ID number, name), not as media in a form."""
        return self in (EvidenceKind.DIGITS, EvidenceKind.ID_NUMBER, EvidenceKind.ID_NAME)


class MediaForm(enum.StrEnum):
    """How a piece of media reaches the vendor."""

    FILE = "file"
    URL = "url"
    VENDOR_ID = "vendor_id"


class Consent(enum.StrEnum):
    """What the subject agreed to, beyond the verification itself.

    Attributes:
        SHADOW_EVALUATION: their biometrics may also be sent to a candidate vendor being
            evaluated, whose answer does not affect the decision.
    """

    SHADOW_EVALUATION = "shadow_evaluation"


def _path(value: str | os.PathLike[str]) -> Path:
    # A Path is taken as it is: re-parsing it cost a ``Path`` construction per file per call.
    return value if isinstance(value, Path) else Path(value)


@attrs.frozen
class FileMedia:
    """A local file, streamed from disk when sent. The repr shows the file name only."""

    path: Path = attrs.field(converter=_path, repr=lambda p: repr(p.name))
    form = MediaForm.FILE

    def size(self) -> int:
        """Bytes on disk; ``InvalidEvidenceError`` (naming the file only) if it is gone."""
        try:
            return self.path.stat().st_size
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        raise self.unreadable(problem)

    def head(self, n: int = 64) -> bytes:
        """The first ``n`` bytes (``InvalidEvidenceError`` as for ``size``)."""
        try:
            # Unbuffered: a buffered reader would read (and allocate) 8 KiB for these bytes.
            with open(self.path, "rb", buffering=0) as f:
                return f.read(n)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        raise self.unreadable(problem)

    def unreadable(self, problem: str) -> InvalidEvidenceError:
        # Built outside any handler: the OSError quotes the full path, which may name people.
        return InvalidEvidenceError("file", f"{self.path.name} cannot be read ({problem})")


@attrs.frozen
class UrlMedia:
    """Media the vendor fetches itself."""

    url: str
    form = MediaForm.URL


@attrs.frozen
class VendorMediaId:
    """Media already uploaded to one vendor, referred to by the id it returned."""

    vendor: str
    id: str
    form = MediaForm.VENDOR_ID


Media: TypeAlias = FileMedia | UrlMedia | VendorMediaId
"""A piece of media evidence in any form: file bytes, a URL, or a vendor's own media id."""


def as_media(value: Any) -> Media | None:
    """Accept a path, an ``http(s)://`` URL string, or a media value."""
    if value is None or isinstance(value, FileMedia | UrlMedia | VendorMediaId):
        return value
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return UrlMedia(value)
    if isinstance(value, str | os.PathLike):
        return FileMedia(value)  # its converter makes the one ``Path``
    raise TypeError(f"cannot use {type(value).__name__} as media")


_NOT_THERE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _regular_size(media: FileMedia) -> int | None:
    """The size of a regular file, ``None`` when there is none (as ``Path.is_file``)."""
    try:
        status = os.stat(media.path)
    except OSError as exc:
        if exc.errno in _NOT_THERE:
            return None
        problem = exc.strerror or type(exc).__name__
    else:
        return status.st_size if stat.S_ISREG(status.st_mode) else None
    raise media.unreadable(problem)


def _check_media(field: str, media: Media | None, sniff: Any = None, what: str = "") -> None:
    if media is None:
        return
    if isinstance(media, UrlMedia):
        parts = urlsplit(media.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidEvidenceError(field, "URL must be an absolute http(s) URL")
        return
    if isinstance(media, VendorMediaId):
        if not media.id.strip():
            raise InvalidEvidenceError(field, "vendor media id must not be empty")
        return
    # The file name only: the caller's directories may name the person or the customer.
    # One stat for "is a file" and its size (was two: this runs on every decision).
    if (size := _regular_size(media)) is None:
        raise InvalidEvidenceError(field, f"file does not exist: {media.path.name}")
    if size == 0:
        raise InvalidEvidenceError(field, f"file is empty: {media.path.name}")
    if sniff is not None and sniff(media.head()) is None:
        raise InvalidEvidenceError(field, f"content is not a recognised {what}")


def _image(_inst: Any, attribute: attrs.Attribute[Any], value: Media | None) -> None:
    _check_media(attribute.name, value, sniff_image_format, "image (JPEG/PNG/GIF/BMP/TIFF/WebP)")


def _video(_inst: Any, attribute: attrs.Attribute[Any], value: Media | None) -> None:
    _check_media(attribute.name, value, sniff_video_format, "video (MP4/MOV/3GP/FLV/WebM/AVI)")


def _data_file(_inst: Any, attribute: attrs.Attribute[Any], value: Media | None) -> None:
    _check_media(attribute.name, value)


def _digits(_inst: Any, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (value.isascii() and value.isdigit() and 1 <= len(value) <= 16):
        raise InvalidEvidenceError("digits", "must be 1-16 ASCII digits (e.g. '9532')")


def _challenge(inst: Evidence, _attribute: attrs.Attribute[Any], value: Challenge | None) -> None:
    if value is None:
        return
    if not isinstance(value, Challenge):
        raise InvalidEvidenceError("challenge", "must be a Challenge a vendor issued")
    if inst.digits is not None:
        # Two sources of the digits read aloud: which one the video answers is anyone's guess.
        raise InvalidEvidenceError(
            "digits", "must not be given with a challenge (the challenge carries the digits)"
        )


def _id_number(_inst: Any, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (problem := id_number_problem(value)):
        raise InvalidEvidenceError("id_number", problem)


def _id_name(_inst: Any, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not value.strip():
        raise InvalidEvidenceError("id_name", "must not be empty")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise InvalidEvidenceError("id_name", "must not contain control characters")
    if len(value) > 64:
        raise InvalidEvidenceError("id_name", "must be at most 64 characters")


def _utf8_text(value: str | bytes | None) -> str | None:
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Outside the handler: the UnicodeDecodeError holds the name's bytes (``__context__``).
    raise InvalidEvidenceError("id_name", "must be valid UTF-8")


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if isinstance(value, str) else value


def _consents(value: Iterable[str] | None) -> frozenset[Consent]:
    return frozenset(Consent(v) for v in value or ())


def _mask_or_none(mask: Any) -> Any:
    return lambda v: "None" if v is None else repr(mask(v))


@attrs.frozen(kw_only=True)
class Evidence:
    """Everything captured for one verification, validated when constructed.

    Files are checked (exist, non-empty, recognised by content) but not read: they stream from
    disk when a request is sent. The repr masks the ID number and name.

    Attributes:
        selfie: A still photo of the person (file, URL or vendor image id).
        reference_photo: The photo to match against, e.g. the ID card photo.
        video: A lip-reading liveness video (the person reads the challenge's digits aloud).
        digits: Digits the caller chose itself (the old way): vendors that issue challenges
            take them only under an explicit opt-in (Tencent: ``allow_caller_digits``).
        challenge: The challenge a vendor issued for this capture (``Engine.challenge``); it
            binds the challenged checks to that vendor. Not together with ``digits``.
        liveness_data: The data file a vendor's liveness SDK produced.
        id_number: PRC resident ID number (GB 11643: 18 characters, MOD 11-2 check).
        id_name: The name on the ID, UTF-8.
        subject_id: The caller's stable id for the person (lockout, sticky assignment).
        consents: What the person agreed to beyond the verification itself.
    """

    selfie: Media | None = attrs.field(default=None, converter=as_media, validator=_image)
    reference_photo: Media | None = attrs.field(default=None, converter=as_media, validator=_image)
    video: Media | None = attrs.field(default=None, converter=as_media, validator=_video)
    digits: str | None = attrs.field(default=None, validator=_digits)
    liveness_data: Media | None = attrs.field(
        default=None, converter=as_media, validator=_data_file
    )
    id_number: str | None = attrs.field(
        default=None, converter=_upper, validator=_id_number, repr=_mask_or_none(mask_id_number)
    )
    id_name: str | None = attrs.field(
        default=None, converter=_utf8_text, validator=_id_name, repr=_mask_or_none(mask_name)
    )
    subject_id: str | None = attrs.field(default=None, repr=_mask_or_none(mask_id_number))
    consents: frozenset[Consent] = attrs.field(factory=frozenset, converter=_consents)
    challenge: Challenge | None = attrs.field(default=None, validator=_challenge)

    def get(self, kind: EvidenceKind) -> Media | str | None:
        """The evidence of one kind, or ``None`` if it was not captured (a challenge's
        digits count as the digits)."""
        value: Media | str | None = getattr(self, kind._value_)  # not ``.value``: a slow property
        if value is None and kind is EvidenceKind.DIGITS and self.challenge is not None:
            return self.challenge.value
        return value

    def check_challenge(self, now: float) -> None:
        """``InvalidEvidenceError`` if the challenge expired at ``now`` (UNIX seconds)."""
        if self.challenge is not None and self.challenge.expired(now):
            raise InvalidEvidenceError(
                "challenge",
                f"expired {now - self.challenge.expires_at:.0f} s ago: ask the vendor for a "
                "new one and capture again",
                vendor=self.challenge.vendor,
            )

    def media_form(self, kind: EvidenceKind) -> MediaForm | None:
        """How the evidence of ``kind`` is given; text evidence counts as a file-less value."""
        value = self.get(kind)
        if value is None:
            return None
        return value.form if not isinstance(value, str) else MediaForm.FILE
