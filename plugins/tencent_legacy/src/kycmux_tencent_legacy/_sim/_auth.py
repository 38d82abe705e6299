"""The simulator's accounts and its signature check, in the order the vendor's codes suggest."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import attrs

from kycmux import Secret
from kycmux.simkit import Quota, TokenBucket
from kycmux_tencent_legacy._errors import ACCOUNT_ABNORMAL
from kycmux_tencent_legacy._sign import (
    MalformedSignature,
    SignatureFields,
    digest_matches,
    split_signature,
)
from kycmux_tencent_legacy._spec import MAX_SIGNATURE_TTL

__all__ = [
    "DEFAULT_ACCOUNTS",
    "MAX_CLOCK_SKEW",
    "Account",
    "AccountStatus",
    "Authenticator",
    "Rejected",
]

# The documents publish no bound on how far ``t`` may stray from the server's clock; this is
# the simulator's choice. ``t`` may be at most this far ahead, and a single-use signature,
# whose only time is ``t``, is accepted until this long after it.
MAX_CLOCK_SKEW = 300


class Rejected(Exception):
    """The request is answered with a top-level Tencent ``code`` (and ``message``)."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"code {code}")


class AccountStatus(enum.StrEnum):
    """The state of a simulated account.

    Attributes:
        ACTIVE: Serves requests.
        ARREARS: In arrears: code 3 with ``account abnormal,errorno is:2``.
        NOT_ENABLED: The face service was never applied for: code 24.
    """

    ACTIVE = "active"
    ARREARS = "arrears"
    NOT_ENABLED = "not_enabled"


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class Account:
    """One AppID with its API key.

    Attributes:
        appid: The AppID.
        secret_id: The SecretId (``k=``).
        secret_key: The SecretKey (not shown in the repr).
        buckets: Legacy bucket names owned by the account (``b=`` may name one of them).
        status: Whether the account serves requests.
        quota: Calls allowed in total; when used up the account is in arrears (code 3).
    """

    appid: str
    secret_id: str
    secret_key: str = attrs.field(repr=False)
    buckets: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    status: AccountStatus = AccountStatus.ACTIVE
    quota: int | None = None

    def settings(self) -> dict[str, str | Secret]:
        """The client settings that authenticate as this account."""
        return {
            "appid": self.appid,
            "secret_id": Secret(self.secret_id),
            "secret_key": Secret(self.secret_key),
        }


DEFAULT_ACCOUNTS = (
    Account("1250000000", "AKIDkycmuxSimulatorMainKey0000000000",
            "kycmuxSimulatorMainSecret0000000", buckets={"kycmux"}),
    # The documents' sample requests use AppID 123456.
    Account("123456", "AKIDkycmuxSimulatorDocsSample000000", "kycmuxSimulatorDocsSecret0000000"),
    Account("1250000003", "AKIDkycmuxSimulatorArrears000000000", "kycmuxSimulatorArrearsSecret000",
            status=AccountStatus.ARREARS),
    Account("1250000024", "AKIDkycmuxSimulatorNotEnabled000000", "kycmuxSimulatorNotEnabledSecret",
            status=AccountStatus.NOT_ENABLED),
)  # fmt: skip


def _consistent(fields: SignatureFields) -> bool:
    """The ``original`` string agrees with itself: a multi-use signature has ``e > t`` and at
    most three months after it; a single-use one (``e = 0``) names its file."""
    if fields.expires == 0:
        return bool(fields.fileid)
    return fields.now < fields.expires <= fields.now + MAX_SIGNATURE_TTL


def _accepted_until(fields: SignatureFields) -> int:
    """The first second the signature is no longer accepted (nor need be remembered)."""
    return fields.expires if fields.expires != 0 else fields.now + MAX_CLOCK_SKEW


