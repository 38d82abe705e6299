"""Reading one exchange: parse, classify every failure, check and normalize every score.

Never raises for vendor misbehaviour or a plugin bug. A bug in ``parse`` (or in classifying a
failed call) fails the whole call as ``plugin_error``; a bug met on one check (classifying its
failed answer, normalizing its score) fails that check only, so the other checks keep what the
vendor said, a definitive negative included.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from kycmux._contract._taxonomy import Classification
from kycmux._contract._wire import VendorRequest, VendorResult
from kycmux._model._challenge import Challenge
from kycmux._model._evidence import Check
from kycmux._model._privacy import scrub
from kycmux._model._secret import reveal
from kycmux._transport._hooks import HookCalls, Stage
from kycmux._transport._http import SendResult
from kycmux._transport._outcome import CallOutcome, CheckReading, failed, fault_of, outcome
from kycmux.exceptions import PluginError, ProtocolError

__all__ = ["interpret", "interpret_challenge"]


def interpret(
    hooks: HookCalls,
    request: VendorRequest,
    sent: SendResult,
    attempt: int,
    started_at: float,
    stage: Stage | None = None,
) -> CallOutcome:
    """The outcome of one exchange, as the vendor's plugin reads it."""
    stage = stage or Stage()
    try:
        return _interpret(hooks, request, sent, attempt, started_at, stage)
    except PluginError as exc:
        fault = fault_of(exc)
        return failed(request, sent, attempt, started_at, fault.classification, fault)


def _interpret(
    hooks: HookCalls,
    request: VendorRequest,
    sent: SendResult,
    attempt: int,
    started_at: float,
    stage: Stage,
) -> CallOutcome:
    vendor = request.vendor
    result: VendorResult | None = None
    failure: Classification | None = None
    if sent.response is None:
        failure = _classify(hooks, stage, vendor, error=sent.error)
    else:
        try:
            result = hooks.parse(request, sent.response)
        except ProtocolError as exc:
            failure = _classify(hooks, stage, vendor, error=exc)
        else:
            if not result.ok:
                failure = _classify(hooks, stage, vendor, result=result)
    readings = {c: _reading(hooks, stage, result, c, failure) for c in request.checks}
    if result is not None:
        # After classifying (a code may be told apart by its message): what we sent, the
        # credentials and the person's data, never travels on from the vendor's words.
        result = _scrubbed(result, _sent_values(hooks, request))
    fault = stage.faults[0] if stage.faults else None
    return outcome(request, sent, attempt, started_at, result, failure, readings, fault)


def interpret_challenge(
    hooks: HookCalls,
    request: VendorRequest,
    sent: SendResult,
    attempt: int,
    started_at: float,
    stage: Stage | None = None,
) -> tuple[CallOutcome, Challenge | None]:
    """The outcome of a challenge-issuing exchange, and the challenge when one came."""
    stage = stage or Stage()
    result: VendorResult | None = None
    failure: Classification | None = None
    challenge: Challenge | None = None
    vendor = request.vendor
    try:
        if sent.response is None:
            failure = _classify(hooks, stage, vendor, error=sent.error)
        else:
            stage.hook = "parse_challenge"
            try:
                answer = hooks.parse_challenge(request, sent.response, started_at)
            except ProtocolError as exc:
                failure = _classify(hooks, stage, vendor, error=exc)
            else:
                if isinstance(answer, Challenge):
                    challenge = answer
                elif answer.ok:  # "fine" and no challenge: nothing anyone can perform
                    missing = ProtocolError(vendor, "a successful answer without a challenge")
                    failure = _classify(hooks, stage, vendor, error=missing)
                else:
                    result = answer
                    failure = _classify(hooks, stage, vendor, result=result)
    except PluginError as exc:
        fault = fault_of(exc)
        return failed(request, sent, attempt, started_at, fault.classification, fault), None
    if result is not None:
        result = _scrubbed(result, _sent_values(hooks, request))
    done = outcome(request, sent, attempt, started_at, result, failure, {}, None)
    return done, challenge


def _reading(
    hooks: HookCalls,
    stage: Stage,
    result: VendorResult | None,
    check: Check,
    failure: Classification | None,
) -> CheckReading:
    if failure is not None or result is None:
        return CheckReading(check, None, failure)
    vendor = result.vendor
    answer = result.answers.get(check)
    try:
        if answer is None:
            missing = ProtocolError(vendor, f"no answer for check {check.value}")
            return CheckReading(check, None, _classify(hooks, stage, vendor, error=missing))
        if not answer.ok:
            found = _classify(hooks, stage, vendor, result=result, check=check)
            return CheckReading(check, answer, found)
        if answer.score is None:
            return CheckReading(check, answer, None)
        declared = hooks.spec(vendor).score_spec(answer.score.name)
        if declared is not None and not declared.in_range(answer.score.value):
            # Whatever the plugin let through: a score off its declared scale is no answer.
            off = f"score {answer.score.name} outside [{declared.low:g}, {declared.high:g}]"
            found = _classify(hooks, stage, vendor, error=ProtocolError(vendor, off))
            return CheckReading(check, answer, found)
        stage.hook = "normalize_score"
        try:
            score = hooks.normalize(vendor, check, answer.score, result)
        except ProtocolError as exc:
            return CheckReading(check, answer, _classify(hooks, stage, vendor, error=exc))
        return CheckReading(check, answer, None, score)
    except PluginError as exc:  # this check only: the others keep what the vendor said
        fault = fault_of(exc)
        stage.faults.append(fault)
        return CheckReading(check, answer, fault.classification)


def _classify(
    hooks: HookCalls,
    stage: Stage,
    vendor: str,
    *,
    result: VendorResult | None = None,
    check: Check | None = None,
    error: BaseException | None = None,
) -> Classification:
    stage.hook = "classify_error"
    return hooks.classify(vendor, result=result, check=check, error=error)


def _sent_values(hooks: HookCalls, request: VendorRequest) -> list[str]:
    """What we sent that must not come back into a record: credentials, ID, name..."""
    sent = [str(reveal(v)) for _, v in (*request.params, *request.fields, *request.headers)]
    return [*hooks.secrets(request.vendor), *sent]


def _scrubbed(result: VendorResult, values: Sequence[str]) -> VendorResult:
    """The result with what we sent blanked out of every message the vendor wrote."""
    texts = [result.message, *(a.message for a in result.answers.values())]
    if not any(value in text for text in texts if text for value in values if len(value) >= 2):
        return result  # the usual case: nothing to blank, nothing to copy
    answers = {
        check: attrs.evolve(answer, message=scrub(answer.message, values))
        for check, answer in result.answers.items()
    }
    return attrs.evolve(result, message=scrub(result.message, values), answers=answers)
