"""The kycmux plugin contract: every hook a plugin may implement.

Plugins implement hooks with ``@kycmux.hookimpl`` (pluggy project name ``kycmux``); they never
import pluggy themselves. Implementations may accept any subset of a hook's arguments.

**Dispatch rule.** A *vendor plugin* is a plugin whose ``register_vendors`` returned at least one
vendor. A call made for vendor ``V`` reaches the implementations of the plugin that registered
``V`` and of every *cross-cutting* plugin (one that registered no vendor) — never another vendor
plugin's. Cross-cutting plugins therefore see every vendor's calls; they usually implement hooks
with ``wrapper=True`` (logging, fault injection, a signing override) and tell vendors apart by
the ``vendor`` argument. Core itself registers a cross-cutting plugin with ``trylast``
defaults for ``classify_error`` (transport failures) and ``normalize_score`` (the answer's
own calibration, else the declared one), so a vendor plugin implements those only for what is
its own.

**Purity.** ``build_request``, ``sign``, ``parse``, ``classify_error``, ``normalize_score``,
``build_challenge_request`` and ``parse_challenge`` do no I/O: they take and return values,
so the sync and async engines share them and tests need no network. Files are referenced by
path and streamed by the transport. The engine calls them on worker threads (a small pool per
vendor), each bounded by the attempt's timeout.

**Exceptions.** Only these carry a meaning: ``InvalidEvidenceError`` or ``ConfigError`` from
``build_request`` / ``sign`` / ``build_challenge_request`` (a local refusal: nothing is sent),
``ProtocolError`` from ``parse`` / ``normalize_score`` / ``parse_challenge`` (a malformed
answer, never a pass). Anything else a hook raises, a
firstresult hook that answers nothing, or a hook that overruns is the plugin's own bug:
``plugin_error`` (never retried, never held against the vendor, failed over), recorded with the
plugin's name and distribution and the exception's type, never its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from kycmux._config._config import VendorConfig
    from kycmux._contract._score import RawScore, Score
    from kycmux._contract._taxonomy import Classification
    from kycmux._contract._vendor import VendorSpec
    from kycmux._contract._wire import AttemptContext, VendorRequest, VendorResponse, VendorResult
    from kycmux._model._challenge import Challenge
    from kycmux._model._evidence import Check, Evidence
    from kycmux._records._record import AttemptRecord, DecisionRecord

hookspec = pluggy.HookspecMarker("kycmux")
"""Marks a function below as a hook specification (core's; plugins use ``hookimpl``)."""

__all__ = [
    "build_challenge_request",
    "build_request",
    "classify_error",
    "hookspec",
    "normalize_score",
    "observes",
    "on_attempt",
    "on_breaker_transition",
    "on_decision",
    "parse",
    "parse_challenge",
    "register_vendors",
    "sign",
]


@hookspec
def register_vendors() -> Sequence[VendorSpec]:
    """Declare the vendors this plugin provides.

    Called once per plugin when it is registered, on that plugin alone. A plugin returning at
    least one spec becomes a vendor plugin for those names (see the dispatch rule); a plugin
    that does not implement the hook, or returns an empty sequence, is cross-cutting.

    :return: The plugin's vendor specs (name, display name, checks with the evidence each needs,
        configuration fields, default base URL, score calibrations, simulator factory). An
        invalid spec, or a name another plugin already registered, gets the plugin reported and
        skipped.

    Not ``firstresult``: every plugin's list is collected.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def build_request(
    vendor: VendorSpec,
    checks: frozenset[Check],
    evidence: Evidence,
    config: VendorConfig,
    context: AttemptContext,
) -> VendorRequest | None:
    """Build the unsigned request serving ``checks`` for ``vendor`` from ``evidence``.

    :param vendor: The vendor being called: the plugin's own spec, also when the call is for
        another account or region of it (a vendor instance, named by ``context.instance``).
    :param checks: The checks this one request must serve (all offered through one operation).
    :param evidence: The validated evidence; files are referenced, not read.
    :param config: The resolved configuration of the instance being called.
    :param context: Request id (for ``seq`` / ``session_id``), attempt number and instance.
    :return: The request, as a pure value. Raise ``InvalidEvidenceError`` (naming the field and
        the vendor's limit) for evidence this vendor cannot take; nothing is sent then.

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def sign(
    vendor: VendorSpec, request: VendorRequest, config: VendorConfig, context: AttemptContext
) -> VendorRequest | None:
    """Add the vendor's authentication to ``request``; called anew for every attempt.

    :param context: ``now`` and ``randbelow`` give the clock and the nonce source; a signature
        must never be reused across attempts.
    :return: The signed request (secrets wrapped in ``Secret``).

    ``firstresult``: the first non-None value wins. A cross-cutting ``wrapper=True``
    implementation can override or decorate every vendor's signing.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def parse(
    vendor: VendorSpec, request: VendorRequest, response: VendorResponse, config: VendorConfig
) -> VendorResult | None:
    """Read a vendor's HTTP response.

    :param request: The request that was answered (tells which checks were asked).
    :param response: Status, headers and body.
    :return: The typed result (top-level code and message, per-check answers with raw scores,
        the vendor's request id). Raise ``ProtocolError`` for anything malformed — a body that
        is not what the vendor documents, a missing, non-numeric or out-of-range score. A
        malformed answer is never a pass.

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def classify_error(
    vendor: VendorSpec,
    result: VendorResult | None,
    check: Check | None,
    error: BaseException | None,
) -> Classification | None:
    """Put one vendor failure into the common taxonomy.

    Called in three situations: ``error`` set (a transport exception or a ``ProtocolError``;
    ``result`` and ``check`` are None); ``result`` set with ``result.ok`` false and ``check``
    None (the call as a whole failed); ``result`` and ``check`` set (one check's answer did not
    complete: ``result.answers[check].ok`` is false).

    :return: A ``Classification`` (error class, machine-readable reason, capture issue), or
        None to let the next implementation decide. Vendor plugins map their documented codes
        from one table, with an explicit default for unknown codes, and declare that table in
        ``VendorSpec.codes`` (``CodeTable``) so the conformance suite (``kycmux.testing``)
        checks every row in its situation; core's ``trylast`` default classifies transport
        exceptions.

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def normalize_score(
    vendor: VendorSpec, check: Check, raw: RawScore, result: VendorResult | None = None
) -> Score | None:
    """Put a raw vendor score on the common scale.

    :param vendor: The vendor that answered.
    :param check: The check the score decides.
    :param raw: The score as parsed; ``raw.calibration`` holds the calibration the vendor
        published in this answer, when it does (built in ``parse`` with
        ``LogLinearCalibration.from_answer``, which raises ``ProtocolError`` for a malformed
        one).
    :param result: The whole parsed answer the score came in (contract v2; the engine always
        passes it, a direct call may leave it ``None``). Implementations written before it
        simply do not name it and keep working.
    :return: A ``Score`` with a FAR where a calibration applies (flagged ``extrapolated``
        outside its points), or uncalibrated, stating in ``Score.calibration`` the calibration
        used and its source. Core's ``trylast`` default reads the score on ``raw.calibration``
        (source ``answer``), else on the ``ScoreSpec`` calibration the vendor declared for
        ``raw.name`` (source ``declared``), else leaves it uncalibrated. A plugin's own
        implementation states its calibration with source ``plugin`` (or a name of its own);
        one giving a FAR without it is recorded as source ``plugin`` with no points. Raise
        ``ProtocolError`` for a malformed answer (never a pass).

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def build_challenge_request(
    vendor: VendorSpec, config: VendorConfig, context: AttemptContext
) -> VendorRequest | None:
    """Build the unsigned request that asks ``vendor`` to issue a challenge.

    Called by ``Engine.challenge`` for a vendor whose spec declares a ``ChallengeSpec``; the
    request is then signed with ``sign`` (as every other call) and sent by the engine's
    transport, within the policy's attempt timeout.

    :param vendor: The vendor asked (its ``challenge`` says what it issues).
    :param config: The vendor's resolved configuration.
    :param context: Request id (the vendor's ``seq``), attempt number, clock.
    :return: The request, as a pure value (``operation`` the spec's ``challenge.operation``,
        ``checks`` empty). Raise ``ConfigError`` for configuration it cannot work with.

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def parse_challenge(
    vendor: VendorSpec,
    request: VendorRequest,
    response: VendorResponse,
    config: VendorConfig,
    issued_at: float,
) -> Challenge | VendorResult | None:
    """Read the vendor's answer to a challenge request.

    :param request: The request that was answered.
    :param response: Status, headers and body.
    :param issued_at: UNIX time the request was sent; the challenge's ``issued_at``, and the
        start of its lifetime (``expires_at``: ``issued_at`` plus the spec's ``ttl``, or less
        if the vendor says so).
    :return: A ``Challenge`` (``vendor`` the ``vendor.name`` passed in) when the vendor issued
        one; a ``VendorResult`` with ``ok`` false (its code and message) when the vendor
        refused, which ``classify_error`` then classifies like any failed call. Raise
        ``ProtocolError`` for anything malformed.

    ``firstresult``: the first non-None value wins.
    """
    raise NotImplementedError


@hookspec
def on_attempt(record: AttemptRecord) -> None:
    """Observe one vendor attempt after it finished (for logs, metrics, audit).

    :param record: The attempt as it will appear in the decision record (already masked).
    :return: Nothing; every implementation is called. The engine dispatches through pluggy
        one plugin at a time (so ``wrapper=True`` implementations run and wrap their own
        plugin's): an exception is logged by type and swallowed, and can neither break the
        decision nor keep another plugin's observer from running.
    """


@hookspec
def on_decision(record: DecisionRecord) -> None:
    """Observe a finished decision (for logs, metrics, audit, the JSON-lines sink).

    :param record: The complete decision record (already masked; no secrets).
    :return: Nothing; every implementation is called, isolated per plugin as for
        ``on_attempt``.
    """


@hookspec
def on_breaker_transition(vendor: str, old: str, new: str, at: float) -> None:
    """Observe a vendor's circuit breaker changing state (for metrics and alerts).

    Called for the transitions this engine makes (with a shared state store, other replicas
    report theirs), on the observers' thread like ``on_attempt``, after the call that caused
    it. The hook form of ``Engine.on_breaker_transition``: a plugin gets it without the
    embedding application wiring anything.

    :param vendor: The vendor's name (an instance's own name for a vendor instance).
    :param old: The state left: ``closed``, ``open`` or ``half_open``.
    :param new: The state entered: ``closed``, ``open`` or ``half_open``.
    :param at: UNIX time (wall-clock seconds) of the transition.
    :return: Nothing; every implementation is called, isolated per plugin as for
        ``on_attempt``. Not ``firstresult``.
    """


@hookspec(firstresult=True)
def observes(hook: str) -> bool | None:
    """Say whether this plugin has anything to do, right now, for observer hook ``hook``.

    Asked once per observation, before it is handed to the observers' thread, of each plugin
    that implements both this hook and ``hook`` (``on_attempt``, ``on_decision`` or
    ``on_breaker_transition``), about itself only: the engine calls every plugin's answer
    through pluggy separately (its ``wrapper=True`` implementations of this hook run too).
    An observer plugin with nothing to report (no exporter configured, say) answers False and
    costs a decision nothing: its observer hook is not called for that observation, and when
    no observer is left (and the record sinks took a decision's record themselves) no thread
    is woken. The answer is taken when the observation is posted and holds for that
    observation (the plugins that said yes are the ones called); the next observation asks
    again, so a plugin that starts having work (an application setting a global provider
    later) answers True from then on.

    It runs on the thread that posts the observation, often the event loop, once per attempt
    and per decision: it must answer at once from what the plugin already knows (a flag, a
    ``sys.modules`` lookup), never block, never do I/O, never import anything heavy. Work that
    may be slow (building exporters) belongs in the observer hook itself, on the observers'
    thread: answer True until it is done.

    A plugin that does not implement this hook observes everything, as before it existed. A
    gate that raises counts as True (the observation is delivered), and the exception's type
    is logged once per plugin, never its message.

    :param hook: The observer hook about to be called: ``on_attempt``, ``on_decision`` or
        ``on_breaker_transition``.
    :return: False to skip this plugin's ``hook`` for this observation; True or None (no
        opinion) to have it called. ``firstresult``: within the one plugin asked, the first
        non-None answer wins.
    """
