"""kycmux vendor plugin for the Tencent Cloud legacy face API ("Youtu"): ``tencent_legacy``.

Serves ``liveness`` and ``face_match`` through ``POST /face/livedetectfour`` (a lip-reading
video, optionally compared with a card photo in the same call) and ``id_registry_match``
through ``POST /face/idcardcompare``; the digits read in the video are a challenge issued by
``POST /face/livegetfour``. This module is the plugin (entry point
``kycmux: tencent_legacy``); its hook implementations only ever see this vendor's calls.
A faithful simulator of the wire protocol ships with it (``TencentSimulator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kycmux import (
    AttemptContext,
    Challenge,
    Check,
    Classification,
    Evidence,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
    hookimpl,
)
from kycmux_tencent_legacy import _build, _errors, _parse, _sign
from kycmux_tencent_legacy._spec import VENDOR, make_spec

if TYPE_CHECKING:
    from kycmux_tencent_legacy._sim import Account, AccountStatus, TencentSimulator

__all__ = [
    "VENDOR",
    "Account",
    "AccountStatus",
    "TencentSimulator",
    "build_challenge_request",
    "build_request",
    "classify_error",
    "parse",
    "parse_challenge",
    "register_vendors",
    "sign",
    "simulator",
]


_SIMULATOR_NAMES = frozenset({"Account", "AccountStatus", "TencentSimulator"})


def __getattr__(name: str) -> Any:
    # The simulator pulls in the ASGI toolkit; load it only when someone asks for it.
    if name in _SIMULATOR_NAMES:
        from kycmux_tencent_legacy import _sim

        return getattr(_sim, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def simulator() -> TencentSimulator:
    """A fresh simulator of the vendor, with its default accounts and registry."""
    from kycmux_tencent_legacy._sim import TencentSimulator

    return TencentSimulator()


@hookimpl
def register_vendors() -> Sequence[VendorSpec]:
    return [make_spec(simulator, _errors.CODE_TABLE)]


@hookimpl
def build_request(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig, context: AttemptContext
) -> VendorRequest:
    return _build.build(checks, evidence, config, context)


@hookimpl
def sign(request: VendorRequest, config: VendorConfig, context: AttemptContext) -> VendorRequest:
    return _sign.sign_request(request, config, context)


@hookimpl
def parse(request: VendorRequest, response: VendorResponse) -> VendorResult:
    return _parse.parse_response(request, response)


@hookimpl
def build_challenge_request(config: VendorConfig, context: AttemptContext) -> VendorRequest:
    return _build.build_challenge(config, context)


@hookimpl
def parse_challenge(
    vendor: VendorSpec, request: VendorRequest, response: VendorResponse, issued_at: float
) -> Challenge | VendorResult:
    return _parse.parse_challenge(request, response, issued_at, vendor.name)


@hookimpl
def classify_error(
    result: VendorResult | None, check: Check | None, error: BaseException | None
) -> Classification | None:
    if error is not None or result is None:
        return None  # transport failures: core's default classifies them
    return _errors.classify(VENDOR, result, check)
