"""kycmux vendor plugin for Linkface ``liveness_selfie_verification``.

One call serves ``liveness`` (from ``hack_score``) and ``face_match`` (from ``verify_score``),
from the data file of Linkface's mobile liveness SDK and a selfie. This module is the plugin
registered through the ``kycmux`` entry point: its ``@hookimpl`` functions are the
implementations; the work is done in the private modules beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from kycmux import (
    AttemptContext,
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
from kycmux_linkface._spec import VENDOR, build_spec

__all__ = [
    "VENDOR",
    "build_request",
    "classify_error",
    "parse",
    "register_vendors",
    "sign",
]


@hookimpl
def register_vendors() -> Sequence[VendorSpec]:
    return [build_spec()]


@hookimpl
def build_request(
    checks: frozenset[Check], evidence: Evidence, config: VendorConfig
) -> VendorRequest:
    return _build.build_request(checks, evidence, config)


@hookimpl
def sign(request: VendorRequest, config: VendorConfig, context: AttemptContext) -> VendorRequest:
    # No clock and no nonce: Linkface authenticates by sending the credentials themselves.
    del context
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
    if check is None:
        return None if result.ok else _errors.classify(result)
    answer = result.answers.get(check)
    if answer is None or answer.ok:
        return None
    return _errors.classify(result, answer.status)
