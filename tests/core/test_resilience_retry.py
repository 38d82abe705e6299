"""RetryPolicy delays (exponential, capped, jittered) and the RetryBudget against retry storms."""

from __future__ import annotations

import random

import pytest

from kycmux.resilience import Jitter, RetryBudget, RetryPolicy
from kycmux.testing import FakeClock


class Fixed:
    """A "random" source that always gives the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (3, 0.1, 2.0)
    assert (policy.multiplier, policy.jitter) == (2.0, Jitter.FULL)


def test_caps_grow_exponentially_up_to_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0, multiplier=2.0)
    caps = [policy.cap(n) for n in range(1, 8)]
    assert caps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert policy.cap(10_000) == 2.0  # no overflow on absurd attempt numbers


def test_full_jitter_stays_within_zero_and_the_cap() -> None:
    policy = RetryPolicy(max_attempts=20)
    rng = random.Random(1234)
    for attempt in range(1, 12):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= policy.cap(attempt) for d in delays)
        # Spread over the whole range, not bunched at one end.
        assert min(delays) < 0.2 * policy.cap(attempt) < 0.8 * policy.cap(attempt) < max(delays)


def test_full_jitter_delays_grow_on_average() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=100.0)
    rng = random.Random(7)
    means = [sum(policy.delay(n, rng) for _ in range(400)) / 400 for n in range(1, 6)]
    assert means == sorted(means)
    assert means[-1] > 8 * means[0]


def test_seeded_jitter_is_reproducible() -> None:
    policy = RetryPolicy()
    first = [policy.delay(2, random.Random(42)) for _ in range(3)]
    assert first[0] == first[1] == first[2]


def test_other_jitters() -> None:
    equal = RetryPolicy(jitter=Jitter.EQUAL)
    none = RetryPolicy(jitter="none")
    assert equal.delay(3, Fixed(0.0)) == pytest.approx(0.2)
    assert equal.delay(3, Fixed(0.999)) == pytest.approx(0.3998)
    assert none.delay(3, Fixed(0.5)) == pytest.approx(0.4)


def test_next_delay_stops_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    rng = Fixed(0.5)
    assert policy.next_delay(1, 10.0, rng) == pytest.approx(0.05)
    assert policy.next_delay(2, 10.0, rng) == pytest.approx(0.1)
    assert policy.next_delay(3, 10.0, rng) is None
    assert RetryPolicy(max_attempts=1).next_delay(1, 10.0, rng) is None


def test_next_delay_needs_room_for_the_next_attempt() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1.0, jitter=Jitter.NONE, min_attempt_time=0.5)
    rng = Fixed(0.0)
    assert policy.next_delay(1, 1.5, rng) == 1.0
    assert policy.next_delay(1, 1.49, rng) is None
    assert policy.next_delay(1, 0.0, rng) is None


def test_next_delay_honours_the_vendors_retry_after() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(1, 10.0, Fixed(0.5), retry_after=3.0) == 3.0
    assert policy.next_delay(1, 3.0, Fixed(0.5), retry_after=3.0) is None
    assert policy.next_delay(1, 10.0, Fixed(0.5), retry_after=0.01) == pytest.approx(0.05)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": -0.1},
        {"max_delay": float("inf")},
        {"multiplier": 0.5},
        {"base_delay": 3.0, "max_delay": 2.0},
        {"jitter": "wild"},
    ],
)
def test_policy_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        RetryPolicy().delay(0, Fixed(0.5))


def test_budget_allows_retries_in_proportion_to_first_attempts() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, cap=10.0, min_per_second=0.0, clock=clock)
    assert not budget.withdraw()
    for _ in range(10):
        budget.deposit()
    assert budget.withdraw()
    assert budget.withdraw()
    assert not budget.withdraw()


def test_budget_blocks_a_retry_storm() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, cap=10.0, min_per_second=1.0, clock=clock)
    retries = 0
    # An outage: 1000 calls over 10 s, every one of them failing and wanting to retry.
    for _ in range(10):
        for _ in range(100):
            budget.deposit()
            retries += budget.withdraw()
        clock.advance(1.0)
    assert 200 <= retries <= 200 + 11  # 20 % of first attempts, plus the 1/s floor


def test_tenths_add_up_to_a_whole_token() -> None:
    budget = RetryBudget(ratio=0.1, min_per_second=0.0, clock=FakeClock())
    for _ in range(10):
        budget.deposit()
    assert budget.withdraw()


def test_budget_is_capped() -> None:
    budget = RetryBudget(ratio=1.0, cap=3.0, min_per_second=0.0, clock=FakeClock())
    for _ in range(100):
        budget.deposit()
    assert budget.tokens == 3.0
    assert [budget.withdraw() for _ in range(4)] == [True, True, True, False]


def test_min_per_second_retries_are_always_allowed() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_per_second=2.0, clock=clock)
    assert [budget.withdraw() for _ in range(3)] == [True, True, False]
    clock.advance(0.5)
    assert [budget.withdraw() for _ in range(2)] == [True, False]
    clock.advance(100.0)  # the floor does not pile up while idle
    assert [budget.withdraw() for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    "kwargs", [{"ratio": 0}, {"cap": 0.5}, {"min_per_second": -1}, {"ratio": float("nan")}]
)
def test_budget_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"ratio|cap|min_per_second"):
        RetryBudget(**kwargs, clock=FakeClock())