@attrs.define
class Authenticator:
    """Verifies signatures as the vendor would and remembers nonces against replay.

    Order of checks (first failing one answers): empty (4); malformed, ``e`` not after ``t``
    or more than three months after it, or single-use without a file (5); unknown AppID (10),
    AppID not the request's (6), unknown SecretId (11), SecretId of another AppID (12), unknown
    bucket (16) or another AppID's bucket (6); past ``e``, or a single-use signature
    ``MAX_CLOCK_SKEW`` after ``t`` (9); ``t`` more than ``MAX_CLOCK_SKEW`` ahead of the clock
    (14); wrong key (14); ``(appid, t, r)`` seen while it could still be accepted (13); then
    the account: in arrears or quota used up (3), not enabled (24), over its rate (15).
    """

    _accounts: Mapping[str, Account]
    _clock: Callable[[], float] = time.time
    _rate: tuple[float, int] | None = None
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _seen: dict[tuple[str, int, int], float] = attrs.field(init=False, factory=dict)
    _buckets: dict[str, TokenBucket] = attrs.field(init=False, factory=dict)
    _quotas: dict[str, Quota] = attrs.field(init=False, factory=dict)

    @classmethod
    def from_accounts(
        cls,
        accounts: Iterable[Account],
        *,
        clock: Callable[[], float] = time.time,
        rate: tuple[float, int] | None = None,
    ) -> Authenticator:
        """``rate`` is ``(requests per second, burst)`` per AppID; ``None`` for no limit."""
        return cls({a.appid: a for a in accounts}, clock, rate)

    def account(self, appid: str) -> Account:
        return self._accounts[appid]

    def authorize(self, header: str | None, appid: str | None) -> Account:
        """The account a request acts for; ``Rejected`` with the vendor's code otherwise."""
        if not header or not header.strip():
            raise Rejected(4, "signature empty")
        try:
            _, fields = split_signature(header)
        except MalformedSignature:
            raise Rejected(5, "signature malformed") from None
        if not _consistent(fields):
            raise Rejected(5, "signature malformed")
        account = self._accounts.get(fields.appid)
        if account is None:
            raise Rejected(10, "appid not exists")
        if appid is not None and appid != fields.appid:
            raise Rejected(6, "appid in signature does not match the request")
        self._check_key(account, fields.secret_id)
        self._check_bucket(account, fields.bucket)
        now = self._clock()
        until = _accepted_until(fields)
        if until <= now:
            raise Rejected(9, "signature expired")
        if fields.now > now + MAX_CLOCK_SKEW:
            raise Rejected(14, "signature verification failed: t is ahead of the server clock")
        if not digest_matches(header, account.secret_key):
            raise Rejected(14, "signature verification failed")
        self._remember(fields.appid, fields.now, fields.rand, until, now)
        self._check_account(account)
        return account

    def _check_key(self, account: Account, secret_id: str) -> None:
        owner = next((a for a in self._accounts.values() if a.secret_id == secret_id), None)
        if owner is None:
            raise Rejected(11, "secretid not exists")
        if owner.appid != account.appid:
            raise Rejected(12, "appid and secretid do not match")

    def _check_bucket(self, account: Account, bucket: str) -> None:
        if not bucket or bucket in account.buckets:
            return
        if any(bucket in a.buckets for a in self._accounts.values()):
            raise Rejected(6, "bucket in signature does not match the request")
        raise Rejected(16, "bucket not exists")

    def _remember(self, appid: str, t: int, r: int, until: float, now: float) -> None:
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            key = (appid, t, r)
            if self._seen.get(key, 0.0) > now:
                raise Rejected(13, "replay attack")
            self._seen[key] = until

    def _check_account(self, account: Account) -> None:
        if account.status is AccountStatus.ARREARS or not self._quota(account):
            raise Rejected(3, f"{ACCOUNT_ABNORMAL},errorno is:2")
        if account.status is AccountStatus.NOT_ENABLED:
            raise Rejected(24, "no permission, service not enabled")
        if self._rate is not None and not self._bucket(account.appid, self._rate).try_acquire():
            raise Rejected(15, "too frequent, rate limited")

    def _quota(self, account: Account) -> bool:
        if account.quota is None:
            return True
        with self._lock:
            quota = self._quotas.setdefault(account.appid, Quota(account.quota))
        return quota.try_consume()

    def _bucket(self, appid: str, rate: tuple[float, int]) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(appid)
            if bucket is None:
                bucket = self._buckets[appid] = TokenBucket(*rate)
            return bucket
