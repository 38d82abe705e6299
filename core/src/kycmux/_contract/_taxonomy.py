"""The common error taxonomy: what every vendor failure means for the engine."""

from __future__ import annotations

import enum

import attrs

__all__ = ["Answer", "CaptureIssue", "Classification", "ErrorClass"]


class ErrorClass(enum.StrEnum):
    """One class per kind of vendor failure; each says what the engine should do.

    ``retryable``: the same vendor may be asked again (with a fresh signature, after backoff).
    ``may_fail_over``: the next vendor in a failover list may be asked.
    ``counts_against_health``: the failure feeds the vendor's circuit breaker.
    ``answer``: the vendor *answered* about the person (an ``Answer``), not a failure of its own.

    Attributes:
        CREDENTIALS_REJECTED: Our credentials or signature were rejected (wrong key, unknown
            AppID, expired signature). Not retryable (it will fail again), fails over, and
            counts against health: that vendor is unusable for us until someone fixes config.
        ACCOUNT_UNAVAILABLE: Account in arrears, quota used up, service not enabled. Fails over,
            counts against health, not retryable.
        RATE_LIMITED: The vendor asked us to slow down. Retryable after backoff, fails over;
            does not count against health (the client-side rate limiter reacts instead).
        VENDOR_UNAVAILABLE: Transient: 5xx, timeouts before sending, connection resets,
            malformed responses. Retryable, fails over, counts against health.
        REQUEST_INVALID: The vendor says our request is malformed: an integration bug. Not
            retryable; fails over (another vendor's integration may be sound); does not count
            against health (the vendor is fine, we are not).
        CAPTURE_UNUSABLE: The user's capture cannot be used (no face, noise, wrong digits...).
            The user must capture again: no retry, no failover (another vendor accepting a
            capture this one rejected would weaken the liveness challenge).
        NOT_LIVE: Definitive negative: not a live person / spoof. Never retried, never fails over.
        IDENTITY_MISMATCH: Definitive negative: not the same person, or name and ID number do
            not match. Never retried, never fails over.
        REGISTRY_UNUSABLE: The national registry data cannot be used (photo invalid or poor,
            ID number invalid after registration changes): manual review, no failover.
        POSSIBLY_BILLED: The request was sent and no answer came (read timeout): the vendor may
            have processed and billed it. No blind retry on that vendor; may fail over;
            counts against health.
        REPLAY_DETECTED: The vendor saw a signature nonce twice. Retryable with a fresh
            signature only (every attempt is signed anew); fails over; not a health failure.
        PLUGIN_ERROR: A plugin's hook raised (a bug in our integration, not the vendor's
            doing) or ran past the time it had. Never retried (the same bug would recur, and a
            sent request may be billed again), fails over, never counts against the vendor's
            health. The attempt record names the plugin, its distribution and the exception
            type, never the exception's message.
        ANSWER_UNREAD: The vendor answered, but its plugin was still reading the answer when
            the attempt's time ran out. Not retried (the vendor may have billed it), and no
            failover: the unread answer may have been a definitive negative. Not a health
            failure of the vendor.
    """

    CREDENTIALS_REJECTED = "credentials_rejected"
    ACCOUNT_UNAVAILABLE = "account_unavailable"
    RATE_LIMITED = "rate_limited"
    VENDOR_UNAVAILABLE = "vendor_unavailable"
    REQUEST_INVALID = "request_invalid"
    CAPTURE_UNUSABLE = "capture_unusable"
    NOT_LIVE = "not_live"
    IDENTITY_MISMATCH = "identity_mismatch"
    REGISTRY_UNUSABLE = "registry_unusable"
    POSSIBLY_BILLED = "possibly_billed"
    REPLAY_DETECTED = "replay_detected"
    PLUGIN_ERROR = "plugin_error"
    ANSWER_UNREAD = "answer_unread"

    @property
    def retryable(self) -> bool:
        return _RULES[self].retry

    @property
    def may_fail_over(self) -> bool:
        return _RULES[self].failover

    @property
    def counts_against_health(self) -> bool:
        return _RULES[self].health

    @property
    def answer(self) -> Answer | None:
        """What the vendor's answer says about the person, for the classes that are answers
        (``None``: a failure, which says nothing about the person)."""
        return _RULES[self].answer


class Answer(enum.StrEnum):
    """The kinds of answer about the person an error class can be.

    Attributes:
        NEGATIVE: Definitive: not live, not the same person.
        UNUSABLE_CAPTURE: The capture must be repeated.
        UNUSABLE_REGISTRY: The registry's data cannot be used: a person must look.
    """

    NEGATIVE = "negative"
    UNUSABLE_CAPTURE = "unusable_capture"
    UNUSABLE_REGISTRY = "unusable_registry"


