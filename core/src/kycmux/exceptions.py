"""Every exception kycmux raises on purpose.

The hierarchy::

    KycmuxError
    ├── ConfigError                  bad or incomplete configuration (names the key and the
    │   │                            rule, never the value); also a ValueError
    │   └── MissingSecretError       a ``${VAR}`` reference whose variable is not set
    ├── InvalidEvidenceError         evidence fails a local rule (names the field and the rule);
    │                                also a ValueError
    ├── UnsafeURLError               a plain-``http://`` URL for a host that is not loopback;
    │                                also a ValueError
    ├── PluginError                  a plugin misbehaved
    │   └── InvalidVendorError       a plugin registered a vendor spec that is not valid
    ├── UnknownVendorError           a vendor name nobody registered
    ├── ProtocolError                a vendor response we cannot read (not JSON, wrong shape,
    │   │                            a score missing or out of range); never a pass
    │   └── ResponseTooLargeError    a response body over the vendor's size limit (not read on)
    ├── SubjectLockedError           too many consecutive definitive failures for one subject
    ├── ChallengeUnavailableError    no vendor could issue the challenge a policy needs
    ├── StateUnavailableError        the shared state store (Redis) did not answer in time
    └── PolicyError                  a policy that cannot be applied (also a ConfigError)

Messages never contain secret values or personal data: they name fields, rules and limits.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChallengeUnavailableError",
    "ConfigError",
    "InvalidEvidenceError",
    "InvalidVendorError",
    "InvalidVendorNameError",
    "KycmuxError",
    "MissingSecretError",
    "PluginError",
    "PolicyError",
    "ProtocolError",
    "ResponseTooLargeError",
    "StateUnavailableError",
    "SubjectLockedError",
    "UnknownVendorError",
    "UnsafeURLError",
]


class KycmuxError(Exception):
    """Base of every exception kycmux raises on purpose."""


class ConfigError(KycmuxError, ValueError):
    """The configuration is invalid; ``key`` is the dotted path of the offending key.

    Settings classes raise it from their validators too (``BreakerSettings(failure_ratio=2)``),
    keyed by the attribute; the configuration loader prefixes the table's path.
    """

    def __init__(self, key: str, rule: str) -> None:
        self.key = key
        self.rule = rule
        super().__init__(f"{key}: {rule}")


class MissingSecretError(ConfigError):
    """A ``${VAR}`` reference names an environment variable that is not set."""

    def __init__(self, key: str, variable: str) -> None:
        self.variable = variable
        super().__init__(key, f"environment variable {variable} is not set")


class PolicyError(ConfigError):
    """A policy is inconsistent (e.g. a FAR threshold for an uncalibrated score)."""


class InvalidEvidenceError(KycmuxError, ValueError):
    """Evidence breaks a rule that can be checked locally, before anything is sent.

    Attributes:
        field: The evidence field (``"id_number"``, ``"selfie"``, ...).
        rule: What the field must satisfy, in words, including any limit.
        vendor: The vendor whose limit this is, or ``None`` for a universal rule.
    """

    def __init__(self, field: str, rule: str, *, vendor: str | None = None) -> None:
        self.field = field
        self.rule = rule
        self.vendor = vendor
        where = f" (vendor {vendor})" if vendor else ""
        super().__init__(f"{field}: {rule}{where}")


class UnsafeURLError(KycmuxError, ValueError):
    """A connection that would not be private: plain ``http://`` or TLS checks turned off,
    each allowed only for loopback hosts (the local simulators)."""

    def __init__(self, field: str, url_host: str, *, rule: str | None = None) -> None:
        self.field = field
        rule = (
            rule or f"http:// is accepted only for loopback hosts, not {url_host!r}; use https://"
        )
        super().__init__(f"{field}: {rule}")


class PluginError(KycmuxError):
    """A plugin failed to load or misbehaved.

    Attributes:
        plugin: The plugin's registration (entry-point) name.
        problem: What went wrong, in kycmux's words (never the plugin's exception message).
        fault: For a hook that failed during a call, the ``PluginFault`` (hook, plugin,
            distribution, exception type) that the attempt record carries.
    """

    def __init__(self, plugin: str, problem: str, *, fault: Any = None) -> None:
        self.plugin = plugin
        self.problem = problem
        self.fault = fault
        super().__init__(f"plugin {plugin}: {problem}")


class InvalidVendorError(PluginError):
    """A plugin registered a vendor spec that is not valid."""


class InvalidVendorNameError(KycmuxError, ValueError):
    """A name ``kycmux new-vendor`` cannot make a plugin of.

    Attributes:
        name: The name given.
        rule: What a vendor name must satisfy.
    """

    def __init__(self, name: str, rule: str) -> None:
        self.name = name
        self.rule = rule
        super().__init__(f"vendor name {name!r}: {rule}")


class UnknownVendorError(KycmuxError, LookupError):
    """No loaded plugin registered a vendor of this name."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        super().__init__(f"unknown vendor {vendor!r}")


class ProtocolError(KycmuxError):
    """A vendor's response could not be read as the vendor documents it.

    Attributes:
        vendor: The vendor that answered.
        detail: What was wrong (never the body itself: it may hold personal data).
        http_status: The HTTP status of the response, when there was one.
    """

    def __init__(self, vendor: str, detail: str, *, http_status: int | None = None) -> None:
        self.vendor = vendor
        self.detail = detail
        self.http_status = http_status
        super().__init__(f"{vendor}: malformed response: {detail}")


class ResponseTooLargeError(ProtocolError):
    """A response body went past the vendor's ``max_response_bytes``; reading stopped there.

    Attributes:
        limit: The limit in bytes.
    """

    def __init__(self, vendor: str, limit: int, *, http_status: int | None = None) -> None:
        self.limit = limit
        super().__init__(vendor, f"body larger than {limit} bytes", http_status=http_status)


class SubjectLockedError(KycmuxError):
    """The subject hit the limit of consecutive definitive failures and is cooling down."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"subject locked out; retry after {retry_after:.0f} s")


class ChallengeUnavailableError(KycmuxError):
    """``Engine.challenge`` found no vendor to issue the challenge: none the policy asks first
    needs one, or each that does was unavailable or refused.

    Attributes:
        policy: The policy's name.
        reasons: Machine-readable ``vendor:reason`` for each vendor passed over or failed
            (``tencent_legacy:circuit_open``); empty when no vendor asked first needs one.
        attempts: The attempt records of the issuing calls that were made.
    """

    def __init__(
        self, policy: str, reasons: tuple[str, ...], attempts: tuple[Any, ...] = ()
    ) -> None:
        self.policy = policy
        self.reasons = reasons
        self.attempts = attempts
        why = "; ".join(reasons) or "no vendor it asks first for a check issues challenges"
        super().__init__(f"policies.{policy}: no challenge could be issued ({why})")


class StateUnavailableError(KycmuxError):
    """The shared state store did not answer (down, paused, too slow, refused us).

    ``operation`` is the store operation (``admit``, ``subject``...). The message names the
    store's kind and the failure's type, never its address (a URL may hold a password).
    """

    def __init__(self, operation: str, why: str) -> None:
        self.operation = operation
        self.why = why
        super().__init__(f"state store unavailable during {operation}: {why}")
