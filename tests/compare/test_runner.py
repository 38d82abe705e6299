"""``run_comparison`` against the real simulators over loopback.

An instrumented HTTP transport (``Wire``) sees every request the engine sends, tagged with the
(row, vendor) pair being verified, so the tests count exactly what reached a simulator per
pair, next to the simulators' own request counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

import kycmux
from engine.e2e_support import LINKFACE, LINKFACE_PATH, LIVEDETECTFOUR_PATH, TENCENT, SimCounter
from kycmux import (
    Check,
    CheckOffer,
    Config,
    Engine,
    EvidenceKind,
    HttpClient,
    Need,
    PluginHost,
    VendorSpec,
)
from kycmux.compare import (
    CompareSettings,
    CompareSummary,
    Manifest,
    common_checks,
    offered_checks,
    prepare_study,
    run_comparison,
)
from kycmux.exceptions import ConfigError, PolicyError
from kycmux.results import Result, Role, SqliteResultStore
from kycmux.simkit import Sandbox

VENDORS = (LINKFACE, TENCENT)
SIGHT = (Check.LIVENESS, Check.FACE_MATCH)
PATHS = {LINKFACE: LINKFACE_PATH, TENCENT: LIVEDETECTFOUR_PATH}

# The (row id, vendor) pair the current task is verifying; set by the ``traced`` fixture.
PAIR: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("pair", default=None)


class Wire(httpx.AsyncBaseTransport):
    """The engine's HTTP transport, instrumented.

    ``reached`` counts, per (row, vendor), the requests passed on to a simulator. With
    ``hold_after=K``, requests after the K-th are held (never passed on) until cancelled;
    ``held`` lists their pairs and ``all_held`` is set once ``expect_held`` are waiting.
    With ``barrier=N``, the first N requests wait until all N are in flight at once.
    """

    def __init__(
        self, *, hold_after: int | None = None, expect_held: int = 0, barrier: int = 0
    ) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.reached: Counter[tuple[str, str] | None] = Counter()
        self.received = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.held: list[tuple[str, str] | None] = []
        self.all_held = asyncio.Event()
        self._hold_after = hold_after
        self._expect_held = expect_held
        self._barrier = barrier
        self._barrier_full = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pair = PAIR.get()
        self.received += 1
        number = self.received
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._hold_after is not None and number > self._hold_after:
                await self._hold(pair)
            if number <= self._barrier:
                await self._wait_for_barrier()
            self.reached[pair] += 1
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def _hold(self, pair: tuple[str, str] | None) -> None:
        self.held.append(pair)
        if len(self.held) == self._expect_held:
            self.all_held.set()
        await asyncio.Event().wait()

    async def _wait_for_barrier(self) -> None:
        if self.in_flight >= self._barrier:
            self._barrier_full.set()
        # A hang guard, not a timing assertion: it fires only if the pool never fills up.
        await asyncio.wait_for(self._barrier_full.wait(), timeout=20)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, manifest: Manifest) -> None:
    """Every ``Engine.verify`` of a manifest row tags its requests with the (row, vendor) pair."""
    # By the SDK data, which every vendor is sent as is (a reference may be moved by role).
    rows = {row.evidence.liveness_data: row.id for row in manifest.rows}
    real = Engine.verify

    async def verify(self: Engine, evidence: Any, **kwargs: Any) -> Any:
        row = rows.get(evidence.liveness_data)
        PAIR.set(None if row is None else (row, kwargs["vendor"]))
        return await real(self, evidence, **kwargs)

    monkeypatch.setattr(Engine, "verify", verify)


def make_engine(box: Sandbox, host: PluginHost, wire: Wire, **extra: Any) -> Engine:
    """A fresh engine reaching the simulators through ``wire`` (``extra``: policies...)."""
    config = box.config(host, **extra)
    return Engine.from_config(config, host=host, http=HttpClient.create(async_transport=wire))


def all_pairs(manifest: Manifest) -> set[tuple[str, str]]:
    return {(row.id, vendor) for row in manifest.rows for vendor in VENDORS}


def settings(study: str = "study", **options: Any) -> CompareSettings:
    return CompareSettings(study, VENDORS, SIGHT, **options)


def run(
    engine: Engine,
    manifest: Manifest,
    store: SqliteResultStore,
    chosen: CompareSettings,
    progress: Any = None,
) -> CompareSummary:
    async def main() -> CompareSummary:
        async with engine:
            return await run_comparison(engine, manifest, store, chosen, progress=progress)

    return asyncio.run(main())


def run_until_held(
    engine: Engine,
    manifest: Manifest,
    store: SqliteResultStore,
    chosen: CompareSettings,
    wire: Wire,
) -> None:
    """Start a run, wait until ``wire`` holds its requests in flight, then cancel it (Ctrl-C)."""

    async def main() -> None:
        async with engine:
            task = asyncio.create_task(run_comparison(engine, manifest, store, chosen))
            held = asyncio.create_task(wire.all_held.wait())
            done, _ = await asyncio.wait({task, held}, return_when=asyncio.FIRST_COMPLETED)
            assert task not in done, "the run ended before its requests were held"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


def by_pair(results: list[Result] | Any) -> dict[tuple[str, str], Result]:
    pairs = Counter((r.item, r.system) for r in results)
    assert set(pairs.values()) == {1}, "a pair was stored more than once"
    return {(r.item, r.system): r for r in results}


# ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("traced")
def test_every_row_goes_to_every_vendor_once_and_is_stored_with_its_label(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: SqliteResultStore
) -> None:
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    wire = Wire(barrier=3)
    seen: list[tuple[str, str | None, bool]] = []

    def progress(vendor: str, result: Result | None, skipped: bool) -> None:
        seen.append((vendor, None if result is None else result.item, skipped))

    chosen = settings(concurrency=3)
    summary = run(make_engine(box, host, wire), manifest, store, chosen, progress)

    pairs = all_pairs(manifest)
    assert summary == CompareSummary(sent=len(pairs))
    assert wire.reached == Counter(dict.fromkeys(pairs, 1))
    for vendor in VENDORS:
        assert sims[vendor].served() == sims[vendor].served(PATHS[vendor]) == len(manifest.rows)
    # The pool filled up to the bound, and never went past it.
    assert wire.max_in_flight == 3
    stored = by_pair(store.results("study"))
    assert set(stored) == pairs == store.done("study")
    assert store.interrupted("study") == set()
    labels = {row.id: row.label for row in manifest.rows}
    for (item, vendor), result in stored.items():
        assert result.role is Role.OFFLINE
        assert result.label is labels[item]
        assert set(result.checks) == {"liveness", "face_match"}
        assert result.record is not None
        # Each vendor is asked alone: no failover to the other one.
        assert {a["vendor"] for a in result.record["attempts"]} == {vendor}
    assert sorted((v, item, skipped) for v, item, skipped in seen) == sorted(
        (vendor, item, False) for item, vendor in pairs
    )
    study = store.study("study")
    assert study is not None
    assert study.kind == "offline"
    assert study.meta["vendor_checks"] == {v: ["liveness", "face_match"] for v in VENDORS}
    assert study.meta["manifest_digest"] == manifest.digest
    assert study.meta["vendors"] == list(VENDORS)
    assert study.meta["checks"] == ["liveness", "face_match"]
    assert set(study.meta["policy_hashes"]) == set(VENDORS)


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize("resend", [True, False], ids=["resend-interrupted", "skip-interrupted"])
def test_a_resumed_run_never_resends_done_rows(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: SqliteResultStore, resend: bool
) -> None:
    pairs = all_pairs(manifest)
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    # Run 1: ten requests get through, then four are held in flight when it is cancelled.
    first = Wire(hold_after=10, expect_held=4)
    run_until_held(make_engine(box, host, first), manifest, store, settings(concurrency=4), first)

    done, cut = store.done("study"), store.interrupted("study")
    assert len(done) == 10
    assert cut == set(first.held)
    assert len(cut) == 4
    assert set(first.reached) == done
    assert sum(sim.served() for sim in sims.values()) == 10

    # Run 2 resumes: done pairs are skipped, interrupted ones re-sent or skipped.
    sims = {vendor: SimCounter(box, vendor) for vendor in VENDORS}
    second = Wire()
    seen: Counter[bool] = Counter()
    summary = run(
        make_engine(box, host, second),
        manifest,
        store,
        settings(resend_interrupted=resend),
        lambda _vendor, _result, skipped: seen.update([skipped]),
    )

    expected = pairs - done if resend else pairs - done - cut
    assert second.reached == Counter(dict.fromkeys(expected, 1))
    assert not set(second.reached) & done
    for vendor in VENDORS:
        assert sims[vendor].served() == sum(1 for _, v in expected if v == vendor)
    assert summary == CompareSummary(
        sent=len(expected),
        skipped_done=10,
        interrupted_resent=4 if resend else 0,
        interrupted_skipped=0 if resend else 4,
    )
    assert seen == {False: len(expected), True: len(pairs) - len(expected)}
    # Over both runs, no pair reached a simulator twice.
    assert set((first.reached + second.reached).values()) == {1}
    if resend:
        assert store.done("study") == pairs
        assert store.interrupted("study") == set()
        return
    # Skipped interrupted pairs stay interrupted, out of the results, until a run re-sends them.
    assert store.interrupted("study") == cut
    assert {(r.item, r.system) for r in store.results("study")} == pairs - cut
    third = Wire()
    summary = run(make_engine(box, host, third), manifest, store, settings())
    assert summary == CompareSummary(sent=4, skipped_done=len(pairs) - 4, interrupted_resent=4)
    assert set(third.reached) == cut
    assert store.done("study") == pairs


class Enough(Exception):
    """Raised by a progress callback to stop a run."""


@pytest.mark.usefixtures("traced")
def test_a_progress_callback_that_raises_stops_the_run(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: SqliteResultStore
) -> None:
    answered = 0

    def progress(_vendor: str, _result: Result | None, _skipped: bool) -> None:
        nonlocal answered
        answered += 1
        if answered == 5:
            raise Enough

    wire = Wire()
    with pytest.raises(Enough):
        run(make_engine(box, host, wire), manifest, store, settings(concurrency=4), progress)

    # Nothing new was taken after the fifth answer: each of the three other workers held at
    # most one pair, now stored (if its answer came before the cancellation) or interrupted.
    done, cut = store.done("study"), store.interrupted("study")
    assert 5 <= answered <= len(done) <= len(done | cut) <= 5 + 3
    assert wire.received <= 5 + 3
    assert set(wire.reached) <= done | cut


@pytest.mark.usefixtures("traced")
def test_a_row_that_raises_is_stored_as_an_error_and_the_run_goes_on(
    box: Sandbox,
    host: PluginHost,
    manifest: Manifest,
    store: SqliteResultStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = manifest.rows[5]
    traced_verify = Engine.verify

    async def verify(self: Engine, evidence: Any, **kwargs: Any) -> Any:
        if evidence.liveness_data == broken.evidence.liveness_data and kwargs["vendor"] == LINKFACE:
            raise RuntimeError("a bug quoting 110101199003077777")
        return await traced_verify(self, evidence, **kwargs)

    monkeypatch.setattr(Engine, "verify", verify)
    wire = Wire()
    with caplog.at_level(logging.ERROR, logger="kycmux.compare"):
        summary = run(make_engine(box, host, wire), manifest, store, settings())

    pairs = all_pairs(manifest)
    stored = by_pair(store.results("study"))
    assert set(stored) == pairs
    failed = stored[(broken.id, LINKFACE)]
    assert failed.outcome == "error"
    assert failed.reasons == ("runner:RuntimeError",)
    assert failed.label is broken.label
    assert failed.role is Role.OFFLINE
    assert failed.calls == 0
    assert stored[(broken.id, TENCENT)].outcome != "error"
    assert set(wire.reached) == pairs - {(broken.id, LINKFACE)}
    errors = sum(1 for r in stored.values() if r.outcome == "error")
    assert summary == CompareSummary(sent=len(pairs), failed=errors)
    assert any(broken.id in record.getMessage() for record in caplog.records)
    # The row is logged by the exception's type: its message may quote personal data.
    assert "RuntimeError" in caplog.text
    assert "110101199003077777" not in caplog.text


def test_the_base_policy_gives_thresholds_and_lockout_is_off(
    box: Sandbox, host: PluginHost, manifest_path: Path, store: SqliteResultStore
) -> None:
    # Every row claims one subject: with lockout on, its definitive failures would lock it
    # after five and the later rows would be refused locally, never reaching a vendor.
    lines = manifest_path.read_text(encoding="utf-8").splitlines()
    rows = [{**json.loads(line), "subject_id": "S-one"} for line in lines]
    same = manifest_path.with_name("one_subject.jsonl")
    same.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    manifest = Manifest.load(same)
    strict = {
        "liveness": {"vendors": [LINKFACE, TENCENT], "raw_thresholds": {LINKFACE: 0.3}},
        # Stricter than Tencent publishes (its points: 1e-3, 1e-4), so opted in explicitly.
        "face_match": {
            "vendors": [TENCENT, LINKFACE],
            "max_far": 1e-5,
            "allow_extrapolation": True,
        },
        "lockout": {"limit": 2},
    }
    wire = Wire()
    engine = make_engine(box, host, wire, policies={"strict": strict})
    summary = run(engine, manifest, store, settings(policy="strict"))

    attacks = [row for row in manifest.rows if row.label is not None and row.label.is_attack]
    assert len(attacks) > 2
    assert summary.sent == len(all_pairs(manifest))
    # Every row reached its vendor: none was refused locally.
    assert wire.received == len(all_pairs(manifest))
    results = store.results("study")
    assert not any("subject_locked" in r.reasons for r in results)
    # Each vendor's scores met the base policy's thresholds for it: (check, vendor) -> those.
    thresholds: dict[tuple[str, str], set[str]] = {}
    for result in results:
        assert result.record is not None
        assert result.record["policy"] == "strict"
        for check in result.record["checks"]:
            for vendor, score in check["scores"].items():
                found = thresholds.setdefault((check["check"], vendor), set())
                found.add(json.dumps(score["threshold"], sort_keys=True))
    far = json.dumps({"source": "max_far", "max_far": 1e-5, "raw": None}, sort_keys=True)
    raw = json.dumps({"source": "raw", "max_far": None, "raw": 0.3}, sort_keys=True)
    assert thresholds == {
        ("face_match", LINKFACE): {far},
        ("face_match", TENCENT): {far},
        ("liveness", LINKFACE): {raw},
    }


def test_a_study_cannot_be_resumed_over_another_manifest_or_other_checks(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: SqliteResultStore
) -> None:
    wire = Wire()
    engine = make_engine(box, host, wire)
    info = prepare_study(engine, manifest, store, settings("run-1"))
    assert info.meta["manifest_digest"] == manifest.digest
    assert prepare_study(engine, manifest, store, settings("run-1")) == info

    shorter = manifest.path.with_name("shorter.jsonl")
    lines = manifest.path.read_text(encoding="utf-8").splitlines(keepends=True)
    shorter.write_text("".join(lines[:-1]), encoding="utf-8")
    other = Manifest.load(shorter)
    assert other.digest != manifest.digest
    with pytest.raises(ConfigError, match="'run-1' was run over another manifest") as caught:
        run(engine, other, store, settings("run-1"))
    assert caught.value.key == "study"
    assert manifest.digest in str(caught.value)

    only_liveness = CompareSettings("run-1", VENDORS, (Check.LIVENESS,))
    with pytest.raises(ConfigError, match="'run-1' compares liveness, face_match, not liveness"):
        prepare_study(make_engine(box, host, Wire()), manifest, store, only_liveness)
    assert wire.received == 0
    assert store.done("run-1") == set()
    assert store.interrupted("run-1") == set()


class RegistryOnly:
    """A vendor plugin offering only the ID registry check, for "no check in common"."""

    @kycmux.hookimpl
    def register_vendors(self) -> list[VendorSpec]:
        need = (Need(EvidenceKind.ID_NUMBER), Need(EvidenceKind.ID_NAME))
        offer = CheckOffer(Check.ID_REGISTRY_MATCH, "lookup", need)
        return [VendorSpec("registry_only", "Registry only", "https://registry.example", (offer,))]


def test_default_checks_are_those_two_vendors_offer_each_judged_by_all_offering_it(
    host: PluginHost,
) -> None:
    every = (*SIGHT, Check.ID_REGISTRY_MATCH)
    assert offered_checks(host, VENDORS) == every
    assert offered_checks(host, VENDORS, by_at_least=2) == SIGHT
    # One vendor alone: all its checks.
    assert offered_checks(host, [TENCENT], by_at_least=2) == every
    mixed = PluginHost.from_entry_points()
    assert mixed.register(RegistryOnly())
    with pytest.raises(ConfigError, match="no check is offered by 2 of") as caught:
        offered_checks(mixed, [LINKFACE, "registry_only"], by_at_least=2)
    assert caught.value.key == "vendors"
    # A registry-only vendor beside Tencent: by default the one check both offer; asked for
    # more, each vendor is asked for those of them it offers.
    chosen = CompareSettings.from_host(mixed, study="s", vendors=[TENCENT, "registry_only"])
    assert chosen.checks == (Check.ID_REGISTRY_MATCH,)
    wide = CompareSettings.from_host(
        mixed, study="s", vendors=[TENCENT, "registry_only"], checks=[c.value for c in every]
    )
    assert wide.checks == every


def test_default_checks_are_those_every_vendor_offers(host: PluginHost) -> None:
    assert common_checks(host, VENDORS) == SIGHT
    assert common_checks(host, [TENCENT]) == (*SIGHT, Check.ID_REGISTRY_MATCH)
    chosen = CompareSettings.from_host(host, study="s", vendors=VENDORS)
    assert chosen.checks == SIGHT
    explicit = CompareSettings.from_host(host, study="s", vendors=VENDORS, checks=["liveness"])
    assert explicit.checks == (Check.LIVENESS,)

    mixed = PluginHost.from_entry_points()
    assert mixed.register(RegistryOnly())
    with pytest.raises(ConfigError, match="have no check in common") as caught:
        common_checks(mixed, [LINKFACE, "registry_only"])
    assert caught.value.key == "vendors"
    assert "linkface: liveness, face_match; registry_only: id_registry_match" in str(caught.value)
    with pytest.raises(ConfigError, match="no loaded plugin provides 'nobody'"):
        common_checks(host, [LINKFACE, "nobody"])


@pytest.mark.parametrize(
    ("options", "key", "rule"),
    [
        ({"study": ""}, "study", "non-empty"),
        ({"study": " padded"}, "study", "surrounding spaces"),
        ({"vendors": ()}, "vendors", "at least one vendor"),
        ({"vendors": "linkface"}, "vendors", "not one string"),
        ({"vendors": (LINKFACE, LINKFACE)}, "vendors", "more than once: linkface"),
        ({"checks": ()}, "checks", "at least one check"),
        ({"checks": ("selfie",)}, "checks", "unknown check 'selfie'"),
        ({"concurrency": 0}, "concurrency", "from 1 to 256"),
        ({"concurrency": 257}, "concurrency", "from 1 to 256"),
        ({"concurrency": True}, "concurrency", "from 1 to 256"),
        ({"policy": ""}, "policy", "policy name"),
    ],
)
def test_invalid_settings_name_the_setting(options: dict[str, Any], key: str, rule: str) -> None:
    values: dict[str, Any] = {"study": "s", "vendors": VENDORS, "checks": SIGHT, **options}
    with pytest.raises(ConfigError, match=rule) as caught:
        CompareSettings(**values)
    assert caught.value.key == key


def test_settings_the_engine_cannot_serve_fail_before_anything_is_sent(
    box: Sandbox, host: PluginHost, manifest: Manifest, store: SqliteResultStore
) -> None:
    wire = Wire()
    engine = make_engine(box, host, wire)
    cases: list[tuple[CompareSettings, type[ConfigError], str, str]] = [
        (CompareSettings("a", (LINKFACE, "nobody"), SIGHT), ConfigError, "vendors", "'nobody'"),
        (
            CompareSettings("b", VENDORS, (Check.ID_REGISTRY_MATCH,)),
            ConfigError,
            "checks",
            "linkface offers none of the checks compared",
        ),
        (
            CompareSettings("b2", (LINKFACE,), (Check.LIVENESS, Check.ID_REGISTRY_MATCH)),
            ConfigError,
            "checks",
            "no vendor compared offers id_registry_match",
        ),
        (settings("c", policy="nope"), PolicyError, "policies.nope", "no such policy"),
    ]
    for chosen, error, key, rule in cases:
        with pytest.raises(error, match=rule) as caught:
            run(engine, manifest, store, chosen)
        assert caught.value.key == key
    only_linkface = Config.from_mapping(
        {"vendors": {LINKFACE: box.tables[LINKFACE]}}, host.vendors, box.env
    )
    http = HttpClient.create(async_transport=wire)
    lonely = Engine.from_config(only_linkface, host=host, http=http)
    with pytest.raises(ConfigError, match="tencent_legacy is not configured") as caught:
        run(lonely, manifest, store, settings("d"))
    assert caught.value.key == "vendors"
    assert wire.received == 0
    assert store.studies() == []
