"""A request's multipart/form-data body, written in few, large pieces.

httpx's encoder yields every part's headers, data and separator as its own piece, and each piece
became its own socket write (17 per Linkface request of 10 KB). Here a body under
``SMALL_BODY`` bytes is read into one ``bytes`` and leaves in one write; a larger one leaves in
pieces of ``CHUNK`` bytes, its files read as they go (never whole). The bytes on the wire are
httpx's format: the same part headers, the same escaping of names.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import IO

from kycmux._contract._wire import Param
from kycmux._model._secret import reveal

__all__ = ["CHUNK", "SMALL_BODY", "MultipartBody"]

SMALL_BODY = 256 * 1024
# asyncio's default high-water mark of a transport's write buffer: a piece this size goes
# straight to the socket instead of waiting in the buffer for a drain, so the vendor reads one
# piece while the next is read from disk (measured: 1 MB bodies at one in flight took ~2.2 ms
# in 256 KiB pieces, ~1.4 ms in 64 KiB ones; less memory held per upload, too).
CHUNK = 64 * 1024

# The WHATWG form encoding of quotes, backslashes and control characters in names (as httpx).
_ESCAPES = {'"': "%22", "\\": "\\\\"} | {chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _ESCAPES))


def _param(name: str, value: str) -> str:
    return f'{name}="{_ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)}"'


def _field_head(boundary: bytes, name: str) -> bytes:
    return b"--%s\r\nContent-Disposition: form-data; %s\r\n\r\n" % (
        boundary,
        _param("name", name).encode(),
    )


def _file_head(boundary: bytes, name: str, filename: str, content_type: str) -> bytes:
    disposition = f"form-data; {_param('name', name)}"
    if filename:  # as httpx: an empty file name is left out
        disposition += f"; {_param('filename', filename)}"
    return b"--%s\r\nContent-Disposition: %s\r\nContent-Type: %s\r\n\r\n" % (
        boundary,
        disposition.encode(),
        content_type.encode(),
    )


def _remaining(file: IO[bytes]) -> int:
    """Bytes from the file's position to its end (one ``fstat`` for a file on disk)."""
    try:
        return os.fstat(file.fileno()).st_size - file.tell()
    except (OSError, ValueError):  # in memory (io.UnsupportedOperation is both)
        here = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(here)
        return end - here


class MultipartBody:
    """One multipart body: its pieces, its length, and its open files.

    ``pieces`` alternates literal ``bytes`` and open files (read from their current position to
    their end, whose size was taken when they were opened). ``content_type`` and ``length`` are
    the request's headers.
    """

    __slots__ = ("_pieces", "content_type", "length")

    def __init__(
        self,
        fields: tuple[Param, ...],
        files: list[tuple[str, str, str, IO[bytes] | bytes]],
        boundary: bytes | None = None,
    ) -> None:
        boundary = boundary or os.urandom(16).hex().encode()
        self.content_type = f"multipart/form-data; boundary={boundary.decode()}"
        pieces: list[bytes | tuple[IO[bytes], int]] = []
        literal = bytearray()
        for name, value in fields:
            literal += _field_head(boundary, name) + reveal(value).encode() + b"\r\n"
        for name, filename, content_type, body in files:
            literal += _file_head(boundary, name, filename, content_type)
            if isinstance(body, bytes):
                literal += body
            else:
                pieces.append(bytes(literal))
                literal = bytearray()
                pieces.append((body, _remaining(body)))
            literal += b"\r\n"
        literal += b"--%s--\r\n" % boundary
        pieces.append(bytes(literal))
        self.length = sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        if self.length < SMALL_BODY:
            yield self._whole()
            return
        buffer = bytearray()
        for piece in self._pieces:
            if isinstance(piece, bytes):
                buffer += piece
                continue
            file, left = piece
            # Never past the length declared: a file that grew since must not overrun it.
            while left > 0 and (chunk := file.read(min(CHUNK, left))):
                left -= len(chunk)
                buffer += chunk
                if len(buffer) >= CHUNK:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # The async path reads the same pieces: a file read of CHUNK bytes from the page cache
        # takes tens of microseconds, cheaper than a thread hop per piece.
        for piece in self:
            yield piece

    def _whole(self) -> bytes:
        out = bytearray()
        for piece in self._pieces:
            if isinstance(piece, bytes):
                out += piece
            else:
                out += piece[0].read(piece[1])
        return bytes(out)
