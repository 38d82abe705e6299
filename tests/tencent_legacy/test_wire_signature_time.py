"""The simulator's signature clock over real loopback HTTP: ``e > t`` for multi-use signatures,
a bounded skew for ``t``, and replay memory as long as a signature can still be accepted.

The document: a multi-use signature has ``e > t`` and at most three months ahead; a single-use
one has ``e = 0`` and names its file in ``f``. It publishes no bound on the clock skew of ``t``:
the simulator's choice is five minutes, and a single-use signature (whose only time is ``t``)
is accepted for five minutes after ``t``. Codes: 5 for an ``original`` string that contradicts
itself (``e <= t``), 14 for a ``t`` the server cannot verify against its clock (too far ahead),
9 for a signature past its time, 13 for one seen before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from kycmux import CallOutcome, Check, ErrorClass, Evidence, Secret, VendorRequest
from kycmux.synthetic import DemoSet
from kycmux_tencent_legacy._sign import SignatureFields, signature
from kycmux_tencent_legacy._sim import DEFAULT_ACCOUNTS, TencentSimulator

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

LIVENESS = frozenset({Check.LIVENESS})
MAIN = DEFAULT_ACCOUNTS[0]
NOW = 1_700_000_000
SKEW = 300  # the simulator's documented choice: five minutes
SINGLE_USE_FILE = "/face/livedetectfour"


class Clock:
    """The simulator's wall clock, moved by the test."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wire(wire_to: Callable[[TencentSimulator], Wire], clock: Clock) -> Wire:
    return wire_to(TencentSimulator(clock=clock))


@pytest.fixture
def unsigned(wire: Wire, demo: DemoSet) -> VendorRequest:
    evidence = Evidence(video=demo["live_video"], digits=demo.digits)
    return wire.client().prepare("tencent_legacy", LIVENESS, evidence, "req")


def _signed(request: VendorRequest, *, t: int, e: int, rand: int = 1, f: str = "") -> VendorRequest:
    fields = SignatureFields(MAIN.appid, "", MAIN.secret_id, e, t, rand, f)
    return request.with_header("Authorization", Secret(signature(fields, MAIN.secret_key)))


def _accepted(outcome: CallOutcome) -> None:
    assert outcome.failure is None, outcome.failure
    assert outcome.result is not None
    assert outcome.result.ok


def _refused(outcome: CallOutcome, code: str, error_class: ErrorClass) -> None:
    assert outcome.result is not None
    assert (outcome.result.ok, outcome.result.code) == (False, code)
    assert outcome.failure is not None
    assert (outcome.failure.error_class, outcome.failure.reason) == (
        error_class,
        f"tencent_legacy:{code}",
    )


# --- multi-use: e > t ----------------------------------------------------------------------


@pytest.mark.parametrize("e_minus_t", [0, -1, -30])
def test_multi_use_signature_with_e_not_after_t_is_5(
    wire: Wire, unsigned: VendorRequest, e_minus_t: int
) -> None:
    # Still valid by the server's clock (e > now): only e > t is broken.
    t = NOW + 60
    outcome = wire.exchange(_signed(unsigned, t=t, e=t + e_minus_t, rand=10 - e_minus_t))
    _refused(outcome, "5", ErrorClass.CREDENTIALS_REJECTED)


def test_multi_use_signature_one_second_after_t_is_accepted(
    wire: Wire, unsigned: VendorRequest
) -> None:
    _accepted(wire.exchange(_signed(unsigned, t=NOW, e=NOW + 1)))


def test_multi_use_signature_lives_until_e_however_old_t_is(
    wire: Wire, unsigned: VendorRequest
) -> None:
    # Made a month ago, valid for two months: the point of a multi-use signature.
    month = 30 * 86400
    _accepted(wire.exchange(_signed(unsigned, t=NOW - month, e=NOW + month)))


# --- t ahead of the server's clock -------------------------------------------------------


def test_signed_a_day_ahead_of_the_server_clock_is_14(wire: Wire, demo: DemoSet) -> None:
    evidence = Evidence(video=demo["live_video"], digits=demo.digits)
    outcome = wire.call(LIVENESS, evidence, wall=lambda: NOW + 86400.0)
    _refused(outcome, "14", ErrorClass.CREDENTIALS_REJECTED)
    assert outcome.result is not None
    assert "clock" in outcome.result.message


@pytest.mark.parametrize("f", ["", SINGLE_USE_FILE], ids=["multi_use", "single_use"])
def test_t_up_to_the_skew_ahead_is_accepted_and_beyond_it_is_14(
    wire: Wire, unsigned: VendorRequest, f: str
) -> None:
    def at(t: int, rand: int) -> CallOutcome:
        return wire.exchange(_signed(unsigned, t=t, e=0 if f else t + 60, rand=rand, f=f))

    _accepted(at(NOW + SKEW, rand=21))
    _refused(at(NOW + SKEW + 1, rand=22), "14", ErrorClass.CREDENTIALS_REJECTED)


# --- single-use: accepted for the skew after t, remembered for as long ---------------------


def test_single_use_signature_is_refused_once_its_window_has_passed(
    wire: Wire, unsigned: VendorRequest
) -> None:
    fresh = _signed(unsigned, t=NOW - SKEW + 1, e=0, rand=31, f=SINGLE_USE_FILE)
    _accepted(wire.exchange(fresh))
    stale = _signed(unsigned, t=NOW - SKEW, e=0, rand=32, f=SINGLE_USE_FILE)
    _refused(wire.exchange(stale), "9", ErrorClass.CREDENTIALS_REJECTED)


def test_single_use_signature_is_a_replay_for_as_long_as_it_could_be_accepted(
    wire: Wire, unsigned: VendorRequest, clock: Clock
) -> None:
    once = _signed(unsigned, t=NOW, e=0, rand=41, f=SINGLE_USE_FILE)
    _accepted(wire.exchange(once))
    for later in (1, 61, 120, SKEW - 1):
        clock.now = NOW + later
        _refused(wire.exchange(once), "13", ErrorClass.REPLAY_DETECTED)
    clock.now = NOW + SKEW  # past its window: refused as expired, never accepted again
    _refused(wire.exchange(once), "9", ErrorClass.CREDENTIALS_REJECTED)
    clock.now = NOW + 86400
    _refused(wire.exchange(once), "9", ErrorClass.CREDENTIALS_REJECTED)


def test_multi_use_signature_is_remembered_until_e(
    wire: Wire, unsigned: VendorRequest, clock: Clock
) -> None:
    signed = _signed(unsigned, t=NOW, e=NOW + 600, rand=51)
    _accepted(wire.exchange(signed))
    clock.now = NOW + 599
    _refused(wire.exchange(signed), "13", ErrorClass.REPLAY_DETECTED)
    clock.now = NOW + 600
    _refused(wire.exchange(signed), "9", ErrorClass.CREDENTIALS_REJECTED)
