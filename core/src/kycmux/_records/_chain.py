"""The records chain: each record's keyed hash over the one before it, and its verification.

Pure logic, no I/O. A link is ``hash = HMAC-SHA256(chain_key, prev || "\\n" || seq || "\\n" ||
body)``, with ``chain_key = HMAC-SHA256("kycmux records chain v1", record_key)`` and ``body``
the record's canonical JSON (``canonical_json``) without its chain: editing a record, deleting
one or changing their order breaks a link, and forging one needs the record key. Removing the
newest records leaves a shorter, valid chain: only a head kept elsewhere (``Head``, printed by
``kycmux records --verify``) shows it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kycmux._records._record import canonical_json

__all__ = ["CHAIN_FIELD", "Break", "Entry", "Link", "Verdict", "next_link", "verify_chain"]

CHAIN_FIELD = "chain"
"""The field of a JSON line holding its link (never part of what the link hashes)."""


@attrs.frozen
class Link:
    """One record's place in its chain.

    Attributes:
        seq: 1 for the chain's first record, then 2, 3...
        prev: The previous record's ``hash`` (empty for the first).
        hash: HMAC-SHA256 (hex) of ``prev``, ``seq`` and the record's canonical JSON.
    """

    seq: int = attrs.field(validator=attrs.validators.instance_of(int))
    prev: str = attrs.field(validator=attrs.validators.instance_of(str))
    hash: str = attrs.field(validator=attrs.validators.instance_of(str))

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev": self.prev, "hash": self.hash}

    @classmethod
    def from_plain(cls, value: Any) -> Link | None:
        """The link a line holds, ``None`` if it is not a well-formed one."""
        if not isinstance(value, Mapping):
            return None
        seq, prev, digest = value.get("seq"), value.get("prev"), value.get("hash")
        if type(seq) is not int or not isinstance(prev, str) or not isinstance(digest, str):
            return None
        return cls(seq, prev, digest)


@functools.lru_cache(maxsize=8)
def _chain_key(record_key: bytes) -> bytes:
    # HKDF-extract with a label as salt: the record key itself also keys subject hashes,
    # and a subject id the caller chose must never hash to (part of) a link.
    return hmac.new(b"kycmux records chain v1", record_key, hashlib.sha256).digest()


def _mac(key: bytes, prev: str, seq: int, body: bytes) -> str:
    data = f"{prev}\n{seq}\n".encode() + body
    return hmac.new(_chain_key(key), data, hashlib.sha256).hexdigest()


def next_link(key: bytes, prev: Link | None, body: str) -> Link:
    """The link of the record whose canonical JSON is ``body``, after ``prev``."""
    seq, before = (1, "") if prev is None else (prev.seq + 1, prev.hash)
    return Link(seq, before, _mac(key, before, seq, body.encode("utf-8")))


@attrs.frozen
class Entry:
    """A record as read back for verification.

    Attributes:
        position: Where it is: its line number in a file, its row's ``seq`` in PostgreSQL.
        request_id: Its request id, if it has one.
        plain: The record's data without its link; ``None`` if it could not be read.
        link: Its link; ``None`` when it has none (written without a record key).
        problem: Why it could not be read (malformed JSON...), if so.
    """

    position: int
    request_id: str | None
    plain: Mapping[str, Any] | None
    link: Link | None
    problem: str | None = None


@attrs.frozen
class Break:
    """Where the chain is broken, and how.

    Attributes:
        position: The line number (file) or row seq (PostgreSQL) where it shows.
        request_id: The request id there, if known.
        kind: ``edited``, ``deleted``, ``reordered``, ``inserted``, ``unchained`` or
            ``malformed``.
        detail: One readable sentence.
    """

    position: int
    request_id: str | None
    kind: str
    detail: str


@attrs.frozen
class Verdict:
    """What verifying a chain found.

    Attributes:
        checked: Records whose links were checked.
        unchained: Records before the chain began (written without a record key).
        first_seq: The seq the chain began at (above 1: it continues an earlier file).
        head: The newest link (keep it elsewhere: it shows later truncation).
        breaks: Every break, in order.
    """

    checked: int
    unchained: int
    first_seq: int | None
    head: Link | None
    breaks: tuple[Break, ...]

    @property
    def intact(self) -> bool:
        return not self.breaks


def verify_chain(key: bytes, entries: Iterable[Entry]) -> Verdict:
    """Check every link of ``entries`` (in stored order) against ``key``."""
    entries = list(entries)
    present = {e.link.seq for e in entries if e.link is not None}
    breaks: list[Break] = []
    last: Link | None = None
    first: int | None = None
    checked = unchained = 0
    for entry in entries:
        found = _check(key, entry, last, present)
        if found is not None:
            breaks.append(found)
        if entry.link is None:
            unchained += entry.problem is None and last is None
            continue
        checked += 1
        first = entry.link.seq if first is None else first
        last = entry.link
    return Verdict(checked, unchained, first, last, tuple(breaks))


def _check(key: bytes, entry: Entry, last: Link | None, present: set[int]) -> Break | None:
    where, rid = entry.position, entry.request_id
    if entry.problem is not None or entry.plain is None:
        return Break(where, rid, "malformed", entry.problem or "unreadable")
    link = entry.link
    if link is None:
        if last is None:
            return None  # older records, from before the chain began
        return Break(where, rid, "unchained", "a record without a link after chained ones")
    body = canonical_json(entry.plain).encode("utf-8")
    if not hmac.compare_digest(_mac(key, link.prev, link.seq, body), link.hash):
        return Break(where, rid, "edited", f"record seq {link.seq} does not match its hash")
    if last is None:
        return None
    expected = last.seq + 1
    if link.seq != expected:
        if link.seq > expected and expected not in present:
            missing = f"{expected}" if link.seq == expected + 1 else f"{expected}-{link.seq - 1}"
            return Break(where, rid, "deleted", f"record seq {missing} missing before it")
        return Break(where, rid, "reordered", f"seq {link.seq} where seq {expected} belongs")
    if link.prev != last.hash:
        return Break(where, rid, "inserted", f"seq {link.seq} does not follow the record before")
    return None
