"""Synthetic still images: real grayscale PNG and baseline JPEG files carrying an ImageTruth.

PNG: signature, ``IHDR``, a ``tEXt`` chunk keyed ``kycmux-truth``, one zlib ``IDAT`` (a face-like
ellipse, or none for ``NO_FACE``), optional private ``kyPd`` padding chunks, ``IEND``.

JPEG: ``SOI``, ``APP0`` JFIF, a ``COM`` segment ``kycmux-truth\\0<json>``, ``DQT``, ``SOF0`` with
the dimensions, ``DHT``, ``SOS`` and an entropy-coded scan that decodes to a flat grey picture,
optional padding ``COM`` segments, ``EOI``.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from pathlib import Path

from kycmux.synthetic._embed import TAG, decode_truth, filler, fit, split, write_file
from kycmux.synthetic._strength import jitter
from kycmux.synthetic._truth import ImageQuality, ImageTruth, Truth

__all__ = ["image_bytes", "read_jpeg_truth", "read_png_truth", "write_image"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PAD_CHUNK = b"kyPd"  # ancillary, private, safe-to-copy: decoders skip it
_PNG_MIN_PAD = 12
_JPEG_MIN_PAD = 4
_JPEG_MAX_SEGMENT = 4 + 65533
_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg"}

# Annex K luminance quantisation table, in natural (row-major) order.
_LUMINANCE_NATURAL = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
# DQT stores tables in zig-zag order: anti-diagonals, alternating direction.
_ZIGZAG = sorted(
    ((r, c) for r in range(8) for c in range(8)),
    key=lambda rc: (rc[0] + rc[1], rc[1] if (rc[0] + rc[1]) % 2 == 0 else rc[0]),
)
_LUMINANCE = bytes(_LUMINANCE_NATURAL[8 * r + c] for r, c in _ZIGZAG)


def image_bytes(
    truth: ImageTruth,
    *,
    fmt: str = "png",
    width: int = 480,
    height: int = 640,
    pad_to: int | None = None,
) -> bytes:
    """The bytes of a synthetic image (``fmt`` ``"png"`` or ``"jpeg"``) carrying ``truth``."""
    if not isinstance(truth, ImageTruth):
        raise TypeError(f"image_bytes needs an ImageTruth, got {type(truth).__name__}")
    kind = _image_format(fmt)
    if not (1 <= width <= 65535 and 1 <= height <= 65535):
        raise ValueError("width and height must be in [1, 65535]")
    payload = truth.to_json().encode("ascii")
    if kind == "png":
        pixels = _png_pixels(width, height, truth.quality, truth.person)

        def build(text: bytes, pad: int) -> bytes:
            return _png(text, pad, width, height, pixels)

        return fit(build, payload, pad_to, _PNG_MIN_PAD)

    def build_jpeg(text: bytes, pad: int) -> bytes:
        return _jpeg(text, pad, width, height, truth.quality)

    return fit(build_jpeg, payload, pad_to, _JPEG_MIN_PAD)


def write_image(
    path: str | os.PathLike[str],
    truth: ImageTruth,
    *,
    fmt: str | None = None,
    width: int = 480,
    height: int = 640,
    pad_to: int | None = None,
) -> Path:
    """Write a synthetic image; ``fmt`` defaults to the suffix (``.jpg``/``.jpeg``), else PNG."""
    if fmt is None:
        fmt = "jpeg" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "png"
    data = image_bytes(truth, fmt=fmt, width=width, height=height, pad_to=pad_to)
    return write_file(path, data)


def _image_format(fmt: str) -> str:
    try:
        return _FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"image fmt must be 'png' or 'jpeg', got {fmt!r}") from None


# --- PNG -------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(text: bytes, pad: int, width: int, height: int, pixels: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    padding = [
        _png_chunk(_PNG_PAD_CHUNK, bytes(size - 12)) for size in split(pad, _PNG_MIN_PAD, 2**31 - 1)
    ]
    return b"".join(
        (
            PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"tEXt", TAG + b"\0" + text),
            _png_chunk(b"IDAT", pixels),
            *padding,
            _png_chunk(b"IEND", b""),
        )
    )


@functools.lru_cache(maxsize=64)
def _png_pixels(width: int, height: int, quality: ImageQuality, person: str | None) -> bytes:
    """The compressed ``IDAT`` data: a light background with a darker face-like ellipse."""
    if quality is ImageQuality.CORRUPT:
        # Compression method 0 in the zlib header: no inflater accepts it.
        return b"\x00\x00" + filler(f"corrupt:{person}".encode(), 64)
    background, face = 200, (185 if quality is ImageQuality.LOW_QUALITY else 140)
    has_face = quality is not ImageQuality.NO_FACE
    # The face sits a little differently for each person, like real photos do.
    cx = width * (0.45 + 0.1 * jitter("png", "x", person))
    cy = height * (0.42 + 0.1 * jitter("png", "y", person))
    rx, ry = width * 0.28, height * 0.3
    bg = bytes((background,))
    rows = []
    for y in range(height):
        span = 1.0 - ((y - cy) / ry) ** 2
        if has_face and span > 0:
            half = rx * span**0.5
            x0, x1 = max(0, int(cx - half)), min(width, int(cx + half))
            rows.append(b"\x00" + bg * x0 + bytes((face,)) * (x1 - x0) + bg * (width - x1))
        else:
            rows.append(b"\x00" + bg * width)
    return zlib.compress(b"".join(rows), 6)


def read_png_truth(data: bytes) -> Truth | None:
    """The truth in a PNG's ``kycmux-truth`` text chunk (searched up to ``IDAT``)."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind in (b"IDAT", b"IEND"):
            return None
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            return None
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            if keyword == TAG:
                return decode_truth(text)
        pos += 12 + length
    return None


