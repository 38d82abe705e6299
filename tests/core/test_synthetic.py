"""Synthetic evidence: files valid by content that carry their ground truth."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kycmux import Evidence, check_digit, id_number_problem
from kycmux.media import ImageFormat, VideoFormat, read_image_info, sniff_video_format
from kycmux.synthetic import (
    HEAD_SIZE,
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Lips,
    Liveness,
    LivenessDataTruth,
    Person,
    Population,
    RegistryStatus,
    Truth,
    VideoTruth,
    attack_strength,
    id_number_for,
    image_bytes,
    liveness_data_bytes,
    match_strength,
    read_truth,
    read_truth_file,
    truth_from_json,
    video_bytes,
    write_demo_set,
    write_image,
    write_liveness_data,
    write_video,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "synthetic.md"

IMAGE_TRUTHS = [
    ImageTruth("P0001"),
    ImageTruth(None, ImageQuality.NO_FACE),
    ImageTruth("P0002", ImageQuality.CORRUPT, difficulty=0.25),
    ImageTruth("S3-00017", ImageQuality.LOW_QUALITY, difficulty=1.0),
]
VIDEO_TRUTHS = [
    VideoTruth("P0001"),
    VideoTruth(
        "P0003",
        Liveness.SPOOF,
        digits_read="1234",
        audio=Audio.NOISY,
        lips=Lips.STILL,
        faces=Faces.FEW,
        width=240,
        height=320,
        difficulty=0.8,
    ),
    VideoTruth(None, faces=Faces.NONE, audio=Audio.SILENT),
]
LIVENESS_TRUTHS = [
    LivenessDataTruth("P0001"),
    LivenessDataTruth("P0002", Liveness.SPOOF, difficulty=0.6),
    LivenessDataTruth(None, readable=False),
]

# A sample truth for every format.
SAMPLES: dict[str, Truth] = {
    "png": IMAGE_TRUTHS[0],
    "jpeg": IMAGE_TRUTHS[0],
    "mp4": VIDEO_TRUTHS[0],
    "flv": VIDEO_TRUTHS[0],
    "protobuf": LIVENESS_TRUTHS[0],
}


def build(fmt: str, truth: Truth, pad_to: int | None = None) -> bytes:
    if isinstance(truth, ImageTruth):
        return image_bytes(truth, fmt=fmt, pad_to=pad_to)
    if isinstance(truth, VideoTruth):
        return video_bytes(truth, fmt=fmt, pad_to=pad_to)
    return liveness_data_bytes(truth, pad_to=pad_to)


# --- helpers: independent parsers of the formats --------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a PNG, checking the signature and each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[-1] == (b"IEND", b"")
    return chunks


def png_rows(data: bytes) -> list[bytes]:
    chunks = png_chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1)
    rows = [raw[i * (width + 1) : (i + 1) * (width + 1)] for i in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter type "None" on every scanline
    return [row[1:] for row in rows]


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments up to and including SOS, and where the scan data starts."""
    assert data[:2] == b"\xff\xd8"
    segments, pos = [(0xD8, b"")], 2
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            return segments, pos


def jpeg_after_scan(data: bytes, start: int) -> tuple[bytes, list[int]]:
    """The unstuffed entropy-coded bytes and the markers that follow the scan."""
    scan, pos = bytearray(), start
    while not (data[pos] == 0xFF and data[pos + 1] != 0x00):
        scan.append(data[pos])
        pos += 2 if data[pos] == 0xFF else 1
    markers = []
    while pos < len(data):
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xD9:
            assert pos + 2 == len(data), "EOI must end the file"
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return bytes(scan), markers


def huffman(table: bytes) -> tuple[dict[tuple[int, int], int], int]:
    """A DHT table as {(length, code): symbol}, and the table's size in bytes."""
    counts, symbols = table[1:17], table[17:]
    codes, code, k = {}, 0, 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            codes[(length, code)] = symbols[k]
            k, code = k + 1, code + 1
        code <<= 1
    return codes, 17 + k


