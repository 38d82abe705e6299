"""What every container format shares: the truth tag, exact padding, decoding, writing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from kycmux.synthetic._truth import Truth, truth_from_json

__all__ = ["TAG", "Builder", "decode_truth", "filler", "fit", "split", "write_file"]

TAG = b"kycmux-truth"

# build(truth_json, padding_size) -> file bytes; padding_size 0 means no padding container.
Builder = Callable[[bytes, int], bytes]


def fit(build: Builder, truth_json: bytes, pad_to: int | None, min_pad: int) -> bytes:
    """Build the file, padded to exactly ``pad_to`` bytes when given.

    Gaps of at least ``min_pad`` bytes go into the format's own padding container (PNG private
    chunk, JPEG comment, MP4 ``free`` box, FLV script tag, protobuf field); smaller gaps become
    trailing JSON whitespace in the truth itself, which every format stores with a fixed-width
    length.
    """
    natural = build(truth_json, 0)
    if pad_to is None:
        return natural
    if isinstance(pad_to, bool) or not isinstance(pad_to, int):
        raise TypeError("pad_to must be an int")
    gap = pad_to - len(natural)
    if gap < 0:
        raise ValueError(f"pad_to={pad_to} is below this file's natural size of {len(natural)}")
    if gap == 0:
        return natural
    data = build(truth_json, gap) if gap >= min_pad else build(truth_json + b" " * gap, 0)
    if len(data) != pad_to:
        raise RuntimeError(f"padding produced {len(data)} bytes instead of {pad_to}")
    return data


def split(total: int, smallest: int, largest: int) -> list[int]:
    """Sizes of padding containers adding up to ``total`` (at least ``smallest``)."""
    sizes: list[int] = []
    while total > 0:
        size = min(total, largest)
        if 0 < total - size < smallest:
            size = total - smallest
        sizes.append(size)
        total -= size
    return sizes


def filler(seed: bytes, size: int) -> bytes:
    """Deterministic pseudo-random bytes (SHA-256 in counter mode) standing in for media data."""
    blocks = (size + 31) // 32
    data = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    return data[:size]


def decode_truth(text: bytes) -> Truth | None:
    """The truth in an embedded JSON payload, or ``None`` if it is not a valid truth."""
    try:
        return truth_from_json(text)
    except ValueError:
        return None


def write_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating parent folders) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target
