"""A study's results indexed by system and item, and the settings every statistic shares."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from kycmux.report._intervals import wilson_ci
from kycmux.report._stats import derive_rng
from kycmux.results._model import CHECK_TRUTHS, Label, Result, Role, implied_truth

__all__ = ["OUTCOMES", "Settings", "StudyData", "rounded", "slug"]

OUTCOMES = ("accept", "reject", "retry_capture", "review", "error")
_ROLE_ORDER = {Role.LIVE: 0, Role.OFFLINE: 1, Role.SHADOW: 2}


def rounded(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded for the summary (``None`` stays ``None``; -0.0 becomes 0.0)."""
    return None if value is None else round(float(value), digits) + 0.0


def _interval(ci: tuple[float, float] | None, digits: int) -> list[float] | None:
    return None if ci is None else [round(ci[0], digits) + 0.0, round(ci[1], digits) + 0.0]


def slug(text: str) -> str:
    """``text`` made safe and short for a file name; a changed name gets a hash suffix, so two
    names never share a file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:40]
    if safe == text:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{safe}-{digest}" if safe else digest


@attrs.frozen
class Settings:
    """What every statistic of one summary shares.

    Attributes:
        confidence: Confidence level of every interval.
        bootstrap: Bootstrap resamples (0: no intervals).
        seed: Seed every random stream is derived from.
    """

    confidence: float
    bootstrap: int
    seed: int

    @classmethod
    def checked(cls, confidence: float, bootstrap: int, seed: int) -> Settings:
        if not 0 < confidence < 1:
            raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence}")
        if bootstrap < 0:
            raise ValueError(f"bootstrap: must be 0 (no intervals) or more, got {bootstrap}")
        if seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {seed}")
        return cls(confidence, bootstrap, seed)

    def rng(self, *names: str) -> np.random.Generator:
        return derive_rng(self.seed, *names)

    def rate(self, count: int, n: int, *names: str) -> dict[str, Any]:
        """A rate with its count, denominator and Wilson CI (``value`` None when n is 0).

        ``names`` are kept for callers; a Wilson interval draws nothing at random. With the
        bootstrap off (0 resamples) no interval is given, as for every other statistic.
        """
        del names
        ci = wilson_ci(count, n, confidence=self.confidence) if self.bootstrap else None
        return {
            "value": rounded(count / n) if n else None,
            "count": count,
            "n": n,
            "ci": _interval(ci, 4),
        }

    @staticmethod
    def stat(
        value: float | None, ci: tuple[float, float] | None, digits: int = 4
    ) -> dict[str, Any]:
        return {"value": rounded(value, digits), "ci": _interval(ci, digits)}


@attrs.frozen
class StudyData:
    """The results of one study, indexed by system and item.

    Attributes:
        name: The study's name (``None`` without results).
        systems: Who answered: live first, then offline, then shadow, by name within each.
        roles: Each system's role.
        items: Every item id, sorted (bootstrap resamples do not depend on input order).
        labels: Each item's ground truth, if known.
        rows: ``rows[system][item]``, items sorted.
        replaced: Rows dropped because a later row had the same item and system.
    """

    name: str | None
    systems: tuple[str, ...]
    roles: Mapping[str, Role]
    items: tuple[str, ...]
    labels: Mapping[str, Label | None]
    rows: Mapping[str, Mapping[str, Result]]
    replaced: int

    @classmethod
    def from_results(cls, results: Sequence[Result]) -> StudyData:
        studies = sorted({r.study for r in results})
        if len(studies) > 1:
            raise ValueError(f"results: rows of several studies ({', '.join(studies)}); one only")
        latest: dict[tuple[str, str], Result] = {}
        for result in results:
            if result.outcome not in OUTCOMES:
                raise ValueError(f"result {result.item}/{result.system}: unknown outcome")
            key = (result.system, result.item)
            if key not in latest or result.recorded_at >= latest[key].recorded_at:
                latest[key] = result
        roles = {system: row.role for (system, _), row in latest.items()}
        systems = tuple(sorted(roles, key=lambda s: (_ROLE_ORDER[roles[s]], s)))
        rows = {
            system: {
                item: latest[(system, item)] for item in sorted(i for s, i in latest if s == system)
            }
            for system in systems
        }
        items = tuple(sorted({item for _, item in latest}))
        return cls(
            name=studies[0] if studies else None,
            systems=systems,
            roles=roles,
            items=items,
            labels=_labels(latest.values()),
            rows=rows,
            replaced=len(results) - len(latest),
        )

    def only(self, systems: Iterable[str]) -> StudyData:
        """The same study with only ``systems`` (in this study's order) and the items they
        judged: what a comparison limited to them sees."""
        kept = set(systems)
        chosen = tuple(s for s in self.systems if s in kept)
        items = tuple(sorted({i for s in chosen for i in self.rows[s]}))
        return attrs.evolve(
            self,
            systems=chosen,
            roles={s: self.roles[s] for s in chosen},
            items=items,
            labels={i: self.labels[i] for i in items},
            rows={s: self.rows[s] for s in chosen},
        )

    def truth(self, result: Result, check: str) -> Label | None:
        """What ``result``'s item is for judging ``check``: its attack on the check (the
        result's own per-check truth, else what the item's label implies); ``GENUINE`` only
        when it attacks no check at all, since a vendor may rightly stop at the first attack
        it sees (a spoof of the claimed person is no evidence on face match); else ``None``.
        """
        label = self.labels.get(result.item)
        truths = {c: result.truth.get(c) or implied_truth(label, c) for c in CHECK_TRUTHS}
        own = truths.get(check)
        if own is None or own is not Label.GENUINE:
            return own
        return None if any(t not in (None, Label.GENUINE) for t in truths.values()) else own

    def results(self, system: str) -> list[Result]:
        return list(self.rows[system].values())

    def common_items(self, a: str, b: str) -> list[str]:
        """Items both systems judged, sorted."""
        return [item for item in self.rows[a] if item in self.rows[b]]

    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(self.systems, 2))

    @property
    def paired_items(self) -> int:
        return sum(1 for item in self.items if sum(item in r for r in self.rows.values()) >= 2)


def _labels(results: Iterable[Result]) -> dict[str, Label | None]:
    labels: dict[str, Label | None] = {}
    for result in results:
        known = labels.get(result.item)
        if result.label is not None and known is not None and result.label is not known:
            raise ValueError(f"item {result.item}: conflicting labels ({known}, {result.label})")
        labels[result.item] = known or result.label
    return labels
