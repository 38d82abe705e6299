"""Synthetic liveness-SDK data: a protobuf message carrying a LivenessDataTruth.

The message, in protobuf schema terms::

    message Annotation { string key = 1; string value = 2; }
    message SyntheticLivenessData {
      Annotation truth = 1;   // key "kycmux-truth", value the truth JSON
      string sdk = 2;         // "kycmux-synthetic-liveness-sdk"
      uint32 version = 3;     // 1
      bytes payload = 4;      // stands in for the vendor's encrypted capture
      bytes padding = 15;     // repeated as needed for pad_to
    }
"""

from __future__ import annotations

import os
from pathlib import Path

from kycmux.synthetic._embed import TAG, decode_truth, filler, fit, write_file
from kycmux.synthetic._truth import LivenessDataTruth, Truth

__all__ = ["liveness_data_bytes", "read_protobuf_truth", "write_liveness_data"]

SDK_NAME = b"kycmux-synthetic-liveness-sdk"
_LEN, _VARINT = 2, 0
_PAD_FIELD = 15
_MIN_PAD = 2  # tag byte and a zero length
# The JSON is space-padded to at least this length so its length varints are always two bytes
# wide: a few bytes of whitespace added by pad_to never change the framing around it.
_MIN_JSON = 128


def liveness_data_bytes(truth: LivenessDataTruth, *, pad_to: int | None = None) -> bytes:
    """The bytes of a synthetic liveness-SDK data file carrying ``truth``."""
    if not isinstance(truth, LivenessDataTruth):
        raise TypeError(
            f"liveness_data_bytes needs a LivenessDataTruth, got {type(truth).__name__}"
        )
    payload = truth.to_json().encode("ascii").ljust(_MIN_JSON)
    return fit(_message, payload, pad_to, _MIN_PAD)


def write_liveness_data(
    path: str | os.PathLike[str], truth: LivenessDataTruth, *, pad_to: int | None = None
) -> Path:
    """Write a synthetic liveness-SDK data file."""
    return write_file(path, liveness_data_bytes(truth, pad_to=pad_to))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def _message(text: bytes, pad: int) -> bytes:
    annotation = _field(1, TAG) + _field(2, text)
    return b"".join(
        (
            _field(1, annotation),
            _field(2, SDK_NAME),
            _varint(3 << 3 | _VARINT) + _varint(1),
            _field(4, filler(b"liveness" + text.rstrip(), 512)),
            _padding(pad),
        )
    )


def _padding(size: int) -> bytes:
    """Padding fields adding up to exactly ``size`` bytes (0 or at least ``_MIN_PAD``)."""
    fields = []
    while size > 0:
        for width in range(1, 6):
            length = size - 1 - width
            if length >= 0 and len(_varint(length)) == width:
                fields.append(_field(_PAD_FIELD, bytes(length)))
                size = 0
                break
        else:
            # No single field fits exactly (a varint width boundary): emit an empty one first.
            fields.append(_field(_PAD_FIELD, b""))
            size -= _MIN_PAD
    return b"".join(fields)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("varint too long")


def _fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a message (first occurrence each); ``ValueError`` if bad."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _read_varint(data, pos)
        elif wire == _LEN:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                break  # truncated (a prefix of a longer file): keep what was complete
            found.setdefault(number, data[pos : pos + length])
            pos += length
        else:
            raise ValueError(f"wire type {wire} is not used by the synthetic message")
    return found


def read_protobuf_truth(data: bytes) -> Truth | None:
    """The truth in field 1 (an ``Annotation`` keyed ``kycmux-truth``) of the message."""
    if not data.startswith(b"\x0a"):
        return None
    annotation = _fields(data).get(1)
    if annotation is None:
        return None
    fields = _fields(annotation)
    if fields.get(1) != TAG or 2 not in fields:
        return None
    return decode_truth(fields[2])
