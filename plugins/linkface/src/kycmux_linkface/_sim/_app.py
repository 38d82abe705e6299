"""``LinkfaceSimulator``: Linkface's ``liveness_selfie_verification`` on loopback.

Refuses a body that is not multipart/form-data (the only encoding the vendor's samples use),
checks credentials (form or query), rate limits and quotas per account, validates the request,
fetches URL inputs, resolves ids of earlier uploads, and answers from the content of the
evidence (``_decide``) with the vendor's documented statuses and body shape.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from kycmux import Secret
from kycmux.simkit import (
    FaultKind,
    Handler,
    MalformedReason,
    MalformedRequest,
    Quota,
    SimRequest,
    SimResponse,
    SimulatorApp,
    TokenBucket,
)
from kycmux_linkface._errors import KNOWN_STATUSES, http_status_of
from kycmux_linkface._sim._decide import MAX_SELFIE_BYTES, Failure, Scores, decide
from kycmux_linkface._sim._inputs import MediaStore, fetch
from kycmux_linkface._sim._request import (
    Account,
    AccountState,
    Arguments,
    Source,
    SourceKind,
    credentials,
    not_multipart,
    query_is_utf8,
    read_arguments,
)
from kycmux_linkface._spec import PATH

__all__ = [
    "DEFAULT_ACCOUNTS",
    "LinkfaceSimulator",
    "ScoreFormat",
]

DEFAULT_ACCOUNTS: Final = (
    Account("linkface-sim-id", Secret("linkface-sim-secret")),
    Account("linkface-sim-expired", Secret("linkface-sim-secret"), AccountState.EXPIRED),
    Account(
        "linkface-sim-no-permission", Secret("linkface-sim-secret"), AccountState.NO_PERMISSION
    ),
)
_MAX_DATA_BYTES: Final = 10 * 1024 * 1024
# Statuses whose answers name the request field at fault, and those carrying a reason.
_IMAGE_STATUSES: Final = frozenset(
    {
        "DOWNLOAD_TIMEOUT",
        "DOWNLOAD_ERROR",
        "IMAGE_FILE_SIZE_TOO_BIG",
        "IMAGE_ID_NOT_EXIST",
        "NO_FACE_DETECTED",
        "CORRUPT_IMAGE",
        "INVALID_IMAGE_FORMAT_OR_SIZE",
    }
)
_REASON_STATUSES: Final = frozenset({"INVALID_ARGUMENT", "KEY_EXPIRED"})


class ScoreFormat(enum.StrEnum):
    """How scores are written: JSON strings as in the vendor's sample, or JSON numbers."""

    STRING = "string"
    NUMBER = "number"


def _request_id() -> str:
    return "TID" + uuid.uuid4().hex


def _error(failure: Failure, request_id: str | None = None) -> SimResponse:
    body: dict[str, Any] = {"status": failure.status}
    if failure.image is not None:
        body["image"] = failure.image
    if failure.reason is not None:
        body["reason"] = failure.reason
    body["request_id"] = request_id or _request_id()
    http_status = http_status_of(failure.status) if failure.status in KNOWN_STATUSES else 400
    return SimResponse.json(http_status, body)


def _fault_failure(status: str) -> Failure:
    return Failure(
        status,
        image="selfie_file" if status in _IMAGE_STATUSES else None,
        reason="injected by the simulator" if status in _REASON_STATUSES else None,
    )


