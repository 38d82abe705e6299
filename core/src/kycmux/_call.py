"""One vendor call, end to end: build, sign, send, parse, classify, normalize.

The pure steps (``prepare``, ``sign``, ``interpret``) are shared by the sync ``call`` and the
async ``acall``; only the send differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import attrs

from kycmux._config import VendorConfig
from kycmux._evidence import Check, Evidence
from kycmux._http import HttpClient, SendResult, Timer
from kycmux._plugins import PluginHost, VendorHooks
from kycmux._score import Score
from kycmux._taxonomy import Classification, ErrorClass
from kycmux._vendor import VendorSpec
from kycmux._wire import AttemptContext, CheckAnswer, VendorRequest, VendorResult
from kycmux.exceptions import ConfigError, PluginError, ProtocolError

__all__ = ["CallOutcome", "CheckReading", "VendorClient"]

log = logging.getLogger("kycmux.call")


@attrs.frozen
class CheckReading:
    """What one vendor said about one check, before any policy threshold.

    Attributes:
        check: The check.
        answer: The vendor's answer, when the call returned one for this check.
        failure: Why the check has no usable answer (call failed, or the check did not complete).
        score: The normalized score, when the answer carries one.
    """

    check: Check
    answer: CheckAnswer | None
    failure: Classification | None
    score: Score | None = None


@attrs.frozen
class CallOutcome:
    """Everything one attempt produced.

    Attributes:
        vendor: Vendor name.
        operation: Vendor operation.
        checks: Checks the call served.
        attempt: Attempt number at this vendor within the decision.
        started_at: Wall-clock start (UNIX seconds).
        latency: Seconds the exchange took.
        result: The parsed result, when the vendor answered readably.
        failure: Why the call as a whole failed (transport, malformed, top-level error code).
        readings: Per-check readings (each carries the call failure when the call failed).
        http_status: The HTTP status, when a response came.
        body_sent: The whole request reached the vendor (it may have been billed).
    """

    vendor: str
    operation: str
    checks: frozenset[Check]
    attempt: int
    started_at: float
    latency: float
    result: VendorResult | None
    failure: Classification | None
    readings: Mapping[Check, CheckReading]
    http_status: int | None
    body_sent: bool

    @property
    def possibly_billed(self) -> bool:
        """The vendor may bill this attempt: it answered, or the whole request reached it."""
        return self.body_sent


@attrs.define
class VendorClient:
    """Calls vendors through their plugins' hooks and one shared ``HttpClient``."""

    _host: PluginHost
    _configs: Mapping[str, VendorConfig]
    _http: HttpClient
    _wall: Callable[[], float] = time.time

    def spec(self, vendor: str) -> VendorSpec:
        return self._host.vendor(vendor)

    def config(self, vendor: str) -> VendorConfig:
        try:
            return self._configs[vendor]
        except KeyError:
            raise ConfigError(f"vendors.{vendor}", "vendor is not configured") from None

    def is_configured(self, vendor: str) -> bool:
        return vendor in self._configs

    def prepare(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> VendorRequest:
        """Build the unsigned request; raises ``InvalidEvidenceError`` before anything is sent."""
        hooks = self._host.hooks_for(vendor)
        request: VendorRequest | None = hooks.build_request(
            vendor=self.spec(vendor),
            checks=checks,
            evidence=evidence,
            config=self.config(vendor),
            context=AttemptContext(request_id, now=self._wall),
        )
        if request is None:
            raise PluginError(vendor, "no build_request implementation returned a request")
        return request

    def sign(self, request: VendorRequest, request_id: str, attempt: int) -> VendorRequest:
        """Sign anew for this attempt (fresh timestamp and nonce every time)."""
        signed: VendorRequest | None = self._host.hooks_for(request.vendor).sign(
            vendor=self.spec(request.vendor),
            request=request,
            config=self.config(request.vendor),
            context=AttemptContext(request_id, attempt=attempt, now=self._wall),
        )
        return request if signed is None else signed

    def call(
        self, request: VendorRequest, request_id: str, attempt: int, timeout: float
    ) -> CallOutcome:
        started_at = self._wall()
        signed = self.sign(request, request_id, attempt)
        sent = self._http.send(signed, timeout)
        return self.interpret(signed, sent, attempt, started_at)

    async def acall(
        self,
        request: VendorRequest,
        request_id: str,
        attempt: int,
        timeout: float,
        timer: Timer | None = None,
    ) -> CallOutcome:
        started_at = self._wall()
        signed = self.sign(request, request_id, attempt)
        sent = await self._http.asend(signed, timeout, timer=timer)
        return self.interpret(signed, sent, attempt, started_at)

    def interpret(
        self, request: VendorRequest, sent: SendResult, attempt: int, started_at: float
    ) -> CallOutcome:
        """Parse, classify and normalize one exchange; never raises for vendor misbehaviour."""
        hooks = self._host.hooks_for(request.vendor)
        spec = self.spec(request.vendor)
        result: VendorResult | None = None
        failure: Classification | None = None
        if sent.response is None:
            failure = _classify(hooks, spec, None, None, sent.error)
        else:
            try:
                result = hooks.parse(
                    vendor=spec,
                    request=request,
                    response=sent.response,
                    config=self.config(request.vendor),
                )
                if result is None:
                    raise ProtocolError(spec.name, "no parse implementation returned a result")
            except ProtocolError as exc:
                failure = _classify(hooks, spec, None, None, exc)
            except Exception as exc:  # a parser bug must not crash the decision
                log.exception("%s: parse raised; treated as a malformed response", spec.name)
                broken = ProtocolError(spec.name, f"parser raised {type(exc).__name__}")
                failure = _classify(hooks, spec, None, None, broken)
            else:
                if not result.ok:
                    failure = _classify(hooks, spec, result, None, None)
        readings = {
            check: _reading(hooks, spec, result, check, failure) for check in request.checks
        }
        return CallOutcome(
            vendor=request.vendor,
            operation=request.operation,
            checks=request.checks,
            attempt=attempt,
            started_at=started_at,
            latency=sent.elapsed,
            result=result,
            failure=failure,
            readings=readings,
            http_status=None if sent.response is None else sent.response.status_code,
            body_sent=sent.body_sent,
        )


def _classify(
    hooks: VendorHooks,
    spec: VendorSpec,
    result: VendorResult | None,
    check: Check | None,
    error: BaseException | None,
) -> Classification:
    found: Classification | None = hooks.classify_error(
        vendor=spec, result=result, check=check, error=error
    )
    if found is None:  # core's trylast default always answers; a wrapper may have eaten it
        return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"{spec.name}:unclassified")
    return found


def _reading(
    hooks: VendorHooks,
    spec: VendorSpec,
    result: VendorResult | None,
    check: Check,
    failure: Classification | None,
) -> CheckReading:
    if failure is not None or result is None:
        return CheckReading(check, None, failure)
    answer = result.answers.get(check)
    if answer is None:
        missing = ProtocolError(spec.name, f"no answer for check {check.value}")
        return CheckReading(check, None, _classify(hooks, spec, None, None, missing))
    if not answer.ok:
        return CheckReading(check, answer, _classify(hooks, spec, result, check, None))
    score: Score | None = None
    if answer.score is not None:
        try:
            score = hooks.normalize_score(vendor=spec, check=check, raw=answer.score)
        except Exception as exc:
            log.exception("%s: normalize_score raised", spec.name)
            broken = ProtocolError(spec.name, f"score {answer.score.name} unusable: {exc!r}")
            return CheckReading(check, answer, _classify(hooks, spec, None, None, broken))
    return CheckReading(check, answer, None, score)
