"""Where a study's answers came from, kept in its ``meta`` and read back in plain words.

A study records ``meta["source"]``: ``answers`` (per system: ``simulator`` — a vendor's local
simulator on a loopback address —, ``vendor`` — the vendor's own service — or ``replay`` —
recorded answers re-decided offline), ``data`` (``synthetic``: generated captures carrying
their truth; ``manifest``: captures supplied by the user; ``traffic``: live requests) and,
for a replay, ``replay_of`` (the study replayed), ``policy`` and ``recorded`` (the
replayed study's own ``answers``). Studies written before this
existed have no ``source``: their provenance is ``unknown`` and said to be.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = ["AnswerSource", "DataSource", "Provenance", "answer_source", "source_meta"]


class AnswerSource(enum.StrEnum):
    """Who produced a system's answers.

    Attributes:
        SIMULATOR: The vendor's local simulator (a loopback base URL).
        VENDOR: The vendor's own service.
        REPLAY: Recorded vendor answers re-decided offline under another policy.
    """

    SIMULATOR = "simulator"
    VENDOR = "vendor"
    REPLAY = "replay"


class DataSource(enum.StrEnum):
    """What was judged.

    Attributes:
        SYNTHETIC: Generated captures that carry their own truth (``kycmux synthetic-manifest``).
        MANIFEST: Captures the user supplied in a manifest.
        TRAFFIC: Live requests.
    """

    SYNTHETIC = "synthetic"
    MANIFEST = "manifest"
    TRAFFIC = "traffic"


def answer_source(base_url: str) -> AnswerSource:
    """A vendor reached on a loopback address is taken to be its simulator: plain ``http://``
    is only ever allowed there, and a real vendor is never reached on loopback."""
    from kycmux._config._config import is_loopback_host

    host = urlsplit(base_url).hostname or ""
    return AnswerSource.SIMULATOR if is_loopback_host(host) else AnswerSource.VENDOR


def source_meta(
    answers: Mapping[str, AnswerSource | str], data: DataSource | str, **extra: Any
) -> dict[str, Any]:
    """The ``meta["source"]`` value for a study (``extra``: e.g. ``replay_of``, ``policy``)."""
    return {
        "answers": {system: AnswerSource(v).value for system, v in sorted(answers.items())},
        "data": DataSource(data).value,
        **extra,
    }


def _answers(value: Any) -> dict[str, AnswerSource]:
    if not isinstance(value, Mapping):
        return {}
    found = {}
    for system, source in value.items():
        try:
            found[str(system)] = AnswerSource(source)
        except ValueError:
            continue
    return found


@attrs.frozen
class Provenance:
    """A study's provenance, read from its ``meta`` (``Provenance.of``).

    Attributes:
        answers: Per system, who produced its answers (empty: not recorded).
        data: What was judged (``None``: not recorded).
        replay_of: For a replay, the study whose recorded answers were re-decided.
        policy: For a replay, the policy they were re-decided under.
        recorded: For a replay, where the replayed study's answers came from, per system.
    """

    answers: Mapping[str, AnswerSource] = attrs.field(factory=dict)
    data: DataSource | None = None
    replay_of: str | None = None
    policy: str | None = None
    recorded: Mapping[str, AnswerSource] = attrs.field(factory=dict)

    @classmethod
    def of(cls, meta: Mapping[str, Any] | None) -> Provenance:
        source = (meta or {}).get("source")
        if not isinstance(source, Mapping):
            return cls()
        raw = source.get("data")
        data = DataSource(raw) if raw in {d.value for d in DataSource} else None
        replay_of, policy = source.get("replay_of"), source.get("policy")
        return cls(
            _answers(source.get("answers")),
            data,
            replay_of if isinstance(replay_of, str) else None,
            policy if isinstance(policy, str) else None,
            _answers(source.get("recorded")),
        )

    @property
    def known(self) -> bool:
        return bool(self.answers) or self.data is not None

    def kinds(self, systems: Iterable[str] | None = None) -> set[AnswerSource]:
        """The answer sources of ``systems`` (default: all recorded)."""
        chosen = self.answers if systems is None else [s for s in systems if s in self.answers]
        return {self.answers[s] for s in chosen}

    def simulated(self, systems: Iterable[str]) -> bool:
        """Whether a simulator produced (or, for a replay, recorded) any of these systems'
        answers."""
        chosen = list(systems)
        recorded = {self.recorded[s] for s in chosen if s in self.recorded}
        return AnswerSource.SIMULATOR in self.kinds(chosen) | recorded

    @property
    def label(self) -> str:
        """``simulated``, ``live``, ``mixed``, ``replay`` or ``unknown``."""
        kinds = self.kinds()
        if not kinds:
            return "unknown"
        if kinds == {AnswerSource.SIMULATOR}:
            return "simulated"
        if kinds == {AnswerSource.VENDOR}:
            return "live"
        if kinds == {AnswerSource.REPLAY}:
            return "replay"
        return "mixed"

    def statement(self) -> str:
        """One plain sentence saying what the numbers rank, for the top of a verdict."""
        kinds = self.kinds()
        synthetic = self.data is DataSource.SYNTHETIC
        if not self.known:
            return (
                "Where these answers came from was not recorded (a study from before kycmux "
                "recorded it): check the study before reading the numbers as vendors'."
            )
        if kinds == {AnswerSource.REPLAY}:
            from_simulators = AnswerSource.SIMULATOR in set(self.recorded.values())
            return (
                f"Replayed answers: vendor answers recorded in {self.replay_of or 'another study'}"
                f" re-decided offline under policy {self.policy or '?'}, no vendor called"
                + (
                    "; the recorded answers came from simulators, so this ranks the simulators, "
                    "not the vendors."
                    if from_simulators
                    else "."
                )
            )
        if AnswerSource.SIMULATOR in kinds:
            simulated = sorted(s for s, k in self.answers.items() if k is AnswerSource.SIMULATOR)
            who = (
                "Simulated vendors"
                if kinds == {AnswerSource.SIMULATOR}
                else (f"Partly simulated ({', '.join(simulated)} answered from simulators)")
            )
            data = ", synthetic data" if synthetic else ""
            return f"{who}{data}: this ranks the simulators, not the vendors."
        if synthetic:
            return (
                "Real vendors, synthetic data: generated captures say little about how the "
                "vendors do on real people."
            )
        return ""
