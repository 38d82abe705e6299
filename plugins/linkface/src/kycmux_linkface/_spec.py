"""The ``linkface`` vendor as kycmux sees it: checks, evidence, configuration, scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kycmux import (
    Check,
    CheckOffer,
    CodeTable,
    ConfigField,
    EvidenceKind,
    EvidenceRoles,
    LogLinearCalibration,
    MediaForm,
    Need,
    ScoreKind,
    ScoreSpec,
    VendorSpec,
)

if TYPE_CHECKING:
    from kycmux.simkit import Simulator

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIVENESS_THRESHOLD",
    "DEFAULT_MAX_SELFIE_BYTES",
    "DISPLAY_NAME",
    "HACK_SCORE",
    "OPERATION",
    "PATH",
    "VENDOR",
    "VERIFY_SCORE",
    "make_spec",
]

VENDOR = "linkface"
DISPLAY_NAME = "Linkface liveness + selfie verification"
OPERATION = "liveness_selfie_verification"
PATH = "/identity/liveness_selfie_verification"
DEFAULT_BASE_URL = "https://cloudapi.linkface.cn"
DOCS_URL = "https://cloudapi.linkface.cn/identity/liveness_selfie_verification"
DEFAULT_LIVENESS_THRESHOLD = 0.5
DEFAULT_MAX_SELFIE_BYTES = 5 * 1024 * 1024


_EVERY_FORM = frozenset(MediaForm)
_NEEDS = (Need(EvidenceKind.LIVENESS_DATA, _EVERY_FORM), Need(EvidenceKind.SELFIE, _EVERY_FORM))
# The vendor compares its SDK capture with the photo sent as "selfie": that photo is the
# reference side, whatever the field is called (the card or registry photo of the claimant).
_ROLES = EvidenceRoles(live=EvidenceKind.LIVENESS_DATA, reference=EvidenceKind.SELFIE)

# The vendor's own table: one decade of false-accept rate per 0.1 of verify_score.
_VERIFY_FAR = LogLinearCalibration(
    ((0.4, 1e-1), (0.5, 1e-2), (0.6, 1e-3), (0.7, 1e-4), (0.8, 1e-5), (0.9, 1e-6))
)

VERIFY_SCORE = ScoreSpec(
    name="verify_score",
    check=Check.FACE_MATCH,
    kind=ScoreKind.SIMILARITY,
    low=0.0,
    high=1.0,
    calibration=_VERIFY_FAR,
    recommended_threshold=0.7,
    note=(
        "Linkface's published table (0.4 → 1e-1 … 0.9 → 1e-6, one decade per 0.1); "
        "the vendor recommends ≥ 0.7 (FAR 1e-4). Outside 0.4–0.9 the FAR is extrapolated."
    ),
    # The original: "大于等于0.7是同一人" (greater than or equal to 0.7 is the same person).
    inclusive=True,
)

HACK_SCORE = ScoreSpec(
    name="hack_score",
    check=Check.LIVENESS,
    kind=ScoreKind.ATTACK,
    low=0.0,
    high=1.0,
    calibration=None,
    recommended_threshold=None,
    note=(
        "Uncalibrated: Linkface publishes no threshold or error rate for hack_score. "
        "The liveness verdict is hack_score < liveness_threshold (configured, default 0.5); "
        "a score exactly at a threshold is not live."
    ),
    # No vendor wording to follow: live is strictly below the threshold, for the configured
    # liveness_threshold and a policy's raw threshold alike (a tie is not live).
    inclusive=False,
)

_CONFIG_FIELDS = (
    ConfigField("api_id", str, "API account id (half of the credential pair)", True, True),
    ConfigField("api_secret", str, "API secret", True, True),
    ConfigField(
        "credentials_in",
        str,
        "Where api_id/api_secret travel: 'form' (multipart fields) or 'query' (URL)",
        default="form",
    ),
    ConfigField(
        "selfie_auto_rotate",
        bool,
        "Ask the vendor to rotate the selfie by EXIF and face orientation",
        default=False,
    ),
    ConfigField(
        "liveness_threshold",
        float,
        "hack_score strictly below this is live (the vendor publishes no threshold)",
        default=DEFAULT_LIVENESS_THRESHOLD,
    ),
    ConfigField(
        "max_selfie_bytes",
        int,
        "Largest selfie file sent (the vendor's limit is 5 MB)",
        default=DEFAULT_MAX_SELFIE_BYTES,
    ),
)


def make_spec(
    simulator: Callable[[], Simulator] | None, codes: CodeTable | None = None
) -> VendorSpec:
    """The vendor spec ``register_vendors`` returns, with the simulator factory shipped."""
    return VendorSpec(
        name=VENDOR,
        display_name=DISPLAY_NAME,
        default_base_url=DEFAULT_BASE_URL,
        offers=(
            CheckOffer(Check.LIVENESS, OPERATION, _NEEDS),
            CheckOffer(Check.FACE_MATCH, OPERATION, _NEEDS, roles=_ROLES),
        ),
        config_fields=_CONFIG_FIELDS,
        scores=(VERIFY_SCORE, HACK_SCORE),
        simulator=simulator,
        docs_url=DOCS_URL,
        codes=codes,
        # Checked: building stats the selfie and reads its header only (files are streamed by
        # the transport), signing places two credentials, reading is json.loads of a few
        # hundred bytes, classifying a table lookup; settings are read once per config.
        light_hooks=True,
    )
