"""kycmux: identity-verification (KYC) face and liveness vendors behind one plugin contract.

Vendor plugins implement the hooks in ``kycmux.hookspecs`` with ``@kycmux.hookimpl`` and declare
their vendors with a ``VendorSpec``; the engine composes them, fails over between them and
records every decision.
"""

from __future__ import annotations

from kycmux._call import VendorClient
from kycmux._config import Config, VendorConfig, check_base_url, is_loopback_host
from kycmux._engine import Decision, Engine
from kycmux._evidence import (
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
from kycmux._experiment import Arm, LateShadow, ShadowExperiment, SplitExperiment
from kycmux._http import HttpClient
from kycmux._idnumber import check_digit, id_number_problem
from kycmux._markers import hookimpl
from kycmux._outcome import CallOutcome, CheckReading, PluginFault
from kycmux._plugins import ENTRY_POINT_GROUP, PluginFailure, PluginHost, VendorHooks
from kycmux._policy import CheckPolicy, Combine, Mode, Policy, Threshold, VendorSettings
from kycmux._privacy import keyed_hash, mask_id_number, mask_name
from kycmux._record import AttemptRecord, CheckRecord, DecisionRecord, ShadowRecord, SkipRecord
from kycmux._resilience import (
    BreakerSettings,
    BreakerState,
    Clock,
    InMemoryStateStore,
    LockoutSettings,
    RateLimitSettings,
    RetryPolicy,
    StateStore,
    SystemClock,
)
from kycmux._score import LogLinearCalibration, RawScore, Score, ScoreKind, ScoreSpec
from kycmux._secret import Secret, reveal
from kycmux._sink import JsonLinesSink
from kycmux._taxonomy import CaptureIssue, Classification, ErrorClass
from kycmux._vendor import CheckOffer, ConfigField, Need, VendorSpec
from kycmux._verdict import Outcome, Verdict
from kycmux._wire import (
    AttemptContext,
    CheckAnswer,
    FilePart,
    VendorRequest,
    VendorResponse,
    VendorResult,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Arm",
    "AttemptContext",
    "AttemptRecord",
    "BreakerSettings",
    "BreakerState",
    "CallOutcome",
    "CaptureIssue",
    "Check",
    "CheckAnswer",
    "CheckOffer",
    "CheckPolicy",
    "CheckReading",
    "CheckRecord",
    "Classification",
    "Clock",
    "Combine",
    "Config",
    "ConfigField",
    "Consent",
    "Decision",
    "DecisionRecord",
    "Engine",
    "ErrorClass",
    "Evidence",
    "EvidenceKind",
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
    "RateLimitSettings",
    "RawScore",
    "RetryPolicy",
    "Score",
    "ScoreKind",
    "ScoreSpec",
    "Secret",
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
    "VendorResponse",
    "VendorResult",
    "VendorSettings",
    "VendorSpec",
    "Verdict",
    "as_media",
    "check_base_url",
    "check_digit",
    "hookimpl",
    "id_number_problem",
    "is_loopback_host",
    "keyed_hash",
    "mask_id_number",
    "mask_name",
    "reveal",
]
