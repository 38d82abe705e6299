"""Fixtures shared by every test area."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kycmux.testing import tiny_png


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(tiny_png())
    return path


@pytest.fixture
def mp4_file(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isommp41" + b"\0" * 64)
    return path
