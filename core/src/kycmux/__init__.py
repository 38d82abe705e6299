"""kycmux: identity-verification (KYC) face and liveness vendors behind one plugin contract.

Vendor plugins implement the hooks in ``kycmux.hookspecs`` with ``@kycmux.hookimpl`` and declare
their vendors with a ``VendorSpec``; the engine composes them, fails over between them and
records every decision.
"""

from __future__ import annotations

from kycmux._config import Config, VendorConfig, check_base_url, is_loopback_host
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
from kycmux._idnumber import check_digit, id_number_problem
from kycmux._markers import hookimpl
from kycmux._plugins import ENTRY_POINT_GROUP, PluginFailure, PluginHost, VendorHooks
from kycmux._privacy import keyed_hash, mask_id_number, mask_name
from kycmux._score import LogLinearCalibration, RawScore, Score, ScoreKind, ScoreSpec
from kycmux._secret import Secret, reveal
from kycmux._taxonomy import CaptureIssue, Classification, ErrorClass
from kycmux._vendor import CheckOffer, ConfigField, Need, VendorSpec
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
    "AttemptContext",
    "CaptureIssue",
    "Check",
    "CheckAnswer",
    "CheckOffer",
    "Classification",
    "Config",
    "ConfigField",
    "Consent",
    "ErrorClass",
    "Evidence",
    "EvidenceKind",
    "FileMedia",
    "FilePart",
    "LogLinearCalibration",
    "Media",
    "MediaForm",
    "Need",
    "PluginFailure",
    "PluginHost",
    "RawScore",
    "Score",
    "ScoreKind",
    "ScoreSpec",
    "Secret",
    "UrlMedia",
    "VendorConfig",
    "VendorHooks",
    "VendorMediaId",
    "VendorRequest",
    "VendorResponse",
    "VendorResult",
    "VendorSpec",
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
