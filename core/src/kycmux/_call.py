"""One vendor call, end to end: build, sign, send, parse, classify, normalize.

The hook steps are shared by the sync ``call`` and the async ``acall``; only the send differs.
On the async path every hook runs on a worker thread of the vendor's own small pool, never on
the event loop, and each step is bounded by the attempt's timeout: a slow or stuck plugin holds
up its own vendor's calls only, and the engine's deadline still ends the decision.

What a hook raises on purpose keeps its meaning (``ProtocolError``: a malformed answer;
``InvalidEvidenceError`` or ``ConfigError`` while building or signing: a local refusal, nothing
sent). Anything else is the plugin's own bug: a ``PluginFault`` naming the plugin, never
retried and never held against the vendor's health.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from kycmux._config import VendorConfig
from kycmux._evidence import Check, Evidence
from kycmux._http import HttpClient, SendResult, Timer
from kycmux._offload import HookRunner
from kycmux._outcome import (
    CallOutcome,
    CheckReading,
    PluginFault,
    Prepared,
    Refusal,
    failed,
    fault_of,
    outcome,
    refused,
    unsent,
)
from kycmux._plugins import PluginHost
from kycmux._privacy import scrub
from kycmux._resilience import Clock, held
from kycmux._score import Score
from kycmux._secret import reveal
from kycmux._taxonomy import Classification, ErrorClass
from kycmux._vendor import VendorSpec
from kycmux._wire import AttemptContext, VendorRequest, VendorResult
from kycmux.exceptions import ConfigError, InvalidEvidenceError, PluginError, ProtocolError

__all__ = ["VendorClient"]

log = logging.getLogger("kycmux.call")
T = TypeVar("T")


class _Stage:
    """Which hook an interpretation is in, readable when it overruns its time."""

    __slots__ = ("hook",)

    def __init__(self) -> None:
        self.hook = "parse"


@attrs.define
class VendorClient:
    """Calls vendors through their plugins' hooks and one shared ``HttpClient``."""

    _host: PluginHost
    _configs: Mapping[str, VendorConfig]
    _http: HttpClient
    _wall: Callable[[], float] = time.time
    clock: Clock | None = attrs.field(default=None, kw_only=True)
    _runner: HookRunner = attrs.field(init=False, factory=HookRunner)

    def spec(self, vendor: str) -> VendorSpec:
        return self._host.vendor(vendor)

    def config(self, vendor: str) -> VendorConfig:
        try:
            return self._configs[vendor]
        except KeyError:
            raise ConfigError(f"vendors.{vendor}", "vendor is not configured") from None

    def is_configured(self, vendor: str) -> bool:
        return vendor in self._configs

    # the hook steps, shared by both paths ------------------------------------------------

    def prepare(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> VendorRequest:
        """Build the unsigned request; raises ``InvalidEvidenceError`` before anything is sent.

        A plugin bug raises ``PluginError`` naming the plugin.
        """
        request: VendorRequest | None = self._hook(
            vendor,
            "build_request",
            (InvalidEvidenceError, ConfigError),
            checks=checks,
            evidence=evidence,
            config=self.config(vendor),
            context=AttemptContext(request_id, now=self._wall),
        )
        if request is None:
            raise self._blank(vendor, "build_request", "no build_request implementation answered")
        return request

    def sign(self, request: VendorRequest, request_id: str, attempt: int) -> VendorRequest:
        """Sign anew for this attempt (fresh timestamp and nonce every time)."""
        signed: VendorRequest | None = self._hook(
            request.vendor,
            "sign",
            (ConfigError,),
            request=request,
            config=self.config(request.vendor),
            context=AttemptContext(request_id, attempt=attempt, now=self._wall),
        )
        return request if signed is None else signed

    def refusal(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> VendorRequest | Refusal:
        """``prepare``, with every reason not to send turned into a ``Refusal``."""
        try:
            return self.prepare(vendor, checks, evidence, request_id)
        except InvalidEvidenceError as exc:
            reason = f"local_validation:{exc.field}:{exc.rule}"
            return Refusal(Classification(ErrorClass.REQUEST_INVALID, reason), evidence=exc)
        except PluginError as exc:
            return refused(exc)
        except ConfigError as exc:
            return Refusal(Classification(ErrorClass.REQUEST_INVALID, f"local_config:{exc.key}"))

    # sync ------------------------------------------------------------------------------

    def call(
        self, request: VendorRequest, request_id: str, attempt: int, timeout: float
    ) -> CallOutcome:
        started_at = self._wall()
        signed = self._signed(request, request_id, attempt)
        if not isinstance(signed, VendorRequest):
            return unsent(request, attempt, started_at, signed)
        limit = self.config(request.vendor).max_response_bytes
        sent = self._http.send(signed, timeout, max_response_bytes=limit)
        return self.interpret(signed, sent, attempt, started_at)

    # async -----------------------------------------------------------------------------

    def prepared(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> Prepared | Refusal:
        """The request, built and signed for a first attempt, or why it cannot be sent."""
        request = self.refusal(vendor, checks, evidence, request_id)
        if isinstance(request, Refusal):
            return request
        signed = self._signed(request, request_id, 1)
        return signed if isinstance(signed, Refusal) else Prepared(request, signed)

    async def aprepare(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> Prepared | Refusal:
        """``prepared`` on the vendor's worker threads, in one hop (plugins read headers)."""
        return await self._off_loop(vendor, self.prepared, vendor, checks, evidence, request_id)

    async def acall(
        self,
        request: VendorRequest,
        request_id: str,
        attempt: int,
        timeout: float,
        timer: Timer | None = None,
        *,
        signed: VendorRequest | None = None,
    ) -> CallOutcome:
        """Sign (unless ``signed`` is given: a first attempt ``prepared`` already signed),
        send and interpret one attempt; each plugin step is bounded by ``timeout``."""
        timer = timer or asyncio.timeout
        started_at = self._wall()
        ready = signed or await self._sign_off_loop(request, request_id, attempt, timeout, timer)
        if isinstance(ready, Refusal):
            return unsent(request, attempt, started_at, ready)
        signed = ready
        limit = self.config(request.vendor).max_response_bytes
        sent = await self._http.asend(signed, timeout, timer=timer, max_response_bytes=limit)
        stage = _Stage()
        try:
            async with timer(timeout):
                return await self._off_loop(
                    request.vendor, self.interpret, signed, sent, attempt, started_at, stage
                )
        except TimeoutError:
            fault = self._overrun(request.vendor, stage.hook, timeout)
            return failed(signed, sent, attempt, started_at, fault.classification, fault)

    def close(self) -> None:
        """Let go of the worker threads (a thread stuck in a plugin is abandoned)."""
        self._runner.close()

    async def _sign_off_loop(
        self, request: VendorRequest, request_id: str, attempt: int, timeout: float, timer: Timer
    ) -> VendorRequest | Refusal:
        try:
            async with timer(timeout):
                return await self._off_loop(
                    request.vendor, self._signed, request, request_id, attempt
                )
        except TimeoutError:
            fault = self._overrun(request.vendor, "sign", timeout)
            return Refusal(fault.classification, fault)

    async def _off_loop(self, vendor: str, fn: Callable[..., T], *args: Any) -> T:
        with held(self.clock):
            return await self._runner.run(vendor, fn, *args)

    # interpretation --------------------------------------------------------------------

    def interpret(
        self,
        request: VendorRequest,
        sent: SendResult,
        attempt: int,
        started_at: float,
        stage: _Stage | None = None,
    ) -> CallOutcome:
        """Parse, classify and normalize one exchange; never raises for vendor misbehaviour
        or a plugin bug."""
        stage = stage or _Stage()
        try:
            return self._interpret(request, sent, attempt, started_at, stage)
        except PluginError as exc:
            fault = fault_of(exc)
            return failed(request, sent, attempt, started_at, fault.classification, fault)

    def _interpret(
        self,
        request: VendorRequest,
        sent: SendResult,
        attempt: int,
        started_at: float,
        stage: _Stage,
    ) -> CallOutcome:
        vendor = request.vendor
        result: VendorResult | None = None
        failure: Classification | None = None
        if sent.response is None:
            failure = self._classify(vendor, stage, error=sent.error)
        else:
            try:
                result = self._hook(
                    vendor,
                    "parse",
                    (ProtocolError,),
                    request=request,
                    response=sent.response,
                    config=self.config(vendor),
                )
                if result is None:
                    raise self._blank(vendor, "parse", "no parse implementation answered")
            except ProtocolError as exc:
                failure = self._classify(vendor, stage, error=exc)
            else:
                result = _scrubbed(result, self._sent_values(request))
                if not result.ok:
                    failure = self._classify(vendor, stage, result=result)
        readings = {
            check: self._reading(vendor, stage, result, check, failure) for check in request.checks
        }
        return outcome(request, sent, attempt, started_at, result, failure, readings)

    def _reading(
        self,
        vendor: str,
        stage: _Stage,
        result: VendorResult | None,
        check: Check,
        failure: Classification | None,
    ) -> CheckReading:
        if failure is not None or result is None:
            return CheckReading(check, None, failure)
        answer = result.answers.get(check)
        if answer is None:
            missing = ProtocolError(vendor, f"no answer for check {check.value}")
            return CheckReading(check, None, self._classify(vendor, stage, error=missing))
        if not answer.ok:
            return CheckReading(
                check, answer, self._classify(vendor, stage, result=result, check=check)
            )
        if answer.score is None:
            return CheckReading(check, answer, None)
        declared = self.spec(vendor).score_spec(answer.score.name)
        if declared is not None and not declared.in_range(answer.score.value):
            # Whatever the plugin let through: a score off its declared scale is no answer.
            off = f"score {answer.score.name} outside [{declared.low:g}, {declared.high:g}]"
            failure = self._classify(vendor, stage, error=ProtocolError(vendor, off))
            return CheckReading(check, answer, failure)
        stage.hook = "normalize_score"
        try:
            score: Score | None = self._hook(
                vendor,
                "normalize_score",
                (ProtocolError,),
                check=check,
                raw=answer.score,
            )
        except ProtocolError as exc:
            return CheckReading(check, answer, self._classify(vendor, stage, error=exc))
        if score is None:
            raise self._blank(
                vendor, "normalize_score", "no normalize_score implementation answered"
            )
        return CheckReading(check, answer, None, score)

    def _classify(
        self,
        vendor: str,
        stage: _Stage,
        *,
        result: VendorResult | None = None,
        check: Check | None = None,
        error: BaseException | None = None,
    ) -> Classification:
        stage.hook = "classify_error"
        found: Classification | None = self._hook(
            vendor,
            "classify_error",
            (),
            result=result,
            check=check,
            error=error,
        )
        if found is None:  # core's trylast default always answers; a wrapper may have eaten it
            return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"{vendor}:unclassified")
        return found

    def _sent_values(self, request: VendorRequest) -> list[str]:
        """What we sent that must not come back into a record: credentials, ID, name..."""
        sent = [str(reveal(v)) for _, v in (*request.params, *request.fields, *request.headers)]
        return [*self.config(request.vendor).secrets(), *sent]

    # plugin faults ---------------------------------------------------------------------

    def _signed(
        self, request: VendorRequest, request_id: str, attempt: int
    ) -> VendorRequest | Refusal:
        try:
            return self.sign(request, request_id, attempt)
        except PluginError as exc:
            return refused(exc)
        except ConfigError as exc:
            return Refusal(Classification(ErrorClass.REQUEST_INVALID, f"local_config:{exc.key}"))

    def _hook(
        self, vendor: str, hook: str, expected: tuple[type[Exception], ...], **kwargs: Any
    ) -> Any:
        """Call ``hook`` for ``vendor``; an exception the contract does not allow is a fault."""
        caller = getattr(self._host.hooks_for(vendor), hook)
        try:
            return caller(vendor=self.spec(vendor), **kwargs)
        except expected:
            raise
        except PluginError as exc:
            error: BaseException = exc
        except Exception as exc:
            error = exc
        # Raised outside the handler, so the original (whose message may quote personal
        # data) is not chained to what leaves here.
        raise self._fault(vendor, hook, error)

    def _fault(self, vendor: str, hook: str, error: BaseException) -> PluginError:
        plugin, distribution = self._host.blame(vendor, hook, error)
        detail = error.problem if isinstance(error, PluginError) else None
        fault = PluginFault(hook, plugin, distribution, type(error).__name__, detail)
        _log_fault(vendor, fault, error)
        return fault.error()

    def _blank(self, vendor: str, hook: str, detail: str) -> PluginError:
        plugin, distribution = self._host.blame(vendor, hook, RuntimeError())
        fault = PluginFault(hook, plugin, distribution, "NoResult", detail)
        _log_fault(vendor, fault, None)
        return fault.error()

    def _overrun(self, vendor: str, hook: str, seconds: float) -> PluginFault:
        plugin, distribution = self._host.blame(vendor, hook, RuntimeError())
        detail = f"{hook} still running after {seconds:g} s"
        fault = PluginFault(hook, plugin, distribution, "Timeout", detail)
        _log_fault(vendor, fault, None)
        return fault


def _log_fault(vendor: str, fault: PluginFault, error: BaseException | None) -> None:
    log.warning(
        "plugin %s (%s) failed in %s for vendor %s: %s; treated as plugin_error",
        fault.plugin,
        fault.distribution or "no distribution",
        fault.hook,
        vendor,
        fault.detail or fault.exception,
    )
    if error is not None and log.isEnabledFor(logging.DEBUG):
        # The stack's code lines only: the exception's message may quote personal data.
        log.debug(
            "where %s raised:\n%s",
            fault.exception,
            "".join(traceback.format_tb(error.__traceback__)),
        )


def _scrubbed(result: VendorResult, values: list[str]) -> VendorResult:
    """The result with what we sent blanked out of every message the vendor wrote."""
    answers = {
        check: attrs.evolve(answer, message=scrub(answer.message, values))
        for check, answer in result.answers.items()
    }
    return attrs.evolve(result, message=scrub(result.message, values), answers=answers)