def decode_jpeg_scan(data: bytes) -> int:
    """Huffman-decode every 8x8 block of a one-component baseline JPEG; the blocks decoded.

    Raises ``ValueError`` when the entropy-coded data is not decodable with the file's tables.
    """
    segments, start = jpeg_segments(data)
    tables: dict[int, dict[tuple[int, int], int]] = {}
    for marker, body in segments:
        if marker == 0xC4:
            while body:
                codes, size = huffman(body)
                tables[body[0]] = codes
                body = body[size:]
    sof = next(body for marker, body in segments if marker == 0xC0)
    height, width = (int(v) for v in struct.unpack(">HH", sof[1:5]))
    scan, markers = jpeg_after_scan(data, start)
    if any(m not in (0xFE, 0xD9) for m in markers):
        raise ValueError("reserved marker in the scan")
    bits = "".join(f"{b:08b}" for b in scan)
    pos = 0

    def symbol(codes: dict[tuple[int, int], int]) -> int:
        nonlocal pos
        for length in range(1, 17):
            if pos + length > len(bits):
                raise ValueError("scan ended early")
            code = int(bits[pos : pos + length], 2)
            if (length, code) in codes:
                pos += length
                return codes[(length, code)]
        raise ValueError("no such Huffman code")

    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    for _ in range(blocks):
        category = symbol(tables[0x00])  # DC category, then that many magnitude bits
        pos += category
        k = 1
        while k < 64:
            rs = symbol(tables[0x10])
            if rs == 0x00:
                break
            k += (rs >> 4) + 1
            pos += rs & 0x0F
    if len(bits) - pos >= 8 or set(bits[pos:]) - {"1"}:
        raise ValueError("the scan does not end with 1-bit padding")
    return blocks


def mp4_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    boxes, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert size >= 8
        boxes.append((kind, data[pos + 8 : pos + size]))
        pos += size
    assert pos == len(data)
    return boxes


def flv_tags(data: bytes) -> list[tuple[int, bytes]]:
    assert data[:4] == b"FLV\x01"
    (offset,) = struct.unpack(">I", data[5:9])
    assert struct.unpack(">I", data[offset : offset + 4]) == (0,)
    tags, pos = [], offset + 4
    while pos < len(data):
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        tags.append((kind, data[pos + 11 : pos + 11 + size]))
        (previous,) = struct.unpack(">I", data[pos + 11 + size : pos + 15 + size])
        assert previous == 11 + size
        pos += 15 + size
    assert pos == len(data)
    return tags


def protobuf_fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not byte & 0x80:
                return value, pos

    fields: list[tuple[int, int, bytes | int]] = []
    pos = 0
    while pos < len(data):
        key, pos = varint(pos)
        if key & 7 == 0:
            value, pos = varint(pos)
            fields.append((key >> 3, 0, value))
        else:
            assert key & 7 == 2
            length, pos = varint(pos)
            fields.append((key >> 3, 2, data[pos : pos + length]))
            pos += length
    assert pos == len(data)
    return fields


# --- truth values -----------------------------------------------------------------------------


@pytest.mark.parametrize("truth", [*IMAGE_TRUTHS, *VIDEO_TRUTHS, *LIVENESS_TRUTHS], ids=repr)
def test_truth_json_round_trip(truth: Truth) -> None:
    text = truth.to_json()
    assert type(truth).from_json(text) == truth
    assert truth_from_json(text.encode()) == truth
    document = json.loads(text)
    assert document["kind"] == type(truth).kind
    assert document["v"] == 1


