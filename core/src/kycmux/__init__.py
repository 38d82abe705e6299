"""kycmux: identity-verification (KYC) face and liveness vendors behind one plugin contract.

Vendor plugins implement the hooks in ``kycmux.hookspecs`` with ``@kycmux.hookimpl`` and declare
their vendors with a ``VendorSpec``; the engine composes them, fails over between them and
records every decision.

The names below load on first use (``kycmux.Engine`` imports the engine, ``kycmux.hookimpl``
only pluggy), so ``import kycmux`` costs next to nothing until something is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kycmux._config._config import (
        Config,
        EngineSettings,
        VendorConfig,
        VendorResilience,
        check_base_url,
        is_loopback_host,
    )
    from kycmux._config._tables import experiment_from_table
    from kycmux._contract._codes import CodeDefault, CodeTable, DocumentedCode
    from kycmux._contract._host import ENTRY_POINT_GROUP, PluginFailure, PluginHost, VendorHooks
    from kycmux._contract._markers import hookimpl
    from kycmux._contract._score import (
        CalibrationSource,
        CalibrationUsed,
        LogLinearCalibration,
        RawScore,
        Score,
        ScoreKind,
        ScoreSpec,
    )
    from kycmux._contract._taxonomy import CaptureIssue, Classification, ErrorClass
    from kycmux._contract._vendor import (
        ChallengeSpec,
        CheckOffer,
        ConfigField,
        EvidenceRoles,
        Need,
        VendorSpec,
    )
    from kycmux._contract._wire import (
        AttemptContext,
        CheckAnswer,
        CheckReading,
        FilePart,
        VendorRequest,
        VendorResponse,
        VendorResult,
    )
    from kycmux._decision._policy import (
        CheckPolicy,
        Combine,
        Mode,
        Policy,
        Threshold,
        VendorSettings,
    )
    from kycmux._decision._verdict import Outcome, Verdict
    from kycmux._engine._answer import Decision
    from kycmux._engine._engine import Engine
    from kycmux._experiments._experiment import (
        Arm,
        LateShadow,
        ShadowExperiment,
        SplitExperiment,
        experiment_key,
    )
    from kycmux._model._challenge import Challenge, ChallengeKind
    from kycmux._model._evidence import (
        Check,
        Consent,
        Evidence,
        EvidenceKind,
        FileMedia,
        Media,
        MediaForm,
        UrlMedia,
        VendorMediaId,
        as_media,
    )
    from kycmux._model._idnumber import check_digit, id_number_problem
    from kycmux._model._privacy import keyed_hash, mask_id_number, mask_name
    from kycmux._model._secret import Secret, reveal
    from kycmux._records._postgres import PostgresRecordSink
    from kycmux._records._record import (
        AttemptRecord,
        CheckRecord,
        DecisionRecord,
        ShadowRecord,
        SkipRecord,
    )
    from kycmux._records._sink import JsonLinesSink
    from kycmux._resilience import (
        BreakerSettings,
        BreakerState,
        Clock,
        InMemoryStateStore,
        LockoutSettings,
        RateLimitSettings,
        RetryBudgetSettings,
        RetryPolicy,
        StateStore,
        SystemClock,
    )
    from kycmux._transport._call import VendorClient
    from kycmux._transport._http import HttpClient, SendResult
    from kycmux._transport._outcome import CallOutcome, PluginFault

_EXPORTS: dict[str, str] = {
    "VendorClient": "kycmux._transport._call",
    "Config": "kycmux._config._config",
    "EngineSettings": "kycmux._config._config",
    "VendorResilience": "kycmux._config._config",
    "experiment_from_table": "kycmux._config._tables",
    "RetryBudgetSettings": "kycmux._resilience",
    "VendorConfig": "kycmux._config._config",
    "check_base_url": "kycmux._config._config",
    "is_loopback_host": "kycmux._config._config",
    "Decision": "kycmux._engine._answer",
    "Engine": "kycmux._engine._engine",
    "Challenge": "kycmux._model._challenge",
    "ChallengeKind": "kycmux._model._challenge",
    "ChallengeSpec": "kycmux._contract._vendor",
    "Check": "kycmux._model._evidence",
    "Consent": "kycmux._model._evidence",
    "Evidence": "kycmux._model._evidence",
    "EvidenceKind": "kycmux._model._evidence",
    "FileMedia": "kycmux._model._evidence",
    "Media": "kycmux._model._evidence",
    "MediaForm": "kycmux._model._evidence",
    "UrlMedia": "kycmux._model._evidence",
    "VendorMediaId": "kycmux._model._evidence",
    "as_media": "kycmux._model._evidence",
    "Arm": "kycmux._experiments._experiment",
    "LateShadow": "kycmux._experiments._experiment",
    "ShadowExperiment": "kycmux._experiments._experiment",
    "SplitExperiment": "kycmux._experiments._experiment",
    "HttpClient": "kycmux._transport._http",
    "SendResult": "kycmux._transport._http",
    "experiment_key": "kycmux._experiments._experiment",
    "check_digit": "kycmux._model._idnumber",
    "id_number_problem": "kycmux._model._idnumber",
    "hookimpl": "kycmux._contract._markers",
    "CallOutcome": "kycmux._transport._outcome",
    "CheckReading": "kycmux._contract._wire",
    "PluginFault": "kycmux._transport._outcome",
    "ENTRY_POINT_GROUP": "kycmux._contract._host",
    "PluginFailure": "kycmux._contract._host",
    "PluginHost": "kycmux._contract._host",
    "VendorHooks": "kycmux._contract._host",
    "CheckPolicy": "kycmux._decision._policy",
    "Combine": "kycmux._decision._policy",
    "Mode": "kycmux._decision._policy",
    "Policy": "kycmux._decision._policy",
    "Threshold": "kycmux._decision._policy",
    "VendorSettings": "kycmux._decision._policy",
    "keyed_hash": "kycmux._model._privacy",
    "mask_id_number": "kycmux._model._privacy",
    "mask_name": "kycmux._model._privacy",
    "AttemptRecord": "kycmux._records._record",
    "CheckRecord": "kycmux._records._record",
    "DecisionRecord": "kycmux._records._record",
    "ShadowRecord": "kycmux._records._record",
    "SkipRecord": "kycmux._records._record",
    "BreakerSettings": "kycmux._resilience",
    "BreakerState": "kycmux._resilience",
    "Clock": "kycmux._resilience",
    "InMemoryStateStore": "kycmux._resilience",
    "LockoutSettings": "kycmux._resilience",
    "RateLimitSettings": "kycmux._resilience",
    "RetryPolicy": "kycmux._resilience",
    "StateStore": "kycmux._resilience",
    "SystemClock": "kycmux._resilience",
    "CalibrationSource": "kycmux._contract._score",
    "CalibrationUsed": "kycmux._contract._score",
    "LogLinearCalibration": "kycmux._contract._score",
    "RawScore": "kycmux._contract._score",
    "Score": "kycmux._contract._score",
    "ScoreKind": "kycmux._contract._score",
    "ScoreSpec": "kycmux._contract._score",
    "Secret": "kycmux._model._secret",
    "reveal": "kycmux._model._secret",
    "JsonLinesSink": "kycmux._records._sink",
    "PostgresRecordSink": "kycmux._records._postgres",
    "CaptureIssue": "kycmux._contract._taxonomy",
    "Classification": "kycmux._contract._taxonomy",
    "ErrorClass": "kycmux._contract._taxonomy",
    "CheckOffer": "kycmux._contract._vendor",
    "CodeDefault": "kycmux._contract._codes",
    "CodeTable": "kycmux._contract._codes",
    "DocumentedCode": "kycmux._contract._codes",
    "EvidenceRoles": "kycmux._contract._vendor",
    "ConfigField": "kycmux._contract._vendor",
    "Need": "kycmux._contract._vendor",
    "VendorSpec": "kycmux._contract._vendor",
    "Outcome": "kycmux._decision._verdict",
    "Verdict": "kycmux._decision._verdict",
    "AttemptContext": "kycmux._contract._wire",
    "CheckAnswer": "kycmux._contract._wire",
    "FilePart": "kycmux._contract._wire",
    "VendorRequest": "kycmux._contract._wire",
    "VendorResponse": "kycmux._contract._wire",
    "VendorResult": "kycmux._contract._wire",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kycmux' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ENTRY_POINT_GROUP",
    "Arm",
    "AttemptContext",
    "AttemptRecord",
    "BreakerSettings",
    "BreakerState",
    "CalibrationSource",
    "CalibrationUsed",
    "CallOutcome",
    "CaptureIssue",
    "Challenge",
    "ChallengeKind",
    "ChallengeSpec",
    "Check",
    "CheckAnswer",
    "CheckOffer",
    "CheckPolicy",
    "CheckReading",
    "CheckRecord",
    "Classification",
    "Clock",
    "CodeDefault",
    "CodeTable",
    "Combine",
    "Config",
    "ConfigField",
    "Consent",
    "Decision",
    "DecisionRecord",
    "DocumentedCode",
    "Engine",
    "EngineSettings",
    "ErrorClass",
    "Evidence",
    "EvidenceKind",
    "EvidenceRoles",
    "FileMedia",
    "FilePart",
    "HttpClient",
    "InMemoryStateStore",
    "JsonLinesSink",
    "LateShadow",
    "LockoutSettings",
    "LogLinearCalibration",
    "Media",
    "MediaForm",
    "Mode",
    "Need",
    "Outcome",
    "PluginFailure",
    "PluginFault",
    "PluginHost",
    "Policy",
    "PostgresRecordSink",
    "RateLimitSettings",
    "RawScore",
    "RetryBudgetSettings",
    "RetryPolicy",
    "Score",
    "ScoreKind",
    "ScoreSpec",
    "Secret",
    "SendResult",
    "ShadowExperiment",
    "ShadowRecord",
    "SkipRecord",
    "SplitExperiment",
    "StateStore",
    "SystemClock",
    "Threshold",
    "UrlMedia",
    "VendorClient",
    "VendorConfig",
    "VendorHooks",
    "VendorMediaId",
    "VendorRequest",
    "VendorResilience",
    "VendorResponse",
    "VendorResult",
    "VendorSettings",
    "VendorSpec",
    "Verdict",
    "as_media",
    "check_base_url",
    "check_digit",
    "experiment_from_table",
    "experiment_key",
    "hookimpl",
    "id_number_problem",
    "is_loopback_host",
    "keyed_hash",
    "mask_id_number",
    "mask_name",
    "reveal",
]
