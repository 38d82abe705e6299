"""What the plugin declares about the vendor: names, configuration, checks, scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kycmux import (
    ChallengeKind,
    ChallengeSpec,
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
    "CHALLENGE",
    "DEFAULT_BASE_URL",
    "DEFAULT_CHALLENGE_TTL",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_VIDEO_BYTES",
    "DEFAULT_SIGNATURE_TTL",
    "DISPLAY_NAME",
    "IDCARDCOMPARE",
    "LIVEDETECTFOUR",
    "LIVEGETFOUR",
    "PATHS",
    "SIMILARITY_SCORE",
    "SIM_SCORE",
    "VENDOR",
    "make_spec",
]

VENDOR = "tencent_legacy"
DISPLAY_NAME = "Tencent Cloud legacy face API (Youtu)"
DEFAULT_BASE_URL = "https://recognition.image.myqcloud.com"
DOCS_URL = "https://cloud.tencent.com/document/product/868"

LIVEDETECTFOUR = "livedetectfour"
IDCARDCOMPARE = "idcardcompare"
LIVEGETFOUR = "livegetfour"
PATHS = {
    LIVEDETECTFOUR: "/face/livedetectfour",
    IDCARDCOMPARE: "/face/idcardcompare",
    LIVEGETFOUR: "/face/livegetfour",
}
# How long issued digits stay usable is not published ("treat them as single-use and
# short-lived, minutes"): five minutes, here and in the simulator.
DEFAULT_CHALLENGE_TTL = 300

MIB = 1024 * 1024
DEFAULT_SIGNATURE_TTL = 60
# The documents say "preferably under 3 MB" for videos and "6 MB per request body".
DEFAULT_MAX_VIDEO_BYTES = 3 * MIB
DEFAULT_MAX_BODY_BYTES = 6 * MIB
# The signature may be valid at most three months ahead (multi-use signatures).
MAX_SIGNATURE_TTL = 90 * 24 * 3600


def _need(kind: EvidenceKind, *forms: MediaForm) -> Need:
    return Need(kind, forms or (MediaForm.FILE,))


CONFIG_FIELDS = (
    ConfigField("appid", str, "Project AppID (the appid form field and the signature's a=)", True),
    ConfigField("secret_id", str, "SecretId of the API key (signature k=)", True, secret=True),
    ConfigField("secret_key", str, "SecretKey of the API key (HMAC-SHA1 key)", True, secret=True),
    ConfigField("bucket", str, "Legacy bucket name for the signature's b= (usually empty)", False,
                default=""),
    ConfigField("signature_ttl", int, "Seconds a signature stays valid (e = t + ttl)",
                default=DEFAULT_SIGNATURE_TTL),
    ConfigField("max_video_bytes", int, "Largest video sent to livedetectfour (doc: under 3 MB)",
                default=DEFAULT_MAX_VIDEO_BYTES),
    ConfigField("max_body_bytes", int, "Largest request body (doc: 6 MB for idcardcompare)",
                default=DEFAULT_MAX_BODY_BYTES),
    ConfigField("allow_caller_digits", bool,
                "Migration only: send digits the caller chose (Evidence.digits) instead of a "
                "livegetfour challenge; recorded as such", default=False),
)  # fmt: skip

# livedetectfour's validate_data comes from livegetfour, for either check it serves.
CHALLENGE = ChallengeSpec(
    checks=(Check.LIVENESS, Check.FACE_MATCH),
    kind=ChallengeKind.DIGITS,
    operation=LIVEGETFOUR,
    ttl=DEFAULT_CHALLENGE_TTL,
    opt_in="allow_caller_digits",
)

OFFERS = (
    CheckOffer(
        Check.LIVENESS,
        LIVEDETECTFOUR,
        (_need(EvidenceKind.VIDEO), Need(EvidenceKind.DIGITS)),
    ),
    CheckOffer(
        Check.FACE_MATCH,
        LIVEDETECTFOUR,
        (
            _need(EvidenceKind.VIDEO),
            Need(EvidenceKind.DIGITS),
            _need(EvidenceKind.REFERENCE_PHOTO),
        ),
        roles=EvidenceRoles(live=EvidenceKind.VIDEO, reference=EvidenceKind.REFERENCE_PHOTO),
    ),
    CheckOffer(
        Check.ID_REGISTRY_MATCH,
        IDCARDCOMPARE,
        (
            _need(EvidenceKind.SELFIE, MediaForm.FILE, MediaForm.URL),
            Need(EvidenceKind.ID_NUMBER),
            Need(EvidenceKind.ID_NAME),
        ),
        # The reference is the registry's photo for the ID number, held by the vendor.
        roles=EvidenceRoles(live=EvidenceKind.SELFIE),
    ),
)

SIM_SCORE = ScoreSpec(
    name="sim",
    check=Check.FACE_MATCH,
    kind=ScoreKind.SIMILARITY,
    low=0.0,
    high=100.0,
    calibration=LogLinearCalibration(((70.0, 1e-3), (80.0, 1e-4))),
    recommended_threshold=70.0,
    note=(
        "livedetectfour doc: threshold 70 = FAR 1/1,000, 80 = FAR 1/10,000; it recommends "
        "'greater than 70' in the field table and 'sim > 75' in the usage note"
    ),
    # Both places say "greater than" (大于, '>'): a sim equal to the threshold does not pass.
    inclusive=False,
)

SIMILARITY_SCORE = ScoreSpec(
    name="similarity",
    check=Check.ID_REGISTRY_MATCH,
    kind=ScoreKind.SIMILARITY,
    low=0.0,
    high=100.0,
    calibration=None,
    recommended_threshold=75.0,
    note="vendor publishes no FAR table; idcardcompare doc recommends 'same person' above 75",
    # "推荐相似度大于75时可判断为同一人": strictly greater than the threshold.
    inclusive=False,
)


def make_spec(
    simulator: Callable[[], Simulator] | None, codes: CodeTable | None = None
) -> VendorSpec:
    """The vendor spec, with the simulator factory the package ships."""
    return VendorSpec(
        name=VENDOR,
        display_name=DISPLAY_NAME,
        default_base_url=DEFAULT_BASE_URL,
        offers=OFFERS,
        config_fields=CONFIG_FIELDS,
        scores=(SIM_SCORE, SIMILARITY_SCORE),
        simulator=simulator,
        docs_url=DOCS_URL,
        codes=codes,
        challenge=CHALLENGE,
        # Checked: building reads file sizes and headers only (videos and photos are streamed
        # by the transport), signing is one HMAC-SHA1, reading is json.loads of a few hundred
        # bytes (one linear pass more for trailing commas), classifying a table lookup.
        light_hooks=True,
    )
