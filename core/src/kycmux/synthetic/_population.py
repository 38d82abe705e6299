"""Synthetic people: fixed or generated casts with valid PRC ID numbers and registry states."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from kycmux._model._idnumber import check_digit, id_number_problem
from kycmux._model._privacy import mask_id_number, mask_name

__all__ = ["Person", "Population", "RegistryStatus", "id_number_for"]

# Real county-level region codes (GB/T 2260), so the numbers look like genuine ones.
_REGIONS = ("110101", "310104", "440305", "330106", "510107", "420106", "320102", "610113")
_BORN_FROM = dt.date(1960, 1, 1)
_BORN_SPAN = (dt.date(2004, 12, 31) - _BORN_FROM).days + 1
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华玉兰桂平刚辉鹏飞鑫宇浩然晨曦佳琪子涵思远"


class RegistryStatus(enum.StrEnum):
    """What the national ID registry holds for a person (drives Tencent idcardcompare).

    Attributes:
        OK: A usable registry photo; the number and name match.
        PHOTO_INVALID: The registry photo is invalid (Tencent -5809).
        PHOTO_POOR: The registry photo is of poor quality (Tencent -5817).
        NUMBER_INVALID: The number is no longer valid after registration changes (Tencent -5804).
    """

    OK = "ok"
    PHOTO_INVALID = "photo_invalid"
    PHOTO_POOR = "photo_poor"
    NUMBER_INVALID = "number_invalid"


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in ("kycmux-synthetic", *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def id_number_for(person_id: str, *, female: bool | None = None, attempt: int = 0) -> str:
    """A GB 11643-valid ID number derived deterministically from ``person_id``.

    Region code from a fixed list, birth date 1960-2004, sequence number whose parity encodes
    the sex (odd = male) when ``female`` is given, then the MOD 11-2 check character.
    ``attempt`` derives an alternative number, for resolving collisions.
    """
    n = _digest("id-number", person_id, attempt)
    region = _REGIONS[n % len(_REGIONS)]
    n //= len(_REGIONS)
    born = _BORN_FROM + dt.timedelta(days=n % _BORN_SPAN)
    sequence = (n // _BORN_SPAN) % 1000
    if female is not None:
        sequence = sequence - sequence % 2 + (0 if female else 1)
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + check_digit(body)


def _id_number(_inst: Any, _attribute: attrs.Attribute[Any], value: str) -> None:
    if problem := id_number_problem(value):
        raise ValueError(f"id_number: {problem}")


def _name(_inst: Any, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip() or len(value) > 64:
        raise ValueError("name must be 1-64 characters")


@attrs.frozen
class Person:
    """One synthetic person. These people do not exist, but the repr masks the ID number and
    name all the same, so logs of synthetic runs look like logs of real ones.

    Attributes:
        person_id: Stable id (``"P0001"``) that synthetic files name in their truth.
        id_number: A GB 11643-valid resident ID number.
        name: The name on the ID, in Chinese (UTF-8).
        registry: What the national registry holds for this person.
    """

    person_id: str
    id_number: str = attrs.field(validator=_id_number, repr=lambda v: repr(mask_id_number(v)))
    name: str = attrs.field(validator=_name, repr=lambda v: repr(mask_name(v)))
    registry: RegistryStatus = attrs.field(default=RegistryStatus.OK, converter=RegistryStatus)

    @classmethod
    def from_id(
        cls,
        person_id: str,
        name: str,
        registry: RegistryStatus = RegistryStatus.OK,
        *,
        female: bool | None = None,
    ) -> Person:
        """A person whose ID number is derived from ``person_id`` (see ``id_number_for``)."""
        return cls(person_id, id_number_for(person_id, female=female), name, registry)


def _as_tuple(persons: Iterable[Person]) -> tuple[Person, ...]:
    return tuple(persons)


# The documented default cast (docs/synthetic.md lists it with the derived ID numbers).
_DEFAULT_CAST = (
    ("P0001", "张伟", False, RegistryStatus.OK),
    ("P0002", "王秀英", True, RegistryStatus.OK),
    ("P0003", "李强", False, RegistryStatus.OK),
    ("P0004", "陈静", True, RegistryStatus.OK),
    ("P0005", "欧阳明辉", False, RegistryStatus.OK),
    ("P0006", "杨帆", False, RegistryStatus.PHOTO_INVALID),
    ("P0007", "赵敏", True, RegistryStatus.PHOTO_POOR),
    ("P0008", "孙丽", True, RegistryStatus.NUMBER_INVALID),
)
# In generated populations every 20th block of persons ends with one of each non-OK status.
_GENERATED_STATUS = {
    17: RegistryStatus.PHOTO_INVALID,
    18: RegistryStatus.PHOTO_POOR,
    19: RegistryStatus.NUMBER_INVALID,
}


@attrs.frozen
class Population:
    """A cast of synthetic persons with unique ids and ID numbers.

    Attributes:
        persons: The persons, in a fixed order.
    """

    persons: tuple[Person, ...] = attrs.field(converter=_as_tuple)
    _by_id: Mapping[str, Person] = attrs.field(init=False, repr=False, eq=False)
    _by_number: Mapping[str, Person] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_id = {p.person_id: p for p in self.persons}
        by_number = {p.id_number: p for p in self.persons}
        if len(by_id) != len(self.persons) or len(by_number) != len(self.persons):
            raise ValueError("person ids and ID numbers must be unique within a population")
        # Frozen class: the indexes are derived once, here.
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_by_number", by_number)

    @classmethod
    def default(cls) -> Population:
        """The fixed cast P0001-P0008: five ``OK`` persons, then one per non-OK status."""
        return _default_population()

    @classmethod
    def generate(cls, n: int, seed: int = 0) -> Population:
        """``n`` persons ``S<seed>-00001``...; names from ``seed``; statuses by position.

        Within every block of 20 persons, positions 18, 19 and 20 have the registry statuses
        ``PHOTO_INVALID``, ``PHOTO_POOR`` and ``NUMBER_INVALID``; the rest are ``OK``.
        """
        if n < 0 or seed < 0:
            raise ValueError("n and seed must not be negative")
        persons: list[Person] = []
        taken: set[str] = set()
        for i in range(n):
            person_id = f"S{seed}-{i + 1:05d}"
            female = _digest("sex", seed, i) % 2 == 0
            number = _unique_number(person_id, female, taken)
            status = _GENERATED_STATUS.get(i % 20, RegistryStatus.OK)
            persons.append(Person(person_id, number, _generated_name(seed, i), status))
        return cls(tuple(persons))

    def by_id(self, person_id: str) -> Person:
        """The person with this id; ``KeyError`` if there is none."""
        return self._by_id[person_id]

    def by_id_number(self, id_number: str) -> Person | None:
        """The person holding this ID number (case-insensitive ``X``), or ``None``."""
        return self._by_number.get(id_number.strip().upper())

    def by_status(self, status: RegistryStatus) -> tuple[Person, ...]:
        """The persons whose registry entry has ``status``, in order."""
        return tuple(p for p in self.persons if p.registry is status)

    def __len__(self) -> int:
        return len(self.persons)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.persons)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._by_id


def _unique_number(person_id: str, female: bool, taken: set[str]) -> str:
    attempt = 0
    while (number := id_number_for(person_id, female=female, attempt=attempt)) in taken:
        attempt += 1
    taken.add(number)
    return number


def _generated_name(seed: int, index: int) -> str:
    n = _digest("name", seed, index)
    surname = _SURNAMES[n % len(_SURNAMES)]
    n //= len(_SURNAMES)
    first = _GIVEN[n % len(_GIVEN)]
    n //= len(_GIVEN)
    # About half the given names have two characters, as in real life.
    second = _GIVEN[(n // 2) % len(_GIVEN)] if n % 2 else ""
    return surname + first + second


@functools.cache
def _default_population() -> Population:
    return Population(
        tuple(
            Person.from_id(pid, name, status, female=female)
            for pid, name, female, status in _DEFAULT_CAST
        )
    )
