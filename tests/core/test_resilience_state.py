"""InMemoryStateStore: JSON values, TTLs on the injected clock, incr, compare-and-set."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kycmux.resilience import InMemoryStateStore, StateStore
from kycmux.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryStateStore:
    return InMemoryStateStore(clock)


def test_it_is_a_state_store(store: InMemoryStateStore) -> None:
    assert isinstance(store, StateStore)


def test_values_round_trip_as_json(store: InMemoryStateStore) -> None:
    store.set("k", {"state": "open", "pair": (1, 2), "until": 1.5})
    assert store.get("k") == {"state": "open", "pair": [1, 2], "until": 1.5}
    assert store.get("missing") is None


def test_values_are_copied_in_and_out(store: InMemoryStateStore) -> None:
    value = {"items": [1]}
    store.set("k", value)
    value["items"].append(2)
    copy = store.get("k")
    assert copy is not None
    copy["items"].append(3)
    assert store.get("k") == {"items": [1]}


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
).filter(lambda v: v is not None)


def _deep_lists(value: Any) -> list[Any]:
    """Every list and dict inside ``value`` (what a caller could mutate)."""
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    found = [value] if isinstance(value, dict | list) else []
    return found + [x for item in inner for x in _deep_lists(item)]


@given(_JSON)
def test_a_read_gives_what_a_json_round_trip_gives_and_shares_nothing(value: Any) -> None:
    """Reads copy the stored value without a second JSON round trip: still equal to what a
    networked store would give back, and still not the stored objects themselves."""
    store = InMemoryStateStore(FakeClock())
    store.set("k", value)
    first, second = store.get("k"), store.get("k")
    assert first == second == json.loads(json.dumps(value))
    assert type(first) is type(json.loads(json.dumps(value)))
    shared = {id(x) for x in _deep_lists(first)} & {id(x) for x in _deep_lists(second)}
    assert not shared


@pytest.mark.parametrize("bad", [object(), float("nan"), {1.5: "x"}, None])
def test_non_json_values_are_refused(store: InMemoryStateStore, bad: object) -> None:
    with pytest.raises(ValueError, match=r"JSON|None"):
        store.set("k", bad)


def test_set_with_ttl_expires_on_the_clock(store: InMemoryStateStore, clock: FakeClock) -> None:
    store.set("k", 1, ttl=10.0)
    clock.advance(9.9)
    assert store.get("k") == 1
    assert store.ttl("k") == pytest.approx(0.1)
    clock.advance(0.1)
    assert store.get("k") is None
    assert len(store) == 0


def test_set_without_ttl_clears_an_earlier_expiry(
    store: InMemoryStateStore, clock: FakeClock
) -> None:
    store.set("k", 1, ttl=1.0)
    store.set("k", 2)
    clock.advance(100.0)
    assert store.get("k") == 2
    assert store.ttl("k") is None


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_ttls_are_refused(store: InMemoryStateStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.set("k", 1, ttl=ttl)


def test_incr_counts_from_zero_and_keeps_expiry_unless_given(
    store: InMemoryStateStore, clock: FakeClock
) -> None:
    assert store.incr("n") == 1
    assert store.incr("n", 4) == 5
    assert store.incr("t", ttl=5.0) == 1
    clock.advance(3.0)
    assert store.incr("t") == 2  # no ttl given: the 5 s expiry stands
    clock.advance(2.0)
    assert store.get("t") is None
    assert store.incr("t", ttl=5.0) == 1  # an expired counter starts again


def test_incr_with_ttl_refreshes_the_expiry(store: InMemoryStateStore, clock: FakeClock) -> None:
    store.incr("t", ttl=5.0)
    clock.advance(4.0)
    store.incr("t", ttl=5.0)
    clock.advance(4.0)
    assert store.get("t") == 2


def test_incr_refuses_non_integers(store: InMemoryStateStore) -> None:
    store.set("s", "text")
    with pytest.raises(TypeError, match="non-integer"):
        store.incr("s")
    with pytest.raises(TypeError, match="amount"):
        store.incr("n", 1.5)  # type: ignore[arg-type]


def test_delete_is_idempotent(store: InMemoryStateStore) -> None:
    store.set("k", 1)
    store.delete("k")
    store.delete("k")
    assert store.get("k") is None


def test_compare_and_set_swaps_only_on_a_match(store: InMemoryStateStore) -> None:
    assert store.compare_and_set("k", None, {"v": 1})  # None: the key must be missing
    assert not store.compare_and_set("k", None, {"v": 2})
    assert not store.compare_and_set("k", {"v": 9}, {"v": 2})
    assert store.get("k") == {"v": 1}
    assert store.compare_and_set("k", {"v": 1}, {"v": 2})
    assert store.get("k") == {"v": 2}


def test_compare_and_set_compares_json_forms(store: InMemoryStateStore) -> None:
    store.set("k", {"pair": [1, 2]})
    assert store.compare_and_set("k", {"pair": (1, 2)}, {"pair": (3, 4)})
    assert store.get("k") == {"pair": [3, 4]}


def test_compare_and_set_to_none_deletes(store: InMemoryStateStore) -> None:
    store.set("k", 1)
    assert store.compare_and_set("k", 1, None)
    assert store.get("k") is None


def test_compare_and_set_sees_expired_keys_as_missing(
    store: InMemoryStateStore, clock: FakeClock
) -> None:
    store.set("k", 1, ttl=1.0)
    clock.advance(1.0)
    assert not store.compare_and_set("k", 1, 2)
    assert store.compare_and_set("k", None, 3, ttl=2.0)
    clock.advance(2.0)
    assert store.get("k") is None


def test_expired_keys_are_swept_without_being_read(
    store: InMemoryStateStore, clock: FakeClock
) -> None:
    for i in range(100):
        store.set(f"old{i}", i, ttl=1.0)
    clock.advance(2.0)
    for i in range(1024):
        store.set("live", i)
    assert len(store.keys()) == 1
