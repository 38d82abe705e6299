"""Signature and account codes over real loopback HTTP: the simulator produces each one, the
plugin classifies it (4, 5, 6, 9, 10, 11, 12, 13, 14, 16, 3, 24, 15)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import pytest

from kycmux import CallOutcome, Check, ErrorClass, Evidence, Secret
from kycmux.synthetic import DemoSet
from kycmux_tencent_legacy._sim import DEFAULT_ACCOUNTS, Account, TencentSimulator

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

LIVENESS = frozenset({Check.LIVENESS})
MAIN, DOCS = DEFAULT_ACCOUNTS[0], DEFAULT_ACCOUNTS[1]


def _live(demo: DemoSet) -> Evidence:
    return Evidence(video=demo["live_video"], digits=demo.digits)


def _failed(outcome: CallOutcome, code: str, error_class: ErrorClass) -> None:
    assert outcome.result is not None
    assert (outcome.result.ok, outcome.result.code) == (False, code)
    assert outcome.failure is not None
    assert (outcome.failure.error_class, outcome.failure.reason) == (
        error_class, f"tencent_legacy:{code}"
    )  # fmt: skip
    assert outcome.readings[Check.LIVENESS].failure == outcome.failure


def test_signature_round_trip_is_accepted(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(LIVENESS, _live(demo))
    assert outcome.failure is None
    assert outcome.result.ok
    assert outcome.readings[Check.LIVENESS].answer.passed is True


def test_missing_signature_is_4(wire: Wire, demo: DemoSet) -> None:
    client = wire.client()
    unsigned = client.prepare("tencent_legacy", LIVENESS, _live(demo), "req")
    _failed(wire.exchange(unsigned), "4", ErrorClass.CREDENTIALS_REJECTED)


@pytest.mark.parametrize(
    "value",
    [
        "FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==",  # the documents' sample
        base64.b64encode(b"x" * 20 + b"a=1250000000&b=&k=K&e=9&t=1").decode(),
    ],
)
def test_malformed_signature_is_5(wire: Wire, demo: DemoSet, value: str) -> None:
    client = wire.client()
    request = client.prepare("tencent_legacy", LIVENESS, _live(demo), "req")
    bad = request.with_header("Authorization", value)
    _failed(wire.exchange(bad), "5", ErrorClass.CREDENTIALS_REJECTED)


def test_signature_for_another_appid_than_the_form_is_6(wire: Wire, demo: DemoSet) -> None:
    client = wire.client()
    request = client.prepare("tencent_legacy", LIVENESS, _live(demo), "req")  # appid of MAIN
    signed = wire.sign(request, wire.config(DOCS.appid))
    _failed(wire.exchange(signed), "6", ErrorClass.CREDENTIALS_REJECTED)


def test_bucket_of_another_account_is_6_and_unknown_bucket_16(wire: Wire, demo: DemoSet) -> None:
    other = wire.config(DOCS.appid, bucket="kycmux")
    _failed(wire.call(LIVENESS, _live(demo), config=other), "6", ErrorClass.CREDENTIALS_REJECTED)
    unknown = wire.config(bucket="nosuchbucket")
    _failed(wire.call(LIVENESS, _live(demo), config=unknown), "16", ErrorClass.CREDENTIALS_REJECTED)
    own = wire.config(bucket="kycmux")
    assert wire.call(LIVENESS, _live(demo), config=own).failure is None


def test_expired_signature_is_9(wire: Wire, demo: DemoSet) -> None:
    two_minutes_ago = lambda: time.time() - 120  # noqa: E731 - a clock
    outcome = wire.call(LIVENESS, _live(demo), wall=two_minutes_ago)
    _failed(outcome, "9", ErrorClass.CREDENTIALS_REJECTED)


def test_longer_signature_ttl_outlives_the_same_delay(wire: Wire, demo: DemoSet) -> None:
    config = wire.config(signature_ttl=600)
    two_minutes_ago = lambda: time.time() - 120  # noqa: E731 - a clock
    outcome = wire.call(LIVENESS, _live(demo), config=config, wall=two_minutes_ago)
    assert outcome.failure is None


@pytest.mark.parametrize(
    ("appid", "secret_id", "secret_key", "code"),
    [
        ("1259999999", MAIN.secret_id, MAIN.secret_key, "10"),  # unknown AppID
        (MAIN.appid, "AKIDnobodyHasThisKey000000000000000", MAIN.secret_key, "11"),
        (MAIN.appid, DOCS.secret_id, DOCS.secret_key, "12"),  # another AppID's key
        (MAIN.appid, MAIN.secret_id, "not-the-secret-key", "14"),  # wrong key
    ],
)
def test_credential_codes(
    wire: Wire, demo: DemoSet, appid: str, secret_id: str, secret_key: str, code: str
) -> None:
    base = wire.config()
    values = {**base.values, "appid": appid, "secret_id": Secret(secret_id),
              "secret_key": Secret(secret_key)}  # fmt: skip
    config = attrs.evolve(base, values=values)
    _failed(wire.call(LIVENESS, _live(demo), config=config), code, ErrorClass.CREDENTIALS_REJECTED)


def test_replayed_signature_is_13_and_a_fresh_signature_goes_through(
    wire: Wire, demo: DemoSet
) -> None:
    client = wire.client()
    request = client.prepare("tencent_legacy", LIVENESS, _live(demo), "req")
    signed = wire.sign(request, nonce=4242)
    assert wire.exchange(signed).failure is None
    replayed = wire.exchange(signed)
    _failed(replayed, "13", ErrorClass.REPLAY_DETECTED)
    assert replayed.failure.error_class.retryable  # with a fresh signature only
    # What the engine does on a retry: sign anew (fresh t and r); it goes through.
    retried = client.call(request, "req", 2, 10.0)
    assert retried.failure is None


def test_account_in_arrears_is_3_account_abnormal(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(LIVENESS, _live(demo), config=wire.config("1250000003"))
    _failed(outcome, "3", ErrorClass.ACCOUNT_UNAVAILABLE)
    assert outcome.result.message == "account abnormal,errorno is:2"


def test_service_not_enabled_is_24(wire: Wire, demo: DemoSet) -> None:
    outcome = wire.call(LIVENESS, _live(demo), config=wire.config("1250000024"))
    _failed(outcome, "24", ErrorClass.ACCOUNT_UNAVAILABLE)


def test_used_up_quota_puts_the_account_in_arrears(
    wire_to: Callable[[TencentSimulator], Wire], demo: DemoSet
) -> None:
    account = Account("1250000777", "AKIDkycmuxQuota", "quota-secret", quota=2)
    wire = wire_to(TencentSimulator(accounts=[account]))
    assert wire.call(LIVENESS, _live(demo)).failure is None
    assert wire.call(LIVENESS, _live(demo)).failure is None
    _failed(wire.call(LIVENESS, _live(demo)), "3", ErrorClass.ACCOUNT_UNAVAILABLE)


def test_over_the_rate_limit_is_15(
    wire_to: Callable[[TencentSimulator], Wire], demo: DemoSet
) -> None:
    # Two requests of burst, refilled so slowly that the third is over the limit.
    wire = wire_to(TencentSimulator(rate=(0.001, 2)))
    assert wire.call(LIVENESS, _live(demo)).failure is None
    assert wire.call(LIVENESS, _live(demo)).failure is None
    outcome = wire.call(LIVENESS, _live(demo))
    _failed(outcome, "15", ErrorClass.RATE_LIMITED)


def test_simulator_clock_decides_expiry(
    wire_to: Callable[[TencentSimulator], Wire], demo: DemoSet
) -> None:
    wire = wire_to(TencentSimulator(clock=lambda: 1_700_000_000.0))
    in_time = lambda: 1_699_999_950.0  # noqa: E731 - signed 50 s before the simulator's now
    assert wire.call(LIVENESS, _live(demo), wall=in_time).failure is None
    too_old = lambda: 1_699_999_940.0  # noqa: E731 - e = t + 60 = the simulator's now
    _failed(wire.call(LIVENESS, _live(demo), wall=too_old), "9", ErrorClass.CREDENTIALS_REJECTED)