@attrs.frozen
class _Rule:
    retry: bool = False
    failover: bool = False
    health: bool = False
    answer: Answer | None = None


# What each class means for the engine, in one table (the class docstrings say why).
_RULES: dict[ErrorClass, _Rule] = {
    ErrorClass.CREDENTIALS_REJECTED: _Rule(failover=True, health=True),
    ErrorClass.ACCOUNT_UNAVAILABLE: _Rule(failover=True, health=True),
    ErrorClass.RATE_LIMITED: _Rule(retry=True, failover=True),
    ErrorClass.VENDOR_UNAVAILABLE: _Rule(retry=True, failover=True, health=True),
    ErrorClass.REQUEST_INVALID: _Rule(failover=True),
    ErrorClass.CAPTURE_UNUSABLE: _Rule(answer=Answer.UNUSABLE_CAPTURE),
    ErrorClass.NOT_LIVE: _Rule(answer=Answer.NEGATIVE),
    ErrorClass.IDENTITY_MISMATCH: _Rule(answer=Answer.NEGATIVE),
    ErrorClass.REGISTRY_UNUSABLE: _Rule(answer=Answer.UNUSABLE_REGISTRY),
    ErrorClass.POSSIBLY_BILLED: _Rule(failover=True, health=True),
    ErrorClass.REPLAY_DETECTED: _Rule(retry=True, failover=True),
    ErrorClass.PLUGIN_ERROR: _Rule(failover=True),
    ErrorClass.ANSWER_UNREAD: _Rule(),
}


class CaptureIssue(enum.StrEnum):
    """Why a capture was unusable, in vendor-neutral terms, each with a hint for the user."""

    NO_FACE = "no_face"
    TOO_FEW_FACES = "too_few_faces"
    WRONG_DIGITS = "wrong_digits"
    NO_SOUND = "no_sound"
    TOO_QUIET = "too_quiet"
    TOO_NOISY = "too_noisy"
    NO_LIP_MOVEMENT = "no_lip_movement"
    LOW_RESOLUTION = "low_resolution"
    BAD_IMAGE = "bad_image"
    BAD_VIDEO = "bad_video"
    BAD_LIVENESS_DATA = "bad_liveness_data"
    CHALLENGE_VENDOR_UNAVAILABLE = "challenge_vendor_unavailable"
    CHALLENGE_SPENT = "challenge_spent"
    OTHER = "other"

    @property
    def hint(self) -> str:
        """A plain-language instruction for the person in front of the camera."""
        return _HINTS[self]


_HINTS = {
    CaptureIssue.NO_FACE: "We could not see your face. Face the camera in good, even light.",
    CaptureIssue.TOO_FEW_FACES: "Keep your whole face in the frame for the entire recording.",
    CaptureIssue.WRONG_DIGITS: "Please read the digits shown on screen again, slowly and clearly.",
    CaptureIssue.NO_SOUND: "We could not hear you. Allow microphone access and read aloud.",
    CaptureIssue.TOO_QUIET: "Please speak a little louder when you read the digits.",
    CaptureIssue.TOO_NOISY: "It is too noisy. Move somewhere quieter and try again.",
    CaptureIssue.NO_LIP_MOVEMENT: "Open your mouth clearly as you read each digit.",
    CaptureIssue.LOW_RESOLUTION: "The video quality is too low. Use the main camera.",
    CaptureIssue.BAD_IMAGE: "The photo could not be read. Please take it again.",
    CaptureIssue.BAD_VIDEO: "The video could not be read. Please record it again.",
    CaptureIssue.BAD_LIVENESS_DATA: "The liveness check did not complete. Please try again.",
    CaptureIssue.CHALLENGE_VENDOR_UNAVAILABLE: (
        "Please start again: you will get new digits to read for a new recording."
    ),
    CaptureIssue.CHALLENGE_SPENT: (
        "Please start again: you will get new digits to read for a new recording."
    ),
    CaptureIssue.OTHER: "Please try the capture again.",
}


@attrs.frozen
class Classification:
    """What a vendor failure means, as decided by ``classify_error``.

    Attributes:
        error_class: The taxonomy class: decides retry, failover and health.
        reason: A stable machine-readable reason (``"tencent_legacy:-5008"``, ``"timeout"``).
        capture_issue: For ``CAPTURE_UNUSABLE``, which issue, so the user gets a hint.
        retry_after: Seconds the vendor asked us to wait, if it said so.
    """

    error_class: ErrorClass
    reason: str
    capture_issue: CaptureIssue | None = None
    retry_after: float | None = None
