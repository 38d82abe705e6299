"""kycmux vendor plugin for Linkface ``liveness_selfie_verification``.

One call serves ``liveness`` (from ``hack_score``) and ``face_match`` (from ``verify_score``),
from the data file of Linkface's mobile liveness SDK and a selfie. This module is the plugin
(entry point ``kycmux: linkface``); its hook implementations only ever see this vendor's
calls, and the work is done in the private modules beside it. A faithful simulator of the
wire protocol ships with it (``simulator()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kycmux import (
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
from kycmux_linkface import _build, _errors, _parse, _sign
from kycmux_linkface._spec import VENDOR, make_spec

if TYPE_CHECKING:
    from kycmux_linkface._sim import LinkfaceSimulator

__all__ = [
    "VENDOR",
    "build_request",
    "classify_error",
    "parse",
    "register_vendors",
    "sign",
    "simulator",
]


def simulator() -> LinkfaceSimulator:
    """A fresh simulator of the vendor, with its default accounts (see the vendor docs page)."""
    # Imported on demand: a process calling the real vendor never needs the server machinery.
    from kycmux_linkface._sim import LinkfaceSimulator

    return LinkfaceSimulator()


@hookimpl
def register_vendors() -> Sequence[VendorSpec]:
    return [make_spec(simulator, _errors.CODE_TABLE)]


@hookimpl
def build_request(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig
) -> VendorRequest:
    return _build.build_request(checks, evidence, config)


@hookimpl
def sign(request: VendorRequest, config: VendorConfig) -> VendorRequest:
    # No clock and no nonce (so no context): Linkface authenticates by sending the credentials.
    return _sign.sign(request, config)


@hookimpl
def parse(request: VendorRequest, response: VendorResponse, config: VendorConfig) -> VendorResult:
    return _parse.parse(request, response, config)


@hookimpl
def classify_error(
    result: VendorResult | None, check: Check | None, error: BaseException | None
) -> Classification | None:
    # Transport exceptions and ProtocolErrors are core's (trylast default): nothing of ours.
    if error is not None or result is None:
        return None
    answer = result.answers.get(check) if check is not None else None
    if answer is not None:
        return None if answer.ok else _errors.classify(result, answer.status)
    # The call as a whole failed (a check without an answer shares the call's failure).
    return None if result.ok else _errors.classify(result)