def test_from_json_rejects_another_kind() -> None:
    with pytest.raises(ValueError, match="not a video truth"):
        VideoTruth.from_json(ImageTruth("P0001").to_json())
    with pytest.raises(ValueError, match="not a image truth"):
        ImageTruth.from_json(LivenessDataTruth("P0001").to_json())


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "image", "v": 1, "person": "P0001", "difficulty": 1.5},
        {"kind": "image", "v": 1, "person": "P0001", "difficulty": True},
        {"kind": "image", "v": 1, "person": "bad id!"},
        {"kind": "image", "v": 1, "quality": "blurry"},
        {"kind": "image", "v": 1, "colour": "red"},
        {"kind": "image", "v": 2},
        {"kind": "video", "v": 1, "digits_read": "12a4"},
        {"kind": "video", "v": 1, "width": 0},
        {"kind": "liveness_data", "v": 1, "readable": "yes"},
        {"kind": "sound", "v": 1},
        ["image"],
    ],
)
def test_invalid_truth_documents_raise_value_error(document: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        truth_from_json(json.dumps(document))


def test_digits_heard_defaults_to_the_digits_asked() -> None:
    assert VideoTruth("P0001").digits_heard("9532") == "9532"
    assert VideoTruth("P0001", digits_read="1234").digits_heard("9532") == "1234"


# --- round trips through every format ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("truth", IMAGE_TRUTHS, ids=repr)
def test_image_round_trip(tmp_path: Path, fmt: str, truth: ImageTruth) -> None:
    path = write_image(tmp_path / f"a.{fmt}", truth, fmt=fmt, width=123, height=77)
    data = path.read_bytes()
    assert read_truth(data) == truth
    assert read_truth_file(path) == truth
    info = read_image_info(path)
    assert info is not None
    assert (info.format, info.width, info.height) == (ImageFormat(fmt), 123, 77)


@pytest.mark.parametrize("fmt", ["mp4", "flv"])
@pytest.mark.parametrize("truth", VIDEO_TRUTHS, ids=repr)
def test_video_round_trip(tmp_path: Path, fmt: str, truth: VideoTruth) -> None:
    path = write_video(tmp_path / f"v.{fmt}", truth, fmt=fmt)
    assert read_truth(path.read_bytes()) == truth
    assert read_truth_file(path) == truth
    assert sniff_video_format(path.read_bytes()[:64]) is VideoFormat(fmt)


@pytest.mark.parametrize("truth", LIVENESS_TRUTHS, ids=repr)
def test_liveness_data_round_trip(tmp_path: Path, truth: LivenessDataTruth) -> None:
    path = write_liveness_data(tmp_path / "l.bin", truth)
    assert read_truth(path.read_bytes()) == truth
    assert read_truth_file(path) == truth


def test_writers_infer_the_format_from_the_suffix(tmp_path: Path) -> None:
    jpeg = write_image(tmp_path / "x.JPG", ImageTruth("P0001"))
    png = write_image(tmp_path / "x.png", ImageTruth("P0001"))
    flv = write_video(tmp_path / "v.flv", VideoTruth("P0001"))
    mp4 = write_video(tmp_path / "v.mov", VideoTruth("P0001"))
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sniff_video_format(flv.read_bytes()) is VideoFormat.FLV
    assert sniff_video_format(mp4.read_bytes()) is VideoFormat.MP4


def test_writers_reject_the_wrong_truth_type_and_format() -> None:
    with pytest.raises(TypeError):
        image_bytes(VideoTruth("P0001"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        video_bytes(ImageTruth("P0001"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        liveness_data_bytes(ImageTruth("P0001"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="png"):
        image_bytes(ImageTruth("P0001"), fmt="gif")
    with pytest.raises(ValueError, match="mp4"):
        video_bytes(VideoTruth("P0001"), fmt="webm")


# --- the formats are real ---------------------------------------------------------------------


def test_png_decodes_to_every_scanline_with_a_face() -> None:
    rows = png_rows(image_bytes(ImageTruth("P0001"), width=64, height=96))
    assert len(rows) == 96
    assert all(len(row) == 64 for row in rows)
    pixels = set(b"".join(rows))
    assert pixels == {200, 140}  # background and the face ellipse


def test_png_without_a_face_is_plain_and_a_corrupt_one_does_not_inflate() -> None:
    rows = png_rows(image_bytes(ImageTruth(None, ImageQuality.NO_FACE), width=30, height=40))
    assert set(b"".join(rows)) == {200}
    corrupt = png_chunks(image_bytes(ImageTruth("P0001", ImageQuality.CORRUPT)))
    assert [kind for kind, _ in corrupt] == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    with pytest.raises(zlib.error):
        zlib.decompress(corrupt[2][1])


def test_png_layout_and_small_size() -> None:
    data = image_bytes(ImageTruth("P0001"))
    chunks = png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    assert chunks[0][1] == struct.pack(">IIBBBBB", 480, 640, 8, 0, 0, 0, 0)
    assert chunks[1][1] == b"kycmux-truth\0" + ImageTruth("P0001").to_json().encode()
    assert len(data) < 8 * 1024


def test_jpeg_has_the_baseline_structure_and_decodes() -> None:
    data = image_bytes(ImageTruth("P0001"), fmt="jpeg", width=100, height=60)
    segments, start = jpeg_segments(data)
    assert [m for m, _ in segments] == [0xD8, 0xE0, 0xFE, 0xDB, 0xC0, 0xC4, 0xDA]
    body = dict(segments)
    assert body[0xE0][:5] == b"JFIF\0"
    assert body[0xFE] == b"kycmux-truth\0" + ImageTruth("P0001").to_json().encode()
    assert len(body[0xDB]) == 65  # one 8-bit table: Pq/Tq and 64 entries
    assert body[0xC0][:6] == struct.pack(">BHHB", 8, 60, 100, 1)
    _, markers = jpeg_after_scan(data, start)
    assert markers == [0xD9]
    assert decode_jpeg_scan(data) == 13 * 8
    assert len(image_bytes(ImageTruth("P0001"), fmt="jpeg")) < 4 * 1024


def test_corrupt_jpeg_keeps_its_headers_but_does_not_decode() -> None:
    data = image_bytes(ImageTruth("P0001", ImageQuality.CORRUPT), fmt="jpeg")
    segments, _ = jpeg_segments(data)
    assert [m for m, _ in segments] == [0xD8, 0xE0, 0xFE, 0xDB, 0xC0, 0xC4, 0xDA]
    assert data.endswith(b"\xff\xd9")
    with pytest.raises(ValueError, match=r"Huffman|reserved"):
        decode_jpeg_scan(data)


def test_mp4_box_tree() -> None:
    truth = VideoTruth("P0001", width=360, height=640)
    boxes = mp4_boxes(video_bytes(truth))
    assert [kind for kind, _ in boxes] == [b"ftyp", b"uuid", b"moov", b"mdat"]
    assert boxes[0][1][:4] == b"isom"
    assert boxes[1][1][16:] == b"kycmux-truth\0" + truth.to_json().encode()
    moov = mp4_boxes(boxes[2][1])
    assert [kind for kind, _ in moov] == [b"mvhd", b"trak"]
    (tkhd_kind, tkhd), *_ = mp4_boxes(moov[1][1])
    assert tkhd_kind == b"tkhd"
    assert struct.unpack(">II", tkhd[-8:]) == (360 << 16, 640 << 16)


def test_flv_metadata_tag() -> None:
    truth = VideoTruth("P0001", width=480, height=854)
    tags = flv_tags(video_bytes(truth, fmt="flv"))
    assert [kind for kind, _ in tags] == [18]
    metadata = tags[0][1]
    assert metadata.startswith(b"\x02\x00\x0aonMetaData\x08")
    assert b"\x00\x05width\x00" + struct.pack(">d", 480) in metadata
    assert b"\x00\x06height\x00" + struct.pack(">d", 854) in metadata
    assert metadata.endswith(b"\x00\x00\x09")


def test_liveness_data_is_a_protobuf_message() -> None:
    truth = LivenessDataTruth("P0002", Liveness.SPOOF)
    fields = protobuf_fields(liveness_data_bytes(truth))
    assert [(number, wire) for number, wire, _ in fields] == [(1, 2), (2, 2), (3, 0), (4, 2)]
    annotation = fields[0][2]
    assert isinstance(annotation, bytes)
    key, value = (v for _, _, v in protobuf_fields(annotation))
    assert key == b"kycmux-truth"
    assert isinstance(value, bytes)
    assert json.loads(value) == json.loads(truth.to_json())


def test_evidence_accepts_every_synthetic_file(tmp_path: Path) -> None:
    person = Population.default().by_id("P0001")
    evidence = Evidence(
        selfie=write_image(tmp_path / "s.png", ImageTruth("P0001")),
        reference_photo=write_image(tmp_path / "c.jpg", ImageTruth("P0001")),
        video=write_video(tmp_path / "v.flv", VideoTruth("P0001")),
        digits="9532",
        liveness_data=write_liveness_data(tmp_path / "l.bin", LivenessDataTruth("P0001")),
        id_number=person.id_number,
        id_name=person.name,
    )
    assert evidence.id_name == "张伟"
    assert Evidence(video=write_video(tmp_path / "v.mp4", VideoTruth("P0001"))).video is not None


# --- pad_to -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_pad_to_gives_exact_sizes_and_keeps_the_truth(fmt: str) -> None:
    truth = SAMPLES[fmt]
    natural = len(build(fmt, truth))
    for extra in [*range(40), 127, 128, 129, 130, 16_385, 70_000, 1_000_003]:
        data = build(fmt, truth, natural + extra)
        assert len(data) == natural + extra, extra
        assert read_truth(data[:HEAD_SIZE]) == truth, extra


def test_padded_files_keep_their_format(tmp_path: Path) -> None:
    truth = ImageTruth("P0001")
    png = image_bytes(truth, width=50, height=40, pad_to=200_000)
    rows = png_rows(png)
    assert len(rows) == 40
    jpeg = image_bytes(truth, fmt="jpeg", width=50, height=40, pad_to=200_000)
    assert decode_jpeg_scan(jpeg) == 7 * 5
    assert set(jpeg_after_scan(jpeg, jpeg_segments(jpeg)[1])[1]) == {0xFE, 0xD9}
    for name, data in (("p.png", png), ("p.jpg", jpeg)):
        (tmp_path / name).write_bytes(data)
        info = read_image_info(tmp_path / name)
        assert info is not None
        assert (info.width, info.height) == (50, 40)
    video = VideoTruth("P0001")
    assert [k for k, _ in mp4_boxes(video_bytes(video, pad_to=100_000))][-2:] == [b"free", b"mdat"]
    flv = flv_tags(video_bytes(video, fmt="flv", pad_to=20_000_000))
    assert [kind for kind, _ in flv] == [18, 18, 18]  # metadata, then two padding tags
    assert all(body.startswith(b"\x02\x00\x0ekycmux-padding\x0c") for _, body in flv[1:])
    fields = protobuf_fields(liveness_data_bytes(LivenessDataTruth("P0001"), pad_to=5000))
    assert fields[-1][:2] == (15, 2)


def test_a_six_megabyte_selfie_reads_from_its_head(tmp_path: Path) -> None:
    path = write_image(tmp_path / "big.jpg", ImageTruth("P0001"), pad_to=6 * 1024 * 1024 + 1)
    assert path.stat().st_size == 6 * 1024 * 1024 + 1
    assert read_truth_file(path) == ImageTruth("P0001")
    Evidence(selfie=path)


def test_pad_to_below_the_natural_size_is_refused() -> None:
    natural = len(image_bytes(ImageTruth("P0001")))
    with pytest.raises(ValueError, match="natural size"):
        image_bytes(ImageTruth("P0001"), pad_to=natural - 1)
    with pytest.raises(TypeError):
        video_bytes(VideoTruth("P0001"), pad_to=1.5e6)  # type: ignore[arg-type]


# --- foreign content --------------------------------------------------------------------------


def plain_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(6)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"xxxx",
        b"\x0a",
        b"\x0a\x05hello",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
        b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom",
        b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00",
        b'{"kind": "image", "v": 1, "person": "P0001"}',
        b"kycmux-truth\0" + ImageTruth("P0001").to_json().encode(),
        plain_png(),
    ],
)
def test_foreign_content_has_no_truth(data: bytes) -> None:
    assert read_truth(data) is None


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_prefixes_and_damaged_copies_never_raise(fmt: str) -> None:
    truth = SAMPLES[fmt]
    data = build(fmt, truth)
    rng = random.Random(fmt)
    results = [read_truth(data[:n]) for n in range(len(data) + 1)]
    assert results[-1] == truth
    assert set(results) <= {None, truth}
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(min(len(data), 400))] = rng.randrange(256)
        result = read_truth(bytes(damaged))
        assert result is None or isinstance(result, type(truth))
    for _ in range(200):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        assert read_truth(data[:8] + garbage) in (None, truth)


# --- determinism ------------------------------------------------------------------------------


def digest_everything() -> str:
    h = hashlib.sha256()
    for truth in IMAGE_TRUTHS:
        h.update(image_bytes(truth) + image_bytes(truth, fmt="jpeg", pad_to=9000))
    for video in VIDEO_TRUTHS:
        h.update(video_bytes(video) + video_bytes(video, fmt="flv", pad_to=5000))
    for data_truth in LIVENESS_TRUTHS:
        h.update(liveness_data_bytes(data_truth, pad_to=3000))
    for person in Population.generate(30, seed=5):
        h.update(f"{person}".encode())
    return h.hexdigest()


def test_same_inputs_give_the_same_bytes_in_another_process() -> None:
    """No timestamps, no hash randomisation, no process state: a fresh interpreter agrees."""
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('probe', {str(Path(__file__))!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.digest_everything())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "4242"},
    )
    assert result.stdout.strip() == digest_everything()


def test_demo_sets_are_identical_byte_for_byte(tmp_path: Path) -> None:
    first, second = write_demo_set(tmp_path / "a"), write_demo_set(tmp_path / "b")
    assert list(first) == list(second)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


# --- population -------------------------------------------------------------------------------


def test_default_population_is_the_documented_cast() -> None:
    population = Population.default()
    assert [p.person_id for p in population] == [f"P{i:04d}" for i in range(1, 9)]
    docs = DOCS.read_text(encoding="utf-8")
    for person in population:
        assert id_number_problem(person.id_number) is None
        assert person.id_number[17] == check_digit(person.id_number[:17])
        assert not person.name.isascii()
        assert f"| {person.person_id} | {person.name} | `{person.id_number}` |" in docs
        assert population.by_id(person.person_id) is person
        assert population.by_id_number(person.id_number) is person
    for status in RegistryStatus:
        assert population.by_status(status), status
    assert len(population.by_status(RegistryStatus.OK)) == 5
    assert Population.default() == population


def test_population_lookups() -> None:
    population = Population.generate(200, seed=1)
    with_x = next(p for p in population if p.id_number.endswith("X"))
    assert population.by_id_number(with_x.id_number.lower()) is with_x
    assert population.by_id_number("110101199001011237") is None
    assert "S1-00001" in population
    with pytest.raises(KeyError):
        population.by_id("P9999")


def test_generated_populations() -> None:
    population = Population.generate(60, seed=7)
    assert len(population) == 60
    assert population == Population.generate(60, seed=7)
    assert [p.name for p in population] != [p.name for p in Population.generate(60, seed=8)]
    assert len({p.id_number for p in population}) == 60
    assert all(id_number_problem(p.id_number) is None for p in population)
    for status in RegistryStatus:
        expected = 51 if status is RegistryStatus.OK else 3
        assert len(population.by_status(status)) == expected, status
    assert population.persons[17].registry is RegistryStatus.PHOTO_INVALID
    assert all(Evidence(id_number=p.id_number, id_name=p.name) for p in population)


def test_id_numbers_are_derived_from_the_person_id() -> None:
    assert id_number_for("P0001") == id_number_for("P0001")
    assert id_number_for("P0001") != id_number_for("P0002")
    assert int(id_number_for("P0042", female=True)[16]) % 2 == 0
    assert int(id_number_for("P0042", female=False)[16]) % 2 == 1
    assert Person.from_id("P0001", "张伟", female=False) == Population.default().by_id("P0001")


def test_person_repr_masks_the_id_number_and_name() -> None:
    person = Population.default().by_id("P0005")
    text = repr(person)
    assert person.id_number not in text
    assert person.name not in text
    assert "P0005" in text


def test_population_rejects_duplicates_and_invalid_numbers() -> None:
    one = Person.from_id("P0001", "张伟")
    with pytest.raises(ValueError, match="unique"):
        Population((one, one))
    with pytest.raises(ValueError, match="check character"):
        Person("P0100", one.id_number[:17] + ("0" if one.id_number[17] != "0" else "1"), "张伟")


# --- strengths --------------------------------------------------------------------------------

PEOPLE = [p.person_id for p in Population.generate(40, seed=2)]
SALTS = ["tencent_legacy", "linkface"]


@pytest.mark.parametrize("salt", SALTS)
def test_match_strength_ranges(salt: str) -> None:
    for d, same_band, other_band in (
        (0.0, (0.85, 0.99), (0.05, 0.25)),
        (0.8, (0.61, 0.75), (0.29, 0.49)),
        (1.0, (0.49, 0.63), (0.41, 0.61)),
    ):
        same = [match_strength(p, p, difficulty=d, salt=salt) for p in PEOPLE]
        other = [
            match_strength(a, b, difficulty=d, salt=salt) for a, b in itertools.pairwise(PEOPLE)
        ]
        assert same_band[0] <= min(same)
        assert max(same) <= same_band[1]
        assert other_band[0] <= min(other)
        assert max(other) <= other_band[1]
    assert match_strength(None, "P0001", difficulty=0.0, salt=salt) == 0.0
    assert match_strength("P0001", None, difficulty=0.9, salt=salt) == 0.0


def test_same_beats_different_and_difficulty_closes_the_gap() -> None:
    previous_gap = 2.0
    for step in range(11):
        d = step / 10
        same = min(match_strength(p, p, difficulty=d, salt="x") for p in PEOPLE)
        other = max(
            match_strength(a, b, difficulty=d, salt="x") for a in PEOPLE[:8] for b in PEOPLE[8:16]
        )
        # Up to 0.8 the bands never meet; in the tail beyond it they overlap, as real ones do.
        assert same < other if d == 1.0 else same > other
        assert same - other < previous_gap
        previous_gap = same - other
    for a, b in (("P0001", "P0001"), ("P0001", "P0002")):
        easy = match_strength(a, b, difficulty=0.0, salt="x")
        hard = match_strength(a, b, difficulty=0.5, salt="x")
        assert (hard < easy) if a == b else (hard > easy)


def test_strengths_are_deterministic_symmetric_and_salted() -> None:
    a = match_strength("P0001", "P0002", difficulty=0.3, salt="linkface")
    assert a == match_strength("P0002", "P0001", difficulty=0.3, salt="linkface")
    assert a == match_strength("P0001", "P0002", difficulty=0.3, salt="linkface")
    assert a != match_strength("P0001", "P0002", difficulty=0.3, salt="tencent_legacy")
    same = {match_strength("P0001", "P0001", difficulty=0.0, salt=s) for s in SALTS}
    assert len(same) == 2
    spoof = {attack_strength(Liveness.SPOOF, difficulty=0.2, salt=s) for s in SALTS}
    assert len(spoof) == 2
    live = attack_strength("live", difficulty=0.2, salt="linkface", person="P0001")
    assert live == attack_strength(Liveness.LIVE, difficulty=0.2, salt="linkface", person="P0001")
    assert live != attack_strength(Liveness.LIVE, difficulty=0.2, salt="linkface", person="P0002")


def test_attack_strength_ranges_and_ordering() -> None:
    for salt in SALTS:
        for person in PEOPLE:
            live0 = attack_strength(Liveness.LIVE, difficulty=0.0, salt=salt, person=person)
            spoof0 = attack_strength(Liveness.SPOOF, difficulty=0.0, salt=salt, person=person)
            live1 = attack_strength(Liveness.LIVE, difficulty=1.0, salt=salt, person=person)
            spoof1 = attack_strength(Liveness.SPOOF, difficulty=1.0, salt=salt, person=person)
            assert 0.02 <= live0 <= 0.15
            assert 0.85 <= spoof0 <= 0.98
            live8 = attack_strength(Liveness.LIVE, difficulty=0.8, salt=salt, person=person)
            spoof8 = attack_strength(Liveness.SPOOF, difficulty=0.8, salt=salt, person=person)
            assert 0.38 <= live1 <= 0.51
            assert 0.49 <= spoof1 <= 0.62
            assert live0 < live8 < 0.5 < spoof8 < spoof0
            assert live8 < live1
            assert spoof1 < spoof8


@pytest.mark.parametrize("difficulty", [-0.1, 1.01, float("nan")])
def test_strengths_reject_difficulty_outside_zero_one(difficulty: float) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        match_strength("P0001", "P0001", difficulty=difficulty, salt="x")
    with pytest.raises(ValueError, match="difficulty"):
        attack_strength(Liveness.LIVE, difficulty=difficulty, salt="x")


# --- demo set ---------------------------------------------------------------------------------


def test_demo_set_files_carry_their_labels(tmp_path: Path) -> None:
    demo = write_demo_set(tmp_path / "demo")
    expected = {
        "selfie", "card_photo", "live_video", "spoof_video", "wrong_digits_video",
        "silent_video", "low_res_video", "no_face_selfie", "live_liveness_data",
        "attack_liveness_data", "impostor_selfie", "registry_photo_invalid_selfie",
        "registry_photo_poor_selfie", "registry_number_invalid_selfie",
    }  # fmt: skip
    assert expected <= set(demo)
    assert len(demo) == len(demo.truths)
    assert (demo.subject.person_id, demo.impostor.person_id, demo.digits) == (
        "P0001",
        "P0002",
        "9532",
    )
    for name, path in demo.items():
        assert path.parent == tmp_path / "demo"
        assert read_truth_file(path) == demo.truths[name], name
    assert demo.truths["spoof_video"] == VideoTruth("P0001", Liveness.SPOOF)
    assert demo.truths["wrong_digits_video"].digits_heard(demo.digits) != demo.digits  # type: ignore[union-attr]
    low_res = demo.truths["low_res_video"]
    assert isinstance(low_res, VideoTruth)
    assert low_res.width < 270
    assert low_res.height < 480
    registry = demo.truths["registry_photo_poor_selfie"]
    assert Population.default().by_id(registry.person or "").registry is RegistryStatus.PHOTO_POOR
    Evidence(
        selfie=demo["selfie"],
        reference_photo=demo["card_photo"],
        video=demo["live_video"],
        digits=demo.digits,
        liveness_data=demo["live_liveness_data"],
    )


def test_demo_set_from_a_generated_population(tmp_path: Path) -> None:
    population = Population.generate(20, seed=3)
    demo = write_demo_set(tmp_path, population)
    assert demo.subject is population.persons[0]
    assert read_truth_file(demo["impostor_selfie"]) == ImageTruth(population.persons[1].person_id)
    with pytest.raises(ValueError, match="two persons"):
        write_demo_set(tmp_path / "x", Population(population.persons[17:19]))
    with pytest.raises(ValueError, match="two persons"):
        write_demo_set(tmp_path / "y", Population(()))
