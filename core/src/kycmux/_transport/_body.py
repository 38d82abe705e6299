"""Reading a response body within a size limit, on the wire and once decompressed.

kycmux asks for ``Accept-Encoding: identity`` (vendors' answers are a few KB), so a body normally
arrives as it is. One that comes compressed anyway is inflated here, in steps that never yield
more than the limit allows: a 500 KB gzip bomb of 500 MB is refused after ``limit`` bytes, not
inflated whole. Transports hand over the raw bytes (aiohttp's own decompression is off).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from kycmux.exceptions import ProtocolError, ResponseTooLargeError

__all__ = ["BodyReader"]


def _inflater(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None


class BodyReader:
    """Collects one response body, refusing it past ``limit`` bytes (raw or inflated)."""

    __slots__ = ("_chunks", "_inflate", "_raw", "_size", "limit", "status", "vendor")

    def __init__(self, vendor: str, limit: int, status: int, headers: Mapping[str, str]) -> None:
        # ``headers`` looks names up case-insensitively (httpx's and aiohttp's both do).
        self.vendor = vendor
        self.limit = limit
        self.status = status
        self._chunks: list[bytes] = []
        self._raw = self._size = 0
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise self._too_large()
        encoding = headers.get("content-encoding", "identity").strip().lower()
        self._inflate = _inflater(encoding)
        if self._inflate is None and encoding not in ("", "identity"):
            raise ProtocolError(
                vendor, f"unsupported content encoding {encoding!r}", http_status=self.status
            )

    def feed(self, raw: bytes) -> None:
        self._raw += len(raw)
        if self._raw > self.limit:
            raise self._too_large()
        if self._inflate is None:
            self._keep(raw)
            return
        data = raw
        while data:
            try:
                out = self._inflate.decompress(data, self.limit - self._size + 1)
            except zlib.error:
                raise ProtocolError(
                    self.vendor, "corrupt compressed body", http_status=self.status
                ) from None
            self._keep(out)
            data = self._inflate.unconsumed_tail

    def body(self) -> bytes:
        return b"".join(self._chunks)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise self._too_large()
        self._chunks.append(data)

    def _too_large(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(self.vendor, self.limit, http_status=self.status)
