"""The ground truth a synthetic file carries: what the capture "shows", as a JSON value."""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any, ClassVar, TypeAlias, TypeVar

import attrs

__all__ = [
    "Audio",
    "Faces",
    "ImageQuality",
    "ImageTruth",
    "Lips",
    "Liveness",
    "LivenessDataTruth",
    "Truth",
    "VideoTruth",
    "truth_from_json",
]

TRUTH_VERSION = 1
_PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_MAX_SIDE = 65535
_T = TypeVar("_T", bound=attrs.AttrsInstance)


class ImageQuality(enum.StrEnum):
    """What an image shows, as far as a vendor's image decoder and face detector go.

    Attributes:
        OK: A decodable photo with one clear face.
        NO_FACE: A decodable photo without a detectable face.
        CORRUPT: Valid headers, pixel data that cannot be decoded.
        LOW_QUALITY: A face, but too blurred / dark / small for reliable features.
    """

    OK = "ok"
    NO_FACE = "no_face"
    CORRUPT = "corrupt"
    LOW_QUALITY = "low_quality"


class Liveness(enum.StrEnum):
    """Whether a capture is of a live person (``LIVE``) or a presentation attack (``SPOOF``)."""

    LIVE = "live"
    SPOOF = "spoof"


class Audio(enum.StrEnum):
    """The sound track of a lip-reading video."""

    OK = "ok"
    SILENT = "silent"
    QUIET = "quiet"
    NOISY = "noisy"


class Lips(enum.StrEnum):
    """Whether the lips visibly move while the digits are read."""

    OK = "ok"
    STILL = "still"


class Faces(enum.StrEnum):
    """How many usable face frames a video has: enough, too few, or none at all."""

    OK = "ok"
    FEW = "few"
    NONE = "none"


