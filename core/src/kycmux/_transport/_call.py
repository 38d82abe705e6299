"""One vendor call, end to end: build, sign, send, parse, classify, normalize.

The hook steps are shared by the sync ``call`` and the async ``acall``; only the send differs.
On the async path a hook step runs on a worker thread of the vendor's own lane, and the whole
attempt (signing, sending, reading) shares one time budget: a slow or stuck plugin holds up
its own vendor's calls only, and the engine's deadline still ends the decision. A plugin still
reading an answer when the budget is spent leaves the answer unread (``answer_unread``): it may
have been a definitive negative, so nothing fails over after it.

The one exception: a step runs on the event loop itself, saving its two thread hops, when the
vendor's spec declares ``light_hooks`` (microseconds of CPU, no blocking), no other plugin's
implementation reaches the vendor's hooks (a cross-cutting plugin made no such promise), the
engine allows it (``[engine] inline_hooks``), the vendor was not demoted, and, for reading an
answer, the body is at most ``INLINE_BODY`` (a hostile 1 MiB answer is read on the lane). Such
a step is timed, and the ``Watchdog`` (``_offload``) demotes a plugin whose step was not light
(over 2 ms of CPU, 20 ms held, or late three times running) to its lane for the engine's life,
with one warning on ``kycmux.engine``; a step that overran its own time ends as a lane overrun
does. Either way the same function runs, so what a hook raises is handled alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from kycmux._config._config import Config, VendorConfig
from kycmux._contract._host import PluginHost, VendorHooks
from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._contract._vendor import VendorSpec
from kycmux._contract._wire import VendorRequest
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Check, Evidence
from kycmux._resilience import Clock, held
from kycmux._transport._hooks import HookCalls, Stage
from kycmux._transport._http import HttpClient, SendResult, Timer
from kycmux._transport._interpret import interpret, interpret_challenge
from kycmux._transport._offload import HookRunner, LaneFull, Watchdog
from kycmux._transport._outcome import (
    CallOutcome,
    PluginFault,
    Prepared,
    Refusal,
    failed,
    refused,
    unsent,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError, PluginError, UnknownVendorError

__all__ = ["INLINE_BODY", "VendorClient"]

log = logging.getLogger("kycmux.engine")

T = TypeVar("T")

# The answers of the bundled vendors are a few hundred bytes; reading 64 KiB of JSON still
# takes well under the budget, and anything larger (a hostile answer) is read on the lane.
INLINE_BODY = 64 * 1024

_BUILD = "build_request and sign"
_SIGN = "sign"
_READ = "parse, classify_error and normalize_score"
_CHALLENGE = "build_challenge_request and sign"
_READ_CHALLENGE = "parse_challenge and classify_error"

# However little of the attempt's budget the send left, a plugin gets this long to read the
# answer that did come: reading takes microseconds, and an unread answer is a lost one.
_READ_FLOOR = 0.1


class _Overrun(Exception):
    """A hook step did not finish within its time."""


@attrs.define
class VendorClient:
    """Calls vendors through their plugins' hooks and one shared ``HttpClient``."""

    _host: PluginHost
    _configs: Mapping[str, VendorConfig]
    _http: HttpClient
    _wall: Callable[[], float] = time.time
    clock: Clock | None = attrs.field(default=None, kw_only=True)
    inline_hooks: bool = attrs.field(default=True, kw_only=True)
    _hooks: HookCalls = attrs.field(init=False)
    _runner: HookRunner = attrs.field(init=False, factory=HookRunner)
    _light: dict[str, tuple[VendorHooks, bool]] = attrs.field(init=False, factory=dict)
    _watchdog: Watchdog = attrs.field(init=False, factory=Watchdog)

    def __attrs_post_init__(self) -> None:
        self._hooks = HookCalls(self._host, self._configs, self._wall)

    @classmethod
    def from_config(
        cls, host: PluginHost, config: Config, http: HttpClient, clock: Clock
    ) -> VendorClient:
        """The client of an engine built from ``config``: its vendors, its clock, and whether
        light hooks may run on the event loop (``[engine] inline_hooks``)."""
        inline = config.engine.inline_hooks
        return cls(host, config.vendors, http, clock.time, clock=clock, inline_hooks=inline)

    def spec(self, vendor: str) -> VendorSpec:
        """``vendor``'s spec under its own name (an instance's: its plugin's, renamed)."""
        return self._hooks.spec(vendor)

    def config(self, vendor: str) -> VendorConfig:
        return self._hooks.config(vendor)

    def plugin(self, vendor: str) -> str:
        """The vendor whose plugin serves ``vendor`` (an instance's ``plugin``, or itself)."""
        return self._hooks.plugin(vendor)

    def is_configured(self, vendor: str) -> bool:
        return vendor in self._configs

    # the hook steps, shared by both paths ------------------------------------------------

    def prepare(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> VendorRequest:
        """Build the unsigned request; raises ``InvalidEvidenceError`` before anything is sent.

        A plugin bug raises ``PluginError`` naming the plugin.
        """
        return self._hooks.build(vendor, checks, evidence, request_id)

    def sign(self, request: VendorRequest, request_id: str, attempt: int) -> VendorRequest:
        """Sign anew for this attempt (fresh timestamp and nonce every time)."""
        return self._hooks.sign(request, request_id, attempt)

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

    def prepared(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> Prepared | Refusal:
        """The request, built and signed for a first attempt, or why it cannot be sent."""
        request = self.refusal(vendor, checks, evidence, request_id)
        if isinstance(request, Refusal):
            return request
        signed = self._signed(request, request_id, 1)
        return signed if isinstance(signed, Refusal) else Prepared(request, signed)

    def interpret(
        self, request: VendorRequest, sent: SendResult, attempt: int, started_at: float
    ) -> CallOutcome:
        """Parse, classify and normalize one exchange; never raises for vendor misbehaviour
        or a plugin bug."""
        return interpret(self._hooks, request, sent, attempt, started_at)

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

    async def aprepare(
        self,
        vendor: str,
        checks: frozenset[Check],
        evidence: Evidence,
        request_id: str,
        timeout: float,
        timer: Timer | None = None,
    ) -> Prepared | Refusal:
        """``prepared`` on the vendor's lane, in one hop, within ``timeout``."""
        try:
            args = (vendor, checks, evidence, request_id)
            return await self._step(vendor, timeout, timer, self.prepared, *args, step=_BUILD)
        except _Overrun:
            return _refusal(self._hooks.overrun(vendor, "build_request", timeout))

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
        send and interpret one attempt, all within ``timeout``."""
        vendor = request.vendor
        started_at, began = self._wall(), self._now()
        if signed is None:
            try:
                ready = await self._step(
                    vendor, timeout, timer, self._signed, request, request_id, attempt, step=_SIGN
                )
            except _Overrun:
                ready = _refusal(self._hooks.overrun(vendor, "sign", timeout))
            if isinstance(ready, Refusal):
                return unsent(request, attempt, started_at, ready)
            signed = ready
        left = max(timeout - (self._now() - began), 0.0)
        limit = self.config(vendor).max_response_bytes
        sent = await self._http.asend(signed, left, timer=timer, max_response_bytes=limit)
        reading = max(timeout - (self._now() - began), min(_READ_FLOOR, timeout))
        stage = Stage()
        try:
            args = (self._hooks, signed, sent, attempt, started_at, stage)
            return await self._step(vendor, reading, timer, interpret, *args, step=_READ, sent=sent)
        except _Overrun:
            fault = self._hooks.overrun(vendor, stage.hook, reading)
            unread = Classification(ErrorClass.ANSWER_UNREAD, fault.classification.reason)
            return failed(signed, sent, attempt, started_at, unread, fault)

    async def achallenge(
        self, vendor: str, request_id: str, timeout: float, timer: Timer | None = None
    ) -> tuple[CallOutcome, Challenge | None]:
        """Ask ``vendor`` to issue a challenge: build, sign, send and read on the vendor's
        lane, all within ``timeout``, as any other call (one attempt; nothing is retried:
        a second challenge would be a different one)."""
        started_at, began = self._wall(), self._now()
        try:
            ready = await self._step(
                vendor, timeout, timer, self._challenge_request, vendor, request_id, step=_CHALLENGE
            )
        except _Overrun:
            ready = _refusal(self._hooks.overrun(vendor, "build_challenge_request", timeout))
        if isinstance(ready, Refusal):
            placeholder = VendorRequest(vendor, "challenge", frozenset(), "POST", "")
            return unsent(placeholder, 1, started_at, ready), None
        left = max(timeout - (self._now() - began), 0.0)
        limit = self.config(vendor).max_response_bytes
        sent = await self._http.asend(ready, left, timer=timer, max_response_bytes=limit)
        reading = max(timeout - (self._now() - began), min(_READ_FLOOR, timeout))
        stage = Stage("parse_challenge")
        try:
            args = (self._hooks, ready, sent, 1, started_at, stage)
            read = interpret_challenge
            return await self._step(
                vendor, reading, timer, read, *args, step=_READ_CHALLENGE, sent=sent
            )
        except _Overrun:
            fault = self._hooks.overrun(vendor, stage.hook, reading)
            return failed(ready, sent, 1, started_at, fault.classification, fault), None

    def _challenge_request(self, vendor: str, request_id: str) -> VendorRequest | Refusal:
        try:
            request = self._hooks.build_challenge(vendor, request_id)
        except PluginError as exc:
            return refused(exc)
        except ConfigError as exc:
            return Refusal(Classification(ErrorClass.REQUEST_INVALID, f"local_config:{exc.key}"))
        return self._signed(request, request_id, 1)

    def close(self) -> None:
        """Let go of the worker threads (a thread stuck in a plugin is abandoned)."""
        self._runner.close()

    async def _step(
        self,
        vendor: str,
        seconds: float,
        timer: Timer | None,
        fn: Callable[..., T],
        *args: Any,
        step: str,
        sent: SendResult | None = None,
    ) -> T:
        """``fn(*args)``, the hook step ``step``, within ``seconds`` of the engine's clock: on
        the event loop when the vendor may (``_inline``; ``sent`` is the answer it reads),
        else on the vendor's lane."""
        if self._inline(vendor, sent):
            return self._run_inline(vendor, seconds, step, fn, *args)
        try:
            job = self._runner.submit(vendor, fn, *args)
        except LaneFull:  # every worker stuck and a backlog behind them: as good as overrun
            raise _Overrun from None
        try:
            with held(self.clock):
                async with (timer or asyncio.timeout)(seconds):
                    return await self._runner.wait(job)
        except TimeoutError:
            if job.finished:  # the loop was late, not the plugin: the answer is here
                return job.answer()
            job.abandon()
            raise _Overrun from None

    def _inline(self, vendor: str, sent: SendResult | None) -> bool:
        """Whether ``vendor``'s next hook step may run on the event loop (module docstring)."""
        if not self.inline_hooks:
            return False
        response = sent.response if sent is not None else None
        if response is not None and len(response.body) > INLINE_BODY:
            return False
        plugin = self.plugin(vendor)
        return plugin not in self._watchdog.demoted and self._declared_light(plugin)

    def _declared_light(self, plugin: str) -> bool:
        """The plugin's vendor declares light hooks and no other plugin reaches its calls;
        worked out again whenever the host's plugins change (new hook callers)."""
        try:
            hooks = self._host.hooks_for(plugin)
        except UnknownVendorError:  # the lane's step reports it, as it always has
            return False
        known = self._light.get(plugin)
        if known is None or known[0] is not hooks:
            light = self._host.vendor(plugin).light_hooks
            known = self._light[plugin] = (hooks, light and not self._host.cross_cutting(plugin))
        return known[1]

    def _run_inline(
        self, vendor: str, seconds: float, step: str, fn: Callable[..., T], *args: Any
    ) -> T:
        """``fn(*args)`` right here, timed for the watchdog; past ``seconds`` of the engine's
        clock the step overran, and ends as on the lane, whatever it answered."""
        began, start, cpu = self._now(), time.perf_counter(), time.thread_time()
        try:
            answer = fn(*args)
        finally:
            self._judge(vendor, step, time.thread_time() - cpu, time.perf_counter() - start)
        if self._now() - began > seconds:
            raise _Overrun
        return answer

    def _judge(self, vendor: str, step: str, cpu: float, wall: float) -> None:
        plugin = self.plugin(vendor)
        reason = self._watchdog.judge(plugin, step, cpu, wall)
        if reason is None:
            return
        origin = self._host.origin(plugin)
        log.warning(
            "plugin %s (%s) declares light hooks, but its %s step for vendor %s %s; "
            "its hooks run on the vendor's lane from now on",
            origin.plugin,
            origin.distribution or "no distribution",
            step,
            vendor,
            reason,
        )

    def _signed(
        self, request: VendorRequest, request_id: str, attempt: int
    ) -> VendorRequest | Refusal:
        try:
            return self.sign(request, request_id, attempt)
        except PluginError as exc:
            return refused(exc)
        except ConfigError as exc:
            return Refusal(Classification(ErrorClass.REQUEST_INVALID, f"local_config:{exc.key}"))

    def _now(self) -> float:
        return self.clock.monotonic() if self.clock is not None else time.monotonic()


def _refusal(fault: PluginFault) -> Refusal:
    return Refusal(fault.classification, fault)
