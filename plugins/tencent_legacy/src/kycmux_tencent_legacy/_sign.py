"""The legacy Tencent image-service signature (HMAC-SHA1, "multi-use" and "single-use").

::

    original  = "a={appid}&b={bucket}&k={secret_id}&e={expired}&t={now}&r={rand}&f={fileid}"
    signature = base64(HMAC-SHA1(secret_key, original).digest() + original)

Pure functions: the plugin signs with them and the simulator verifies with them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import attrs

from kycmux import AttemptContext, Secret, VendorConfig, VendorRequest
from kycmux.exceptions import ConfigError
from kycmux_tencent_legacy._spec import DEFAULT_SIGNATURE_TTL, MAX_SIGNATURE_TTL, VENDOR

__all__ = [
    "NONCE_BOUND",
    "MalformedSignature",
    "SignatureFields",
    "digest_matches",
    "sign_request",
    "signature",
    "split_signature",
]

# ``r`` is "a random unsigned integer of at most 10 digits".
NONCE_BOUND = 10**10
_DIGEST_SIZE = 20  # HMAC-SHA1
_KEYS = ("a", "b", "k", "e", "t", "r", "f")
_UNSIGNED = re.compile(r"^[0-9]{1,10}$")


class MalformedSignature(ValueError):
    """A signature that does not decode to a digest plus a well-formed original string."""


def _nonce(_inst: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value < NONCE_BOUND:
        raise ValueError("rand must be an unsigned integer of at most 10 digits")


@attrs.frozen
class SignatureFields:
    """The parts of the signed ``original`` string.

    Attributes:
        appid: ``a``: the project's AppID.
        bucket: ``b``: the legacy bucket name (may be empty).
        secret_id: ``k``: the SecretId (not shown in the repr).
        expires: ``e``: UNIX seconds the signature stops being valid; 0 for single-use.
        now: ``t``: UNIX seconds it was made.
        rand: ``r``: the nonce.
        fileid: ``f``: the resource a single-use signature is bound to (empty otherwise).
    """

    appid: str
    bucket: str
    secret_id: str = attrs.field(repr=False)
    expires: int
    now: int
    rand: int = attrs.field(validator=_nonce)
    fileid: str = ""

    def original(self) -> str:
        return (
            f"a={self.appid}&b={self.bucket}&k={self.secret_id}&e={self.expires}"
            f"&t={self.now}&r={self.rand}&f={self.fileid}"
        )

    @classmethod
    def from_original(cls, text: str) -> SignatureFields:
        """Read an ``original`` string back; ``MalformedSignature`` if it is not one."""
        parts = text.split("&")
        if len(parts) != len(_KEYS):
            raise MalformedSignature(f"expected {len(_KEYS)} fields, got {len(parts)}")
        values: dict[str, str] = {}
        for key, part in zip(_KEYS, parts, strict=True):
            name, sep, value = part.partition("=")
            if name != key or not sep:
                raise MalformedSignature(f"expected field {key!r} in position {len(values) + 1}")
            values[key] = value
        for key in ("e", "t", "r"):
            if not _UNSIGNED.match(values[key]):
                raise MalformedSignature(f"field {key!r} must be an unsigned integer")
        return cls(
            appid=values["a"],
            bucket=values["b"],
            secret_id=values["k"],
            expires=int(values["e"]),
            now=int(values["t"]),
            rand=int(values["r"]),
            fileid=values["f"],
        )


def _digest(original: bytes, secret_key: str) -> bytes:
    # SHA-1 is the vendor's choice; HMAC-SHA1 is not affected by SHA-1 collisions.
    return hmac.new(secret_key.encode(), original, hashlib.sha1).digest()


def signature(fields: SignatureFields, secret_key: str) -> str:
    """The ``Authorization`` value for ``fields`` signed with ``secret_key``."""
    original = fields.original().encode()
    return base64.b64encode(_digest(original, secret_key) + original).decode("ascii")


def split_signature(value: str) -> tuple[bytes, SignatureFields]:
    """Decode a signature into its digest and fields (no key needed, nothing verified)."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSignature("not valid base64") from None
    if len(raw) <= _DIGEST_SIZE:
        raise MalformedSignature("too short to hold a digest and an original string")
    try:
        text = raw[_DIGEST_SIZE:].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedSignature("original string is not ASCII") from None
    return raw[:_DIGEST_SIZE], SignatureFields.from_original(text)


def digest_matches(value: str, secret_key: str) -> bool:
    """Whether the digest inside a (well-formed) signature was made with ``secret_key``."""
    digest, fields = split_signature(value)
    return hmac.compare_digest(digest, _digest(fields.original().encode(), secret_key))


def _ttl(config: VendorConfig) -> int:
    ttl = config.get("signature_ttl", DEFAULT_SIGNATURE_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_SIGNATURE_TTL:
        raise ConfigError(
            f"vendors.{VENDOR}.signature_ttl",
            f"must be whole seconds between 1 and {MAX_SIGNATURE_TTL} (three months)",
        )
    return ttl


def sign_request(
    request: VendorRequest, config: VendorConfig, context: AttemptContext
) -> VendorRequest:
    """Sign one attempt: a fresh ``t`` and nonce every time, valid for ``signature_ttl``."""
    now = int(context.now())
    fields = SignatureFields(
        appid=str(config["appid"]),
        bucket=str(config.get("bucket", "")),
        secret_id=config.reveal("secret_id"),
        expires=now + _ttl(config),
        now=now,
        rand=context.randbelow(NONCE_BOUND),
    )
    value = signature(fields, config.reveal("secret_key"))
    return request.with_header("Authorization", Secret(value))