@attrs.define
class LinkfaceSimulator(SimulatorApp):
    """A local Linkface. See ``docs/vendors/linkface.md`` for the decision scheme.

    Attributes:
        accounts: The credential pairs it knows; the first active one is what
            ``client_settings()`` hands out.
        score_format: Scores as strings (the vendor's sample) or numbers.
        rate_per_s: Requests per second allowed per account (403 RATE_LIMIT_EXCEEDED beyond).
        burst: Requests allowed at once per account.
        quota: Calls allowed per account in total (403 OUT_OF_QUOTA beyond); None = unlimited.
        download_timeout: Seconds a URL input may take to download (DOWNLOAD_TIMEOUT).
        clock: Monotonic clock for the rate limiter (tests pass a fake one).
        max_body: Largest request body read (400 IMAGE_FILE_SIZE_TOO_BIG beyond).
    """

    accounts: tuple[Account, ...] = attrs.field(default=DEFAULT_ACCOUNTS, converter=tuple)
    score_format: ScoreFormat = attrs.field(default=ScoreFormat.STRING, converter=ScoreFormat)
    rate_per_s: float = 50.0
    burst: int = 100
    quota: int | None = None
    download_timeout: float = 3.0
    clock: Callable[[], float] = time.monotonic
    max_body: int = 16 * 1024 * 1024
    _store: MediaStore = attrs.field(init=False, factory=MediaStore)
    _buckets: dict[str, TokenBucket] = attrs.field(init=False, factory=dict)
    _quotas: dict[str, Quota] = attrs.field(init=False, factory=dict)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        if not any(a.state is AccountState.ACTIVE for a in self.accounts):
            raise ValueError("a Linkface simulator needs at least one active account")

    # -- SimulatorApp hooks -------------------------------------------------------------------

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        return {("POST", PATH): self.liveness_selfie_verification}

    def client_settings(self) -> Mapping[str, str | Secret]:
        account = next(a for a in self.accounts if a.state is AccountState.ACTIVE)
        return {
            "api_id": Secret(account.api_id),
            "api_secret": account.api_secret,
            "credentials_in": "form",
        }

    def not_found_response(self) -> SimResponse:
        return _error(Failure("NOT_FOUND"))

    def too_large_response(self) -> SimResponse:
        return _error(Failure("IMAGE_FILE_SIZE_TOO_BIG"))

    def malformed_response(self, error: MalformedRequest) -> SimResponse:
        if error.reason is MalformedReason.NOT_UTF8:
            return _error(Failure("ENCODING_ERROR"))
        return _error(Failure("INVALID_ARGUMENT", reason=error.detail))

    def internal_error_response(self) -> SimResponse:
        return _error(Failure("INTERNAL_ERROR"))

    def render_fault(self, kind: FaultKind, code: str | None = None) -> SimResponse:
        if kind is FaultKind.RATE_LIMITED:
            return _error(Failure("RATE_LIMIT_EXCEEDED"))
        if kind is FaultKind.VENDOR_CODE and code:
            return _error(_fault_failure(code.strip()))
        return _error(Failure("INTERNAL_ERROR"))

    # -- the endpoint -------------------------------------------------------------------------

    async def liveness_selfie_verification(self, request: SimRequest) -> SimResponse:
        request_id = _request_id()
        if not query_is_utf8(request.query_string):
            return _error(Failure("ENCODING_ERROR"), request_id)
        refused = not_multipart(request)
        if refused is not None:
            return _error(refused, request_id)
        form = request.form()
        api_id, api_secret = credentials(request, form)
        refused = self._admit(api_id, api_secret)
        if refused is not None:
            return _error(refused, request_id)
        arguments = read_arguments(form)
        if isinstance(arguments, Failure):
            return _error(arguments, request_id)
        outcome = await self._verify(arguments)
        if isinstance(outcome, Failure):
            return _error(outcome, request_id)
        scores, ids = outcome
        return SimResponse.json(200, self._success(request_id, scores, ids))

    def _admit(self, api_id: str | None, api_secret: str | None) -> Failure | None:
        account = next((a for a in self.accounts if a.api_id == api_id), None)
        if account is None or api_secret is None or not account.matches(api_secret):
            return Failure("UNAUTHORIZED")
        if account.state is AccountState.EXPIRED:
            return Failure("KEY_EXPIRED", reason=f"account {account.api_id} expired")
        if account.state is AccountState.NO_PERMISSION:
            return Failure("NO_PERMISSION")
        bucket, quota = self._limits(account.api_id)
        if not bucket.try_acquire():
            return Failure("RATE_LIMIT_EXCEEDED")
        if quota is not None and not quota.try_consume():
            return Failure("OUT_OF_QUOTA")
        return None

    def _limits(self, api_id: str) -> tuple[TokenBucket, Quota | None]:
        with self._lock:
            bucket = self._buckets.get(api_id)
            if bucket is None:
                bucket = TokenBucket(self.rate_per_s, self.burst, clock=self.clock)
                self._buckets[api_id] = bucket
            if self.quota is None:
                return bucket, None
            quota = self._quotas.setdefault(api_id, Quota(self.quota))
            return bucket, quota

    async def _content(self, source: Source, limit: int) -> bytes | Failure:
        if source.kind is SourceKind.FILE:
            return source.data
        if source.kind is SourceKind.URL:
            return await fetch(
                source.text, source.field, timeout=self.download_timeout, limit=limit
            )
        data = self._store.get(source.text)
        return Failure("IMAGE_ID_NOT_EXIST", source.field) if data is None else data

    async def _verify(self, arguments: Arguments) -> tuple[Scores, dict[str, str]] | Failure:
        selfie = await self._content(arguments.selfie, MAX_SELFIE_BYTES)
        if isinstance(selfie, Failure):
            return selfie
        data = await self._content(arguments.liveness_data, _MAX_DATA_BYTES)
        if isinstance(data, Failure):
            return data
        outcome = decide(selfie, arguments.selfie.field, data, arguments.liveness_data.field)
        if isinstance(outcome, Failure):
            return outcome
        ids = {
            "liveness_data_id": self._id_of(arguments.liveness_data, "LD", data),
            "image_id": self._id_of(arguments.selfie, "IMG", selfie),
        }
        return outcome, ids

    def _id_of(self, source: Source, prefix: str, data: bytes) -> str:
        if source.kind is SourceKind.ID:
            return source.text
        return self._store.put(prefix, data)

    def _success(self, request_id: str, scores: Scores, ids: dict[str, str]) -> dict[str, Any]:
        hack: float | str = scores.hack_score
        verify: float | str = scores.verify_score
        if self.score_format is ScoreFormat.STRING:
            hack, verify = str(hack), str(verify)
        return {
            "request_id": request_id,
            "status": "OK",
            "hack_score": hack,
            "verify_score": verify,
            **ids,
        }
