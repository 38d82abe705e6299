"""Synthetic lip-reading videos: MP4 and FLV containers carrying a VideoTruth.

MP4: ``ftyp`` (isom), a ``uuid`` box (kycmux's user type) holding ``kycmux-truth\\0<json>``,
``moov`` with ``mvhd`` and a ``trak``/``tkhd`` giving the frame size, optional ``free`` padding
boxes, and an ``mdat`` of filler bytes. A box tree that parsers walk; not a playable movie.

FLV: the FLV header (audio + video flags), then an ``onMetaData`` script tag whose AMF0 array
has ``duration``, ``width``, ``height``, codec ids and a ``kycmux-truth`` string, then optional
padding script tags.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from kycmux.synthetic._embed import TAG, decode_truth, filler, fit, split, write_file
from kycmux.synthetic._truth import Truth, VideoTruth

__all__ = ["read_flv_truth", "read_mp4_truth", "video_bytes", "write_video"]

# uuid5(NAMESPACE_URL, "https://kycmux.invalid/synthetic/truth"): the uuid box's user type.
TRUTH_UUID = bytes.fromhex("d1038880cd755cdaa047638203f405cb")
FLV_SIGNATURE = b"FLV\x01"
_DURATION_MS = 3000
_MP4_MIN_PAD = 8
_FLV_PAD_NAME = b"kycmux-padding"
_FLV_PAD_OVERHEAD = 11 + (3 + len(_FLV_PAD_NAME)) + 5 + 4  # header, name, long string, size
_FLV_MAX_DATA = 0xFFFFFF
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_FORMATS = {"mp4": "mp4", "flv": "flv"}


def video_bytes(truth: VideoTruth, *, fmt: str = "mp4", pad_to: int | None = None) -> bytes:
    """The bytes of a synthetic video (``fmt`` ``"mp4"`` or ``"flv"``) carrying ``truth``."""
    if not isinstance(truth, VideoTruth):
        raise TypeError(f"video_bytes needs a VideoTruth, got {type(truth).__name__}")
    try:
        kind = _FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"video fmt must be 'mp4' or 'flv', got {fmt!r}") from None
    payload = truth.to_json().encode("ascii")

    def build(text: bytes, pad: int) -> bytes:
        if kind == "mp4":
            return _mp4(text, pad, truth.width, truth.height)
        return _flv(text, pad, truth.width, truth.height)

    return fit(build, payload, pad_to, _MP4_MIN_PAD if kind == "mp4" else _FLV_PAD_OVERHEAD)


def write_video(
    path: str | os.PathLike[str],
    truth: VideoTruth,
    *,
    fmt: str | None = None,
    pad_to: int | None = None,
) -> Path:
    """Write a synthetic video; ``fmt`` defaults to the suffix (``.flv``), else MP4."""
    if fmt is None:
        fmt = "flv" if Path(path).suffix.lower() == ".flv" else "mp4"
    return write_file(path, video_bytes(truth, fmt=fmt, pad_to=pad_to))


# --- MP4 -------------------------------------------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _mp4(text: bytes, pad: int, width: int, height: int) -> bytes:
    mvhd = _box(
        b"mvhd",
        bytes(4),  # version 0, no flags
        struct.pack(">IIII", 0, 0, 1000, _DURATION_MS),  # no timestamps: output is deterministic
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),
    )
    tkhd = _box(
        b"tkhd",
        b"\x00\x00\x00\x07",  # enabled, in movie, in preview
        struct.pack(">IIIII", 0, 0, 1, 0, _DURATION_MS),
        bytes(8),
        struct.pack(">hhHH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    padding = [_box(b"free", bytes(n - 8)) for n in split(pad, _MP4_MIN_PAD, 2**31 - 1)]
    return b"".join(
        (
            _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41"),
            _box(b"uuid", TRUTH_UUID, TAG, b"\0", text),
            _box(b"moov", mvhd, _box(b"trak", tkhd)),
            *padding,
            _box(b"mdat", filler(b"mdat" + text.rstrip(), 256)),
        )
    )


def read_mp4_truth(data: bytes) -> Truth | None:
    """The truth in an MP4's kycmux ``uuid`` box (top-level boxes, in order)."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > len(data):
                return None
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        if size < header:
            return None  # size 0 ("to the end") or broken: nothing further to walk
        if kind == b"uuid":
            body = data[pos + header : pos + size]
            marker = TRUTH_UUID + TAG + b"\0"
            if len(body) == size - header and body.startswith(marker):
                return decode_truth(body[len(marker) :])
        pos += size
    return None


