"""``Policy.digest()``: computed once per (frozen) policy, the same hash it always was."""

from __future__ import annotations

import attrs
import pytest

from kycmux import Check, CheckPolicy, Policy
from kycmux._decision import _policy


def _policy_under_test() -> Policy:
    return Policy("p", {Check.LIVENESS: CheckPolicy(vendors=("alpha",))})


def test_digest_is_computed_once_per_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _policy_under_test()
    calls = []
    real = _policy.to_plain

    def counting(value: object) -> object:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(_policy, "to_plain", counting)
    first = policy.digest()
    assert policy.digest() == first
    assert len(calls) == 1


def test_the_cache_changes_neither_the_hash_nor_equality() -> None:
    policy = _policy_under_test()
    # The hash of these settings before the cache existed: records stay comparable.
    assert policy.digest() == "sha256:b21aa86592f4913a"
    assert policy == _policy_under_test()  # one with its digest cached, one without
    assert "_digest" not in repr(policy)


def test_an_evolved_policy_has_its_own_digest() -> None:
    policy = _policy_under_test()
    before = policy.digest()
    later = attrs.evolve(policy, deadline=3.0)
    assert later.digest() != before
    assert attrs.evolve(later, deadline=policy.deadline).digest() == before
