"""Header-only media recognition."""

from __future__ import annotations

import struct
from pathlib import Path

from kycmux.media import ImageFormat, VideoFormat, read_image_info, sniff_video_format
from kycmux.testing import tiny_png


def gif(frames: int) -> bytes:
    head = b"GIF89a" + struct.pack("<HHBBB", 10, 20, 0x80, 0, 0) + b"\0" * 6  # 2-colour table
    frame = b"\x21\xf9\x04\x00\x00\x00\x00\x00" + b"," + struct.pack("<HHHHB", 0, 0, 10, 20, 0)
    frame += b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def test_png_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(tiny_png(33, 44))
    info = read_image_info(path)
    assert info is not None
    assert (info.format, info.width, info.height) == (ImageFormat.PNG, 33, 44)


def test_gif_animation_is_detected(tmp_path: Path) -> None:
    still, animated = tmp_path / "s.gif", tmp_path / "a.gif"
    still.write_bytes(gif(1))
    animated.write_bytes(gif(3))
    s, a = read_image_info(still), read_image_info(animated)
    assert s is not None
    assert a is not None
    assert (s.width, s.height, s.animated) == (10, 20, False)
    assert a.animated is True


def test_jpeg_dimensions_come_from_the_frame_header(tmp_path: Path) -> None:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 480, 640, 1) + b"\x01\x11\x00"
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8" + app0 + sof0 + b"\xff\xd9")
    info = read_image_info(path)
    assert info is not None
    assert (info.format, info.width, info.height) == (ImageFormat.JPEG, 640, 480)


def test_bmp_and_tiff(tmp_path: Path) -> None:
    bmp = tmp_path / "a.bmp"
    bmp.write_bytes(b"BM" + b"\0" * 16 + struct.pack("<ii", 100, -50) + b"\0" * 30)
    tiff = tmp_path / "a.tif"
    entries = struct.pack("<HHII", 256, 3, 1, 300) + struct.pack("<HHII", 257, 4, 1, 200)
    tiff.write_bytes(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries)
    b, t = read_image_info(bmp), read_image_info(tiff)
    assert b is not None
    assert (b.width, b.height) == (100, 50)
    assert t is not None
    assert (t.format, t.width, t.height) == (ImageFormat.TIFF, 300, 200)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"yyyyyyyyyyyyyyyy")
    assert read_image_info(path) is None


def test_video_signatures() -> None:
    assert sniff_video_format(b"\0\0\0\x18ftypisom") is VideoFormat.MP4
    assert sniff_video_format(b"\0\0\0\x18ftyp3gp4") is VideoFormat.THREE_GP
    assert sniff_video_format(b"FLV\x01\x05") is VideoFormat.FLV
    assert sniff_video_format(b"\x1a\x45\xdf\xa3....") is VideoFormat.WEBM
    assert sniff_video_format(b"RIFF\0\0\0\0AVI LIST") is VideoFormat.AVI
    assert sniff_video_format(b"yyyyyyyyyyyy") is None


def test_image_info_from_bytes_and_streams() -> None:
    import io

    data = tiny_png(12, 34)
    from_bytes = read_image_info(data)
    assert from_bytes is not None
    assert (from_bytes.width, from_bytes.height) == (12, 34)
    stream = io.BytesIO(b"prefix" + data)
    stream.seek(6)
    from_stream = read_image_info(stream)
    assert from_stream is not None
    assert (from_stream.width, from_stream.height) == (12, 34)
    assert read_image_info(b"not an image at all") is None
