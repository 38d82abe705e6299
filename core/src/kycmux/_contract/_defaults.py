"""Core's own cross-cutting plugin: ``trylast`` defaults every vendor shares."""

from __future__ import annotations

import httpx

from kycmux._contract._markers import hookimpl
from kycmux._contract._score import RawScore, Score, ScoreKind
from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._contract._vendor import VendorSpec
from kycmux._contract._wire import VendorResult
from kycmux.exceptions import (
    InvalidEvidenceError,
    PluginError,
    ProtocolError,
    ResponseTooLargeError,
)

__all__ = ["classify_error", "normalize_score"]

# Order matters: subclasses before their bases (ConnectTimeout is a TimeoutException).
_TRANSPORT: tuple[tuple[type[BaseException], ErrorClass, str], ...] = (
    (ResponseTooLargeError, ErrorClass.VENDOR_UNAVAILABLE, "response_too_large"),
    (ProtocolError, ErrorClass.VENDOR_UNAVAILABLE, "malformed_response"),
    (httpx.ConnectTimeout, ErrorClass.VENDOR_UNAVAILABLE, "connect_timeout"),
    (httpx.PoolTimeout, ErrorClass.VENDOR_UNAVAILABLE, "pool_timeout"),
    (httpx.WriteTimeout, ErrorClass.VENDOR_UNAVAILABLE, "write_timeout"),
    # The request left in full and no answer came: the vendor may have billed it.
    (httpx.ReadTimeout, ErrorClass.POSSIBLY_BILLED, "read_timeout"),
    (httpx.ConnectError, ErrorClass.VENDOR_UNAVAILABLE, "connect_error"),
    (httpx.RemoteProtocolError, ErrorClass.VENDOR_UNAVAILABLE, "connection_reset"),
    (httpx.ReadError, ErrorClass.VENDOR_UNAVAILABLE, "connection_reset"),
    (httpx.WriteError, ErrorClass.VENDOR_UNAVAILABLE, "connection_reset"),
    (httpx.TransportError, ErrorClass.VENDOR_UNAVAILABLE, "transport_error"),
)


@hookimpl(trylast=True)
def classify_error(
    vendor: VendorSpec, result: VendorResult | None, error: BaseException | None
) -> Classification:
    if isinstance(error, InvalidEvidenceError):  # a local file gone before it could be sent
        return Classification(
            ErrorClass.REQUEST_INVALID, f"local_validation:{error.field}:{error.rule}"
        )
    if error is not None:
        for kind, error_class, reason in _TRANSPORT:
            if isinstance(error, kind):
                return Classification(error_class, reason)
        return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"unexpected:{type(error).__name__}")
    code = result.code if result is not None else "?"
    return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"{vendor.name}:unclassified:{code}")


@hookimpl(trylast=True)
def normalize_score(vendor: VendorSpec, raw: RawScore) -> Score:
    spec = vendor.score_spec(raw.name)
    if spec is None:
        raise PluginError(vendor.name, f"no ScoreSpec declared for score {raw.name!r}")
    if raw.calibration is not None and spec.kind is ScoreKind.ATTACK:
        # A FAR table is read as falling while the score rises: on an attack score it would
        # turn the most suspicious answers into the safest.
        raise PluginError(vendor.name, f"a FAR table came with attack score {raw.name!r}")
    return spec.normalize(raw)
