"""Recognise media by content: image formats and dimensions, animated GIFs, video containers.

Only headers are read, in small chunks, so a 3 MB video or a 5 MB photo is never loaded whole.
Vendor plugins use these to check their documented limits before anything is sent.
"""

from __future__ import annotations

import enum
import io
import struct
from pathlib import Path
from typing import BinaryIO

import attrs

__all__ = [
    "ImageFormat",
    "ImageInfo",
    "VideoFormat",
    "read_image_info",
    "sniff_image_format",
    "sniff_video_format",
]

_HEAD = 64


class ImageFormat(enum.StrEnum):
    """An image container recognised by its header (the value is its usual name)."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"
    WEBP = "webp"


class VideoFormat(enum.StrEnum):
    """A video container recognised by its header (the value is its usual name)."""

    MP4 = "mp4"  # ISO base media: MP4 and QuickTime MOV share the "ftyp" box
    FLV = "flv"
    WEBM = "webm"  # Matroska / WebM share the EBML header
    AVI = "avi"
    THREE_GP = "3gp"


@attrs.frozen
class ImageInfo:
    """What the header of an image says.

    Attributes:
        format: The format recognised from the magic bytes.
        width: Width in pixels, or ``None`` when the header does not give it early enough.
        height: Height in pixels, likewise.
        animated: ``True`` for a GIF with more than one frame.
    """

    format: ImageFormat
    width: int | None
    height: int | None
    animated: bool = False


def sniff_image_format(head: bytes) -> ImageFormat | None:
    """Return the image format of the first bytes of a file, or ``None`` if not an image."""
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if head.startswith(b"BM") and len(head) >= 26:
        return ImageFormat.BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageFormat.TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None


def sniff_video_format(head: bytes) -> VideoFormat | None:
    """Return the container format of the first bytes of a video file, or ``None``."""
    if head[4:8] == b"ftyp":
        return VideoFormat.THREE_GP if head[8:11] == b"3gp" else VideoFormat.MP4
    if head.startswith(b"FLV\x01"):
        return VideoFormat.FLV
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return VideoFormat.WEBM
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return VideoFormat.AVI
    return None


def read_image_info(source: Path | bytes | BinaryIO) -> ImageInfo | None:
    """Read the format, size and animation of an image; ``None`` if it is not an image.

    ``source`` is a path (opened and read in small chunks), the bytes themselves, or a
    seekable binary stream positioned at the start of the image.
    """
    if isinstance(source, Path):
        with source.open("rb") as stream:
            return _info(stream)
    if isinstance(source, bytes | bytearray | memoryview):
        return _info(io.BytesIO(source))
    return _info(source)


def _info(stream: BinaryIO) -> ImageInfo | None:
    start = stream.tell()
    head = stream.read(_HEAD)
    fmt = sniff_image_format(head)
    if fmt is None:
        return None
    reader = _READERS.get(fmt)
    if reader is None:
        return ImageInfo(fmt, None, None)
    stream.seek(start)
    return reader(stream, head)


def _png(_stream: BinaryIO, head: bytes) -> ImageInfo:
    if head[12:16] != b"IHDR" or len(head) < 24:
        return ImageInfo(ImageFormat.PNG, None, None)
    width, height = struct.unpack(">II", head[16:24])
    return ImageInfo(ImageFormat.PNG, width, height)


def _bmp(_stream: BinaryIO, head: bytes) -> ImageInfo:
    width, height = struct.unpack("<ii", head[18:26])
    return ImageInfo(ImageFormat.BMP, abs(width), abs(height))


def _gif(stream: BinaryIO, head: bytes) -> ImageInfo:
    width, height = struct.unpack("<HH", head[6:10])
    return ImageInfo(ImageFormat.GIF, width, height, animated=_gif_frames(stream) > 1)


def _gif_frames(stream: BinaryIO) -> int:
    """Count image descriptors, skipping colour tables and sub-blocks without decoding."""
    header = stream.read(13)
    if len(header) < 13:
        return 0
    if header[10] & 0x80:
        stream.read(3 << ((header[10] & 0x07) + 1))
    frames = 0
    while frames < 2:
        introducer = stream.read(1)
        if introducer in (b"", b";"):
            break
        if introducer == b",":
            frames += 1
            descriptor = stream.read(9)
            if len(descriptor) < 9:
                break
            if descriptor[8] & 0x80:
                stream.read(3 << ((descriptor[8] & 0x07) + 1))
            stream.read(1)  # LZW minimum code size
        elif introducer == b"!":
            stream.read(1)  # extension label
        else:
            break
        if not _skip_sub_blocks(stream):
            break
    return frames


def _skip_sub_blocks(stream: BinaryIO) -> bool:
    while True:
        size = stream.read(1)
        if not size:
            return False
        if size == b"\x00":
            return True
        stream.seek(size[0], 1)


def _jpeg(stream: BinaryIO, _head: bytes) -> ImageInfo:
    stream.seek(2)
    while True:
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return ImageInfo(ImageFormat.JPEG, None, None)
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return ImageInfo(ImageFormat.JPEG, None, None)
        (length,) = struct.unpack(">H", length_bytes)
        # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
            frame = stream.read(5)
            if len(frame) < 5:
                return ImageInfo(ImageFormat.JPEG, None, None)
            height, width = struct.unpack(">HH", frame[1:5])
            return ImageInfo(ImageFormat.JPEG, width, height)
        stream.seek(length - 2, 1)


def _tiff(stream: BinaryIO, head: bytes) -> ImageInfo:
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    stream.seek(offset)
    count_bytes = stream.read(2)
    if len(count_bytes) < 2:
        return ImageInfo(ImageFormat.TIFF, None, None)
    (count,) = struct.unpack(order + "H", count_bytes)
    size: dict[int, int] = {}
    for _ in range(min(count, 256)):
        entry = stream.read(12)
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = order + ("H" if kind == 3 else "I")
            size[tag] = struct.unpack(fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
    return ImageInfo(ImageFormat.TIFF, size.get(256), size.get(257))


_READERS = {
    ImageFormat.PNG: _png,
    ImageFormat.BMP: _bmp,
    ImageFormat.GIF: _gif,
    ImageFormat.JPEG: _jpeg,
    ImageFormat.TIFF: _tiff,
}
