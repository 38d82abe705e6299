"""Where the simulated Linkface gets a selfie or liveness data from: upload, URL, or id."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import threading
from typing import Final
from urllib.parse import urlsplit

import attrs
import httpx

from kycmux import is_loopback_host
from kycmux_linkface._sim._decide import Failure

__all__ = ["MediaStore", "fetch", "is_loopback_url"]

_CHUNK: Final = 64 * 1024


@attrs.define
class MediaStore:
    """Uploaded content by the id the simulator returned for it (``image_id``,
    ``liveness_data_id``), so a later request can refer to it. Bounded and thread-safe.

    Ids derive from the content (``IMG`` / ``LD`` + SHA-256 prefix): the same file always gets
    the same id.
    """

    capacity: int = 1024
    _items: collections.OrderedDict[str, bytes] = attrs.field(
        init=False, factory=collections.OrderedDict
    )
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def put(self, prefix: str, data: bytes) -> str:
        media_id = prefix + hashlib.sha256(data).hexdigest()[:29]
        with self._lock:
            self._items[media_id] = data
            self._items.move_to_end(media_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return media_id

    def get(self, media_id: str) -> bytes | None:
        with self._lock:
            return self._items.get(media_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def is_loopback_url(url: str) -> bool:
    """Only loopback URLs are fetched: the simulator never reaches beyond the machine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(host)


async def fetch(url: str, field: str, *, timeout: float, limit: int) -> bytes | Failure:
    """Download ``url`` like the vendor's fetcher: DOWNLOAD_TIMEOUT when slow, DOWNLOAD_ERROR
    when it fails (or is not a loopback URL), IMAGE_FILE_SIZE_TOO_BIG past ``limit`` bytes.
    """
    if not is_loopback_url(url):
        return Failure("DOWNLOAD_ERROR", field)
    try:
        # The whole download is bounded, not only each read: a trickling server times out too.
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                return Failure("DOWNLOAD_ERROR", field)
            data = bytearray()
            async for chunk in response.aiter_bytes(_CHUNK):
                data += chunk
                if len(data) > limit:
                    return Failure("IMAGE_FILE_SIZE_TOO_BIG", field)
            return bytes(data)
    except (TimeoutError, httpx.TimeoutException):
        return Failure("DOWNLOAD_TIMEOUT", field)
    except httpx.HTTPError:
        return Failure("DOWNLOAD_ERROR", field)