# --- JPEG ------------------------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg(text: bytes, pad: int, width: int, height: int, quality: ImageQuality) -> bytes:
    table = bytes((255,)) * 64 if quality is ImageQuality.LOW_QUALITY else _LUMINANCE
    # One DC and one AC table, each with the single 1-bit code "0": DC difference 0 and EOB.
    one_code = bytes((1,)) + bytes(15) + b"\x00"
    padding = [_segment(0xFE, bytes(size - 4)) for size in split(pad, 4, _JPEG_MAX_SEGMENT)]
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HHBB", 1, 1, 0, 0)),
            _segment(0xFE, TAG + b"\0" + text),
            _segment(0xDB, b"\x00" + table),
            _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            _segment(0xC4, b"\x00" + one_code + b"\x10" + one_code),
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            _scan(width, height, quality),
            *padding,
            b"\xff\xd9",
        )
    )


@functools.lru_cache(maxsize=64)
def _scan(width: int, height: int, quality: ImageQuality) -> bytes:
    """Entropy-coded data: two zero bits per 8x8 block, then 1-bits to the byte boundary."""
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    if quality is ImageQuality.CORRUPT:
        # Stuffed 0xFF bytes are all 1-bits, and "1" is no code of the tables; then a reserved
        # marker (0xFF02), which even lenient decoders such as libjpeg treat as fatal.
        return b"\xff\x00" * max(1, blocks // 8) + b"\xff\x02" + bytes(16)
    whole, rest = divmod(2 * blocks, 8)
    tail = bytes(((1 << (8 - rest)) - 1,)) if rest else b""
    return bytes(whole) + tail


def read_jpeg_truth(data: bytes) -> Truth | None:
    """The truth in a JPEG's ``kycmux-truth`` comment segment (searched up to ``SOS``)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) < length - 2:
            return None
        if marker == 0xFE and body.startswith(TAG + b"\0"):
            return decode_truth(body[len(TAG) + 1 :])
        pos += 2 + length
    return None