# --- FLV -------------------------------------------------------------------------------------


def _amf_string(value: bytes) -> bytes:
    return b"\x02" + struct.pack(">H", len(value)) + value


def _amf_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def _flv_tag(kind: int, data: bytes) -> bytes:
    header = bytes((kind,)) + len(data).to_bytes(3, "big") + bytes(7)  # time 0, stream 0
    return header + data + struct.pack(">I", 11 + len(data))


def _flv(text: bytes, pad: int, width: int, height: int) -> bytes:
    properties = (
        (b"duration", _amf_number(_DURATION_MS / 1000)),
        (b"width", _amf_number(width)),
        (b"height", _amf_number(height)),
        (b"framerate", _amf_number(25.0)),
        (b"videocodecid", _amf_number(7.0)),  # AVC
        (b"audiocodecid", _amf_number(10.0)),  # AAC
        (TAG, _amf_string(text)),
    )
    array = b"".join(struct.pack(">H", len(k)) + k + v for k, v in properties)
    metadata = (
        _amf_string(b"onMetaData")
        + b"\x08"
        + struct.pack(">I", len(properties))
        + array
        + b"\x00\x00\x09"
    )
    padding = [
        _flv_tag(18, _amf_string(_FLV_PAD_NAME) + b"\x0c" + struct.pack(">I", n) + bytes(n))
        for n in (
            size - _FLV_PAD_OVERHEAD for size in split(pad, _FLV_PAD_OVERHEAD, _FLV_MAX_DATA + 15)
        )
    ]
    header = FLV_SIGNATURE + b"\x05" + struct.pack(">II", 9, 0)
    return b"".join((header, _flv_tag(18, metadata), *padding))


def read_flv_truth(data: bytes) -> Truth | None:
    """The truth in an FLV ``onMetaData`` script tag's ``kycmux-truth`` property."""
    if len(data) < 9:
        return None
    (offset,) = struct.unpack(">I", data[5:9])
    pos = offset + 4  # skip PreviousTagSize0
    for _ in range(8):  # the metadata tag comes first; do not walk a whole file
        if pos + 11 > len(data):
            return None
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        body = data[pos + 11 : pos + 11 + size]
        if len(body) < size:
            return None
        if kind == 18 and (text := _amf_metadata_truth(body)) is not None:
            return decode_truth(text)
        pos += 11 + size + 4
    return None


def _amf_metadata_truth(body: bytes) -> bytes | None:
    """The ``kycmux-truth`` string of an ``onMetaData`` ECMA array, parsed by hand."""
    name_len = struct.unpack(">H", body[1:3])[0] if body[:1] == b"\x02" else None
    if name_len is None or body[3 : 3 + name_len] != b"onMetaData":
        return None
    pos = 3 + name_len
    if body[pos : pos + 1] != b"\x08":
        return None
    pos += 5  # type and the (advisory) count
    while pos + 3 <= len(body):
        key_len = struct.unpack(">H", body[pos : pos + 2])[0]
        if key_len == 0 and body[pos + 2] == 0x09:
            return None
        key = body[pos + 2 : pos + 2 + key_len]
        pos += 2 + key_len
        value_type = body[pos]
        if key == TAG and value_type in (0x02, 0x0C):
            width = 2 if value_type == 0x02 else 4
            length = int.from_bytes(body[pos + 1 : pos + 1 + width], "big")
            return body[pos + 1 + width : pos + 1 + width + length]
        pos = _amf_skip(body, pos)
    return None


def _amf_skip(body: bytes, pos: int) -> int:
    """Position after the AMF0 scalar at ``pos``; ``ValueError`` for containers / unknowns."""
    value_type = body[pos]
    fixed = {0x00: 9, 0x01: 2, 0x05: 1, 0x06: 1, 0x0B: 11}
    if value_type in fixed:
        return pos + fixed[value_type]
    if value_type == 0x02:
        return pos + 3 + int.from_bytes(body[pos + 1 : pos + 3], "big")
    if value_type == 0x0C:
        return pos + 5 + int.from_bytes(body[pos + 1 : pos + 5], "big")
    raise ValueError(f"AMF0 type {value_type:#x} not expected in synthetic metadata")
