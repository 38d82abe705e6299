"""Calling one vendor's hooks, and what happens when a plugin breaks its side of the contract.

What a hook raises on purpose keeps its meaning: ``ProtocolError`` (a malformed answer),
``InvalidEvidenceError`` or ``ConfigError`` while building or signing (a local refusal, nothing
sent). Anything else, a firstresult hook answering nothing, or a hook overrunning its time is
the plugin's own bug: a ``PluginFault`` naming the plugin (the innermost hook implementation on
the traceback), raised as ``PluginError`` without the original chained to it, logged by type.

Calls are made by instance name (``[vendors.<instance>]``); an instance of another vendor
(``plugin = "<vendor>"``) is dispatched to that vendor's plugin with its own ``VendorSpec``,
what goes in labelled with the plugin's name and what comes out with the instance's
(``_relabel``).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kycmux._config._config import VendorConfig
from kycmux._contract._host import PluginHost
from kycmux._contract._score import RawScore, Score
from kycmux._contract._taxonomy import Classification, ErrorClass
from kycmux._contract._vendor import VendorSpec
from kycmux._contract._wire import AttemptContext, VendorRequest, VendorResponse, VendorResult
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Check, Evidence
from kycmux._transport._outcome import PluginFault
from kycmux._transport._relabel import Labels, relabel, relabel_error, relabel_evidence
from kycmux.exceptions import ConfigError, InvalidEvidenceError, PluginError, ProtocolError

__all__ = ["HookCalls", "Stage"]

log = logging.getLogger("kycmux.call")


class Stage:
    """Which hook a call is in, readable from the loop when the step overruns its time; and
    the faults met on the way (a per-check fault does not end the other checks)."""

    __slots__ = ("faults", "hook")

    def __init__(self, hook: str = "parse") -> None:
        self.hook = hook
        self.faults: list[PluginFault] = []


@attrs.define
class HookCalls:
    """The hook calls of every configured vendor, each ending as the contract allows."""

    _host: PluginHost
    _configs: Mapping[str, VendorConfig]
    _wall: Callable[[], float] = time.time
    _secrets: dict[str, tuple[str, ...]] = attrs.field(init=False, factory=dict, repr=False)
    _specs: dict[str, VendorSpec] = attrs.field(init=False, factory=dict, repr=False)

    def plugin(self, vendor: str) -> str:
        """The name of the vendor whose plugin serves ``vendor`` (itself, or an instance's
        ``plugin``)."""
        config = self._configs.get(vendor)
        return vendor if config is None else config.plugin

    def spec(self, vendor: str) -> VendorSpec:
        """``vendor``'s spec under its own name (an instance's: its plugin's, renamed)."""
        found = self._specs.get(vendor)
        if found is None:
            found = self._host.vendor(self.plugin(vendor))
            if found.name != vendor:
                found = attrs.evolve(found, name=vendor)
            self._specs[vendor] = found
        return found

    def config(self, vendor: str) -> VendorConfig:
        try:
            return self._configs[vendor]
        except KeyError:
            raise ConfigError(f"vendors.{vendor}", "vendor is not configured") from None

    def secrets(self, vendor: str) -> tuple[str, ...]:
        """The vendor's configured secret values (worked out once)."""
        found = self._secrets.get(vendor)
        if found is None:
            found = self._secrets[vendor] = self.config(vendor).secrets()
        return found

    def build(
        self, vendor: str, checks: frozenset[Check], evidence: Evidence, request_id: str
    ) -> VendorRequest:
        request: VendorRequest | None = self._call(
            vendor,
            "build_request",
            (InvalidEvidenceError, ConfigError),
            checks=checks,
            evidence=evidence,
            config=self.config(vendor),
            context=AttemptContext(request_id, now=self._wall, instance=vendor),
        )
        if request is None:
            raise self._blank(vendor, "build_request", "no build_request implementation answered")
        return request

    def build_challenge(self, vendor: str, request_id: str) -> VendorRequest:
        request: VendorRequest | None = self._call(
            vendor,
            "build_challenge_request",
            (ConfigError,),
            config=self.config(vendor),
            context=AttemptContext(request_id, now=self._wall, instance=vendor),
        )
        if request is None:
            raise self._blank(
                vendor, "build_challenge_request", "no build_challenge_request implementation"
            )
        return request

    def parse_challenge(
        self, request: VendorRequest, response: VendorResponse, issued_at: float
    ) -> Challenge | VendorResult:
        vendor = request.vendor
        answer: Challenge | VendorResult | None = self._call(
            vendor,
            "parse_challenge",
            (ProtocolError,),
            request=request,
            response=response,
            config=self.config(vendor),
            issued_at=issued_at,
        )
        if answer is None:
            raise self._blank(vendor, "parse_challenge", "no parse_challenge implementation")
        if isinstance(answer, Challenge) and answer.vendor != vendor:
            raise self._blank(vendor, "parse_challenge", "challenge names another vendor")
        if not isinstance(answer, Challenge | VendorResult):
            raise self._blank(vendor, "parse_challenge", "answered neither Challenge nor result")
        return answer

    def sign(self, request: VendorRequest, request_id: str, attempt: int) -> VendorRequest:
        signed: VendorRequest | None = self._call(
            request.vendor,
            "sign",
            (ConfigError,),
            request=request,
            config=self.config(request.vendor),
            context=AttemptContext(
                request_id, attempt=attempt, now=self._wall, instance=request.vendor
            ),
        )
        return request if signed is None else signed

    def parse(self, request: VendorRequest, response: VendorResponse) -> VendorResult:
        result: VendorResult | None = self._call(
            request.vendor,
            "parse",
            (ProtocolError,),
            request=request,
            response=response,
            config=self.config(request.vendor),
        )
        if result is None:
            raise self._blank(request.vendor, "parse", "no parse implementation answered")
        return result

    def classify(
        self,
        vendor: str,
        *,
        result: VendorResult | None = None,
        check: Check | None = None,
        error: BaseException | None = None,
    ) -> Classification:
        found: Classification | None = self._call(
            vendor, "classify_error", (), result=result, check=check, error=error
        )
        if found is None:  # core's trylast default always answers; a wrapper may have eaten it
            return Classification(ErrorClass.VENDOR_UNAVAILABLE, f"{vendor}:unclassified")
        return found

    def normalize(
        self, vendor: str, check: Check, raw: RawScore, result: VendorResult | None = None
    ) -> Score:
        score: Score | None = self._call(
            vendor, "normalize_score", (ProtocolError,), check=check, raw=raw, result=result
        )
        if score is None:
            raise self._blank(
                vendor, "normalize_score", "no normalize_score implementation answered"
            )
        return score

    def overrun(self, vendor: str, hook: str, seconds: float) -> PluginFault:
        """The fault of a hook still running after ``seconds``."""
        plugin, distribution = self._host.blame(self.plugin(vendor), hook, RuntimeError())
        detail = f"{hook} still running after {seconds:g} s"
        fault = PluginFault(hook, plugin, distribution, "Timeout", detail)
        _log_fault(vendor, fault, None)
        return fault

    def _call(
        self, vendor: str, hook: str, expected: tuple[type[Exception], ...], **kwargs: Any
    ) -> Any:
        plugin = self.plugin(vendor)
        if plugin != vendor:
            return self._call_instance(vendor, plugin, hook, expected, **kwargs)
        caller = getattr(self._host.hooks_for(vendor), hook)
        try:
            return caller(vendor=self._host.vendor(vendor), **kwargs)
        except expected:
            raise
        except Exception as exc:
            error = exc
        # Raised outside the handler, so the original (whose message may quote personal
        # data) is not chained to what leaves here.
        raise self._fault(vendor, hook, error)

    def _call_instance(
        self,
        vendor: str,
        plugin: str,
        hook: str,
        expected: tuple[type[Exception], ...],
        **kwargs: Any,
    ) -> Any:
        """``_call`` for an instance of ``plugin``'s vendor: what goes in under the plugin's
        name, what comes out (or is raised on purpose) under the instance's."""
        outward = Labels(plugin, vendor)
        given = {k: _inward(v, Labels(vendor, plugin)) for k, v in kwargs.items()}
        caller = getattr(self._host.hooks_for(plugin), hook)
        try:
            return relabel(caller(vendor=self._host.vendor(plugin), **given), outward)
        except expected as exc:
            relabel_error(exc, outward)
            raise
        except Exception as exc:
            error = exc
        finally:
            if given.get("error") is not None:  # core's error again, under the instance's name
                relabel_error(given["error"], outward)
        raise self._fault(vendor, hook, error)

    def _fault(self, vendor: str, hook: str, error: BaseException) -> PluginError:
        plugin, distribution = self._host.blame(self.plugin(vendor), hook, error)
        # kycmux's own wording (core noticed the fault) is kept; a plugin's never is.
        detail = error.problem if isinstance(error, PluginError) and _from_core(error) else None
        fault = PluginFault(hook, plugin, distribution, type(error).__name__, detail)
        _log_fault(vendor, fault, error)
        return fault.error()

    def _blank(self, vendor: str, hook: str, detail: str) -> PluginError:
        plugin, distribution = self._host.blame(self.plugin(vendor), hook, RuntimeError())
        fault = PluginFault(hook, plugin, distribution, "NoResult", detail)
        _log_fault(vendor, fault, None)
        return fault.error()


def _inward(value: Any, labels: Labels) -> Any:
    """A hook argument as the plugin knows it: its vendor under the plugin's own name."""
    if isinstance(value, Evidence):
        return relabel_evidence(value, labels)
    if isinstance(value, BaseException):
        return relabel_error(value, labels)
    return relabel(value, labels)


def _from_core(error: BaseException) -> bool:
    """Raised by kycmux itself: the innermost frame is in a ``kycmux`` module."""
    frames = list(traceback.walk_tb(error.__traceback__))
    if not frames:
        return False
    module = str(frames[-1][0].f_globals.get("__name__", ""))
    return module == "kycmux" or module.startswith("kycmux.")


def _log_fault(vendor: str, fault: PluginFault, error: BaseException | None) -> None:
    log.warning(
        "plugin %s (%s) failed in %s for vendor %s: %s; recorded as its fault",
        fault.plugin,
        fault.distribution or "no distribution",
        fault.hook,
        vendor,
        fault.detail or fault.exception,
    )
    if error is not None and log.isEnabledFor(logging.DEBUG):
        # The stack's code lines only: the exception's message may quote personal data.
        where = "".join(traceback.format_tb(error.__traceback__))
        log.debug("where %s raised:\n%s", fault.exception, where)
