"""SubjectLockout: lock after the limit, cool-down expiry, success resets, hashed keys."""

from __future__ import annotations

import pytest

from kycmux.resilience import InMemoryStateStore, LockoutSettings, SubjectLockout
from kycmux.testing import FakeClock

SUBJECT = "11010519491231002X"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryStateStore:
    return InMemoryStateStore(clock)


@pytest.fixture
def lockout(clock: FakeClock, store: InMemoryStateStore) -> SubjectLockout:
    return SubjectLockout(LockoutSettings(), clock, store, hash_key=b"k" * 32)


def fail(lockout: SubjectLockout, times: int, subject: str = SUBJECT) -> list[float | None]:
    return [lockout.record_failure(subject) for _ in range(times)]


def test_defaults_follow_nist() -> None:
    settings = LockoutSettings()
    assert (settings.limit, settings.cooldown) == (5, 900.0)


def test_locks_after_five_consecutive_failures(lockout: SubjectLockout) -> None:
    assert fail(lockout, 4) == [None] * 4
    assert lockout.check(SUBJECT) is None
    assert lockout.failures(SUBJECT) == 4
    assert lockout.record_failure(SUBJECT) == 900.0
    assert lockout.check(SUBJECT) == 900.0


def test_the_lock_expires_after_the_cooldown(lockout: SubjectLockout, clock: FakeClock) -> None:
    fail(lockout, 5)
    clock.advance(899.0)
    assert lockout.check(SUBJECT) == pytest.approx(1.0)
    clock.advance(1.0)
    assert lockout.check(SUBJECT) is None
    # A fresh start: it takes the full limit again to lock.
    assert fail(lockout, 4) == [None] * 4
    assert lockout.check(SUBJECT) is None


def test_a_success_resets_the_count(lockout: SubjectLockout) -> None:
    fail(lockout, 4)
    lockout.record_success(SUBJECT)
    assert lockout.failures(SUBJECT) == 0
    assert fail(lockout, 4) == [None] * 4
    assert lockout.check(SUBJECT) is None


def test_subjects_are_counted_apart(lockout: SubjectLockout) -> None:
    fail(lockout, 5)
    assert lockout.check("someone-else") is None
    assert lockout.failures("someone-else") == 0


def test_failures_far_apart_are_not_consecutive(clock: FakeClock) -> None:
    lockout = SubjectLockout(LockoutSettings(limit=2, memory=60.0), clock)
    lockout.record_failure(SUBJECT)
    clock.advance(60.0)
    assert lockout.record_failure(SUBJECT) is None
    assert lockout.record_failure(SUBJECT) == 900.0


def test_unlock_clears_lock_and_count(lockout: SubjectLockout) -> None:
    fail(lockout, 5)
    lockout.record_failure(SUBJECT)
    lockout.unlock(SUBJECT)
    assert lockout.check(SUBJECT) is None
    assert lockout.failures(SUBJECT) == 0


def test_the_store_never_holds_the_subject_id(
    lockout: SubjectLockout, store: InMemoryStateStore
) -> None:
    fail(lockout, 5)
    lockout.record_failure(SUBJECT)
    keys = store.keys()
    assert keys
    assert all(SUBJECT not in key and SUBJECT[:10] not in key for key in keys)
    assert SUBJECT not in repr(lockout)
    assert "kkkk" not in repr(lockout)


def test_processes_with_one_key_share_the_lockout(
    clock: FakeClock, store: InMemoryStateStore
) -> None:
    one = SubjectLockout(LockoutSettings(), clock, store, hash_key=b"shared")
    two = SubjectLockout(LockoutSettings(), clock, store, hash_key=b"shared")
    fail(one, 3)
    fail(two, 2)
    assert one.check(SUBJECT) == 900.0


def test_empty_subject_is_refused(lockout: SubjectLockout) -> None:
    with pytest.raises(ValueError, match="empty"):
        lockout.check("")


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"cooldown": 0}, {"memory": float("inf")}])
def test_settings_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"limit|cooldown|memory"):
        LockoutSettings(**kwargs)  # type: ignore[arg-type]