def _person(_inst: Any, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (isinstance(value, str) and _PERSON.match(value)):
        raise ValueError(f"person must be None or an id like 'P0001', got {value!r}")


def _difficulty(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"difficulty must be a number, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"difficulty must be in [0, 1], got {value!r}")
    return number


def _side(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SIDE:
        raise ValueError(f"{attribute.name} must be an int in [1, {_MAX_SIDE}], got {value!r}")


def _digits(_inst: Any, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (
        isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16
    ):
        raise ValueError(f"digits_read must be None or 1-16 ASCII digits, got {value!r}")


def _dump(kind: str, fields: dict[str, Any]) -> str:
    document = {"kind": kind, "v": TRUTH_VERSION, **fields}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _load(text: str | bytes) -> dict[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a truth document must be a JSON object")
    if document.get("v") != TRUTH_VERSION:
        raise ValueError(f"unsupported truth version {document.get('v')!r}")
    return document


def _build(cls: type[_T], document: dict[str, Any]) -> _T:
    """Construct ``cls`` from a document's members; every problem becomes a ``ValueError``."""
    names = {a.name for a in attrs.fields(cls)}
    extra = set(document) - names - {"kind", "v"}
    if extra:
        raise ValueError(f"unknown truth fields {sorted(extra)}")
    try:
        return cls(**{k: v for k, v in document.items() if k in names})
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _parse(cls: type[_T], kind: str, text: str | bytes) -> _T:
    document = _load(text)
    if document.get("kind") != kind:
        raise ValueError(f"not a {kind} truth: kind {document.get('kind')!r}")
    return _build(cls, document)


@attrs.frozen
class ImageTruth:
    """What a synthetic still image (selfie, ID card photo) shows.

    Attributes:
        person: The person pictured (``Person.person_id``), or ``None`` for nobody known.
        quality: Whether the image decodes and shows a usable face.
        difficulty: 0 = clear-cut; towards 1 a genuine match looks worse and an impostor better.
    """

    kind: ClassVar[str] = "image"

    person: str | None = attrs.field(default=None, validator=_person)
    quality: ImageQuality = attrs.field(default=ImageQuality.OK, converter=ImageQuality)
    difficulty: float = attrs.field(default=0.0, converter=_difficulty)

    def to_json(self) -> str:
        """Compact, key-sorted JSON (the exact text embedded in files)."""
        return _dump(self.kind, {**attrs.asdict(self), "quality": self.quality.value})

    @classmethod
    def from_json(cls, text: str | bytes) -> ImageTruth:
        """Parse ``to_json()`` output; ``ValueError`` for another kind or invalid fields."""
        return _parse(cls, cls.kind, text)


@attrs.frozen
class VideoTruth:
    """What a synthetic lip-reading liveness video shows.

    Attributes:
        person: The person filmed, or ``None``.
        liveness: A live person, or a replay / mask / screen attack.
        digits_read: The digits actually spoken; ``None`` means exactly the digits asked.
        audio: The sound track.
        lips: Whether the lips move.
        faces: Whether enough face frames are usable.
        width: Frame width in pixels.
        height: Frame height in pixels.
        difficulty: 0 = clear-cut; towards 1 genuine looks worse and attacks look more genuine.
    """

    kind: ClassVar[str] = "video"

    person: str | None = attrs.field(default=None, validator=_person)
    liveness: Liveness = attrs.field(default=Liveness.LIVE, converter=Liveness)
    digits_read: str | None = attrs.field(default=None, validator=_digits)
    audio: Audio = attrs.field(default=Audio.OK, converter=Audio)
    lips: Lips = attrs.field(default=Lips.OK, converter=Lips)
    faces: Faces = attrs.field(default=Faces.OK, converter=Faces)
    width: int = attrs.field(default=720, validator=_side)
    height: int = attrs.field(default=1280, validator=_side)
    difficulty: float = attrs.field(default=0.0, converter=_difficulty)

    def digits_heard(self, asked: str) -> str:
        """The digits a speech recogniser hears when ``asked`` were the digits to read."""
        return asked if self.digits_read is None else self.digits_read

    def to_json(self) -> str:
        """Compact, key-sorted JSON (the exact text embedded in files)."""
        fields = attrs.asdict(self)
        for name in ("liveness", "audio", "lips", "faces"):
            fields[name] = fields[name].value
        return _dump(self.kind, fields)

    @classmethod
    def from_json(cls, text: str | bytes) -> VideoTruth:
        """Parse ``to_json()`` output; ``ValueError`` for another kind or invalid fields."""
        return _parse(cls, cls.kind, text)


@attrs.frozen
class LivenessDataTruth:
    """What a synthetic liveness-SDK data file (Linkface's protobuf) encodes.

    Attributes:
        person: The person the SDK captured, or ``None``.
        liveness: A live person, or an attack.
        readable: ``False`` for data the vendor cannot read (wrong SDK, damaged, wrong key).
        difficulty: 0 = clear-cut; towards 1 genuine looks worse and attacks look more genuine.
    """

    kind: ClassVar[str] = "liveness_data"

    person: str | None = attrs.field(default=None, validator=_person)
    liveness: Liveness = attrs.field(default=Liveness.LIVE, converter=Liveness)
    readable: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    difficulty: float = attrs.field(default=0.0, converter=_difficulty)

    def to_json(self) -> str:
        """Compact, key-sorted JSON (the exact text embedded in files)."""
        return _dump(self.kind, {**attrs.asdict(self), "liveness": self.liveness.value})

    @classmethod
    def from_json(cls, text: str | bytes) -> LivenessDataTruth:
        """Parse ``to_json()`` output; ``ValueError`` for another kind or invalid fields."""
        return _parse(cls, cls.kind, text)


Truth: TypeAlias = ImageTruth | VideoTruth | LivenessDataTruth

_KINDS: dict[str, type[ImageTruth] | type[VideoTruth] | type[LivenessDataTruth]] = {
    ImageTruth.kind: ImageTruth,
    VideoTruth.kind: VideoTruth,
    LivenessDataTruth.kind: LivenessDataTruth,
}


def truth_from_json(text: str | bytes) -> Truth:
    """Parse any truth document, dispatching on its ``kind``; ``ValueError`` if invalid."""
    document = _load(text)
    cls = _KINDS.get(str(document.get("kind")))
    if cls is None:
        raise ValueError(f"unknown truth kind {document.get('kind')!r}")
    return _build(cls, document)
