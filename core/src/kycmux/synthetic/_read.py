"""Reading the truth back out of any synthetic file, from its first bytes."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from kycmux.synthetic._image import PNG_SIGNATURE, read_jpeg_truth, read_png_truth
from kycmux.synthetic._liveness import read_protobuf_truth
from kycmux.synthetic._truth import Truth
from kycmux.synthetic._video import FLV_SIGNATURE, read_flv_truth, read_mp4_truth

__all__ = ["HEAD_SIZE", "read_truth", "read_truth_file"]

HEAD_SIZE = 64 * 1024


def read_truth(data: bytes) -> Truth | None:
    """The truth a synthetic file carries, or ``None`` for any other content.

    Works on the whole file or any prefix holding the truth (every writer puts it in the first
    few hundred bytes; the first ``HEAD_SIZE`` bytes always suffice). Never raises on garbage.
    """
    data = bytes(data)
    try:
        if data.startswith(PNG_SIGNATURE):
            return read_png_truth(data)
        if data.startswith(b"\xff\xd8\xff"):
            return read_jpeg_truth(data)
        if data[4:8] == b"ftyp":
            return read_mp4_truth(data)
        if data.startswith(FLV_SIGNATURE):
            return read_flv_truth(data)
        return read_protobuf_truth(data)
    except (ValueError, IndexError, struct.error):
        # Damaged or foreign content that merely looks like one of the formats.
        return None


def read_truth_file(path: str | os.PathLike[str]) -> Truth | None:
    """The truth of a file on disk, reading only its first ``HEAD_SIZE`` bytes."""
    with Path(path).open("rb") as stream:
        return read_truth(stream.read(HEAD_SIZE))
