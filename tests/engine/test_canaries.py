"""Canaries: no secret, ID number, name, subject id, image or evidence path in anything visible.

Both simulators run on loopback knowing only canary accounts; the Tencent registry holds the
canary person (ID number and name). Decisions of every kind go over real HTTP: passes,
definitive negatives, capture errors, rejected credentials, injected faults and malformed
answers, a shadow experiment writing to SQLite, and local refusals (bad evidence, bad
configuration). Everything a user could see is collected (DEBUG logs of kycmux, httpx,
httpcore and aiohttp, reprs, every exception raised or handed around with its whole chain,
the records file, the result store's bytes and rows) and searched for every canary in every
form a leak takes (``canary_support``). One test per kind of leak, so a failure says which.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from engine.canary_support import (
    BAD_ID_NUMBER,
    CANARIES,
    CANARY_DIR,
    DIGITS,
    ENV,
    ID_NUMBER,
    IMAGE_MARKER,
    LINKFACE,
    LINKFACE_EXPIRED_ID,
    LITERAL_SECRET,
    NAME,
    RECORD_KEY,
    SUBJECT_ID,
    TENCENT,
    TENCENT_APPID,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    TTL_SECRET,
    CanaryFiles,
    Exposure,
    HookTap,
    canary_simulators,
    find_leaks,
    vendor_tables,
    write_canary_files,
)
from engine.e2e_support import policies
from kycmux import (
    AttemptContext,
    Check,
    Config,
    Consent,
    Decision,
    Engine,
    Evidence,
    Outcome,
    PluginHost,
    Secret,
    check_digit,
    hookimpl,
    keyed_hash,
    mask_id_number,
    mask_name,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError, KycmuxError
from kycmux.simkit import RunningSimulator, serve_many
from kycmux.synthetic import Population

pytestmark = pytest.mark.anyio

LOGGERS = ("kycmux", "httpx", "httpcore", "aiohttp")
# Two attempts per vendor, quickly: retries are exercised without slowing the suite down.
QUICK = {"retry": {"max_attempts": 2, "base_delay": 0.01, "max_delay": 0.02}}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, RunningSimulator]]:
    with serve_many(canary_simulators()) as running:
        yield running


@pytest.fixture
def running(sims: dict[str, RunningSimulator]) -> Iterator[dict[str, RunningSimulator]]:
    """The simulators, without fault windows left over from another test."""
    for sim in sims.values():
        sim.app.faults.clear()
    yield sims
    for sim in sims.values():
        sim.app.faults.clear()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CanaryFiles:
    return write_canary_files(tmp_path_factory.mktemp("canary"))


@pytest.fixture
def exposure(caplog: pytest.LogCaptureFixture) -> Exposure:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return Exposure()


@pytest.fixture
def tap() -> HookTap:
    return HookTap()


@pytest.fixture
def host(tap: HookTap) -> PluginHost:
    """The installed plugins, plus the tap (cross-cutting: it sees every vendor's hooks)."""
    host = PluginHost.from_entry_points()
    assert {LINKFACE, TENCENT} <= set(host.vendors), host.failures
    assert host.register(tap, "test.canary-tap"), host.failures
    return host


# --- helpers ----------------------------------------------------------------------------------


def config_for(
    running: Mapping[str, RunningSimulator],
    host: PluginHost,
    *,
    engine: Mapping[str, Any] | None = None,
    experiments: Mapping[str, Any] | None = None,
    env: Mapping[str, str] = ENV,
    **vendor_changes: Mapping[str, Any],
) -> Config:
    data: dict[str, Any] = {
        "vendors": vendor_tables(running, **vendor_changes),
        "policies": policies(linkface=QUICK, tencent_legacy=QUICK),
        "engine": {"record_key": "${CNRY_RECORD_KEY}", **(engine or {})},
    }
    if experiments:
        data["experiments"] = dict(experiments)
    return Config.from_mapping(data, host.vendors, env)


def full_evidence(files: CanaryFiles, n: int, **changes: Any) -> Evidence:
    """Every kind of evidence, all of the canary person."""
    fields: dict[str, Any] = {
        "selfie": files["selfie"],
        "reference_photo": files["card"],
        "video": files["video"],
        "digits": DIGITS,
        "liveness_data": files["liveness"],
        "id_number": ID_NUMBER,
        "id_name": NAME,
        "subject_id": f"{SUBJECT_ID}-{n}",
    }
    fields.update(changes)
    return Evidence(**{k: v for k, v in fields.items() if v is not None})


async def decide(
    engine: Engine, exposure: Exposure, evidence: Evidence, policy: str, label: str
) -> Decision:
    try:
        decision = await engine.verify(evidence, policy=policy)
    except Exception as exc:  # a raised exception is what the caller sees: collect it
        exposure.exception(f"engine.verify ({label}) raised", exc)
        raise
    exposure.obj(f"Decision ({label})", decision)
    exposure.obj(f"DecisionRecord ({label})", decision.record)
    plain = decision.record.to_dict()
    exposure.text(f"record.to_dict ({label})", json.dumps(plain, ensure_ascii=False))
    exposure.text(f"record.to_dict ascii ({label})", json.dumps(plain))
    return decision


def expose_engine(exposure: Exposure, engine: Engine, config: Config) -> None:
    exposure.obj("Engine", engine)
    exposure.obj("Config", config)
    exposure.obj("Config.engine", config.engine)
    exposure.obj("Config.vendors", config.vendors)
    for name, vendor in config.vendors.items():
        exposure.obj(f"VendorConfig {name}", vendor)


def assert_no_leaks(
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tap: HookTap | None = None,
    *,
    wire: bool = True,
) -> None:
    """No canary anywhere; ``wire``: requests went out, so httpx must have logged them (the
    log capture works, and an empty log is no pass)."""
    if tap is not None:
        tap.expose(exposure)
    exposure.logs(caplog.records)
    if wire:
        assert any(r.name.startswith("httpx") for r in caplog.records), "no httpx log captured"
    leaks = exposure.leaks()
    assert not leaks, f"{len(leaks)} leak(s):\n" + "\n".join(leaks)


def reasons(decision: Decision) -> list[tuple[str, str | None, str | None]]:
    return [(a.vendor, a.error_class, a.vendor_code) for a in decision.record.attempts]


# --- the detector itself ------------------------------------------------------------------


def test_detectors_flag_planted_leaks(
    files: CanaryFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each detector finds a deliberately leaked canary, and nothing in what may be shown."""

    def flagged(text: str | bytes) -> set[str]:
        return {line.split(": ", 2)[1].split(" [")[0] for line in find_leaks([("t", text)])}

    # Every canary, as it is.
    for canary in CANARIES:
        assert flagged(f"oops: {canary.value}!") == {canary.what} | (
            {"given name"} if canary.what == "name" else set()
        ), canary.what
    # The encoded forms a leak travels in.
    assert flagged(json.dumps({"name": NAME})) == {"name", "given name"}
    assert flagged(repr(NAME.encode())) == {"name", "given name"}
    assert flagged(f"name={NAME}".encode()) == {"name", "given name"}
    assert "name" in flagged("q=" + "".join(f"%{b:02X}" for b in NAME.encode()))
    assert flagged(str(files["selfie"])) == {"evidence directory"}
    assert flagged(repr(files["video"])) == {"evidence directory"}
    # An image however it is cut: base64 of the whole file, of any slice, hex, raw bytes.
    for name in ("selfie", "card", "video", "liveness"):
        data = files[name].read_bytes()
        assert flagged(data) == {"image marker"}, name
        assert flagged(data.hex()) == {"image marker"}, name
        for start in range(3):
            assert flagged(base64.b64encode(data[start:]).decode()) == {"image marker"}, name
            assert flagged(base64.urlsafe_b64encode(data[start:])) == {"image marker"}, name
    # A Tencent signature carries its SecretId, base64-encoded.
    from kycmux_tencent_legacy._sign import SignatureFields, signature

    fields = SignatureFields(TENCENT_APPID, "", TENCENT_SECRET_ID, 1_900_000_060, 1_900_000_000, 7)
    assert flagged(f"Authorization: {signature(fields, TENCENT_SECRET_KEY)}") == {
        "secret tencent_legacy.secret_id"
    }

    # An exception: the canary only in a suppressed __context__ is still found.
    def parse_ttl() -> int:
        try:
            return int(TTL_SECRET)
        except ValueError:
            raise ConfigError("vendors.x.signature_ttl", "must be of type int") from None

    with pytest.raises(ConfigError) as caught:
        parse_ttl()
    assert not flagged(str(caught.value))
    assert not flagged(repr(caught.value))
    exposure = Exposure()
    exposure.exception("planted", caught.value)
    assert {line.split(": ", 2)[1].split(" [")[0] for line in exposure.leaks()} == {
        "secret (referenced from signature_ttl)"
    }
    # A log record: the message, and the exception it carries.
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("kycmux.canary-selftest")
    log.debug("subject %s", SUBJECT_ID)
    try:
        parse_ttl()
    except ConfigError:
        log.exception("configuration failed")
    exposure = Exposure()
    assert exposure.logs(caplog.records) == 2
    found = " ".join(exposure.leaks())
    assert "subject_id" in found
    assert "referenced from signature_ttl" in found
    # A SQLite file in WAL mode: the row is found in the file bytes and in the rows.
    db = tmp_path / "planted.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (f"{ID_NUMBER} {NAME}",))
    conn.commit()
    exposure = Exposure()
    assert exposure.result_store(db) == 1
    places = {line.split(": ")[0] for line in exposure.leaks() if "ID number" in line}
    assert "result store rows of t" in places
    assert any(p.startswith("result store file") for p in places), places
    conn.close()

    # What kycmux shows on purpose is not a leak.
    allowed = [
        mask_id_number(ID_NUMBER),
        ID_NUMBER[:6] + "********" + ID_NUMBER[-4:],
        mask_name(NAME),
        mask_id_number(SUBJECT_ID),
        keyed_hash(RECORD_KEY.encode(), ID_NUMBER),
        keyed_hash(RECORD_KEY.encode(), SUBJECT_ID),
        repr(Secret(TENCENT_SECRET_KEY)),
        f"{Secret(TENCENT_SECRET_ID)}",
        files["selfie"].name,
        repr(files["video"].name),
    ]
    for text in allowed:
        assert not flagged(text), text


# --- decisions over the wire ------------------------------------------------------------------


async def test_passing_decisions_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    decisions = []
    for backend in ("aiohttp", "httpx"):
        config = config_for(
            running, host, engine={"records": str(records), "async_backend": backend}
        )
        async with Engine.from_config(config, host=host) as engine:
            n = len(decisions)
            # Linkface (liveness and face match) and Tencent's registry check, by ID and name.
            decisions.append(
                await decide(engine, exposure, full_evidence(files, n), "composed", "composed")
            )
            # Tencent's lip-reading video compared with the card photo.
            video = full_evidence(files, n + 1, selfie=None, liveness_data=None)
            decisions.append(await decide(engine, exposure, video, "video_first", "video"))
            decisions.append(
                await decide(engine, exposure, full_evidence(files, n + 2), "registry", "registry")
            )

    assert [d.outcome for d in decisions] == [Outcome.ACCEPT] * 6, [reasons(d) for d in decisions]
    # The canaries did travel: both vendors took the canary credentials and evidence, and the
    # registry matched the canary ID number and name.
    assert {a.vendor for d in decisions for a in d.record.attempts} == {LINKFACE, TENCENT}
    assert len(tap.objects) >= 12
    exposure.file("records file", records)
    assert len(records.read_text(encoding="utf-8").splitlines()) == len(decisions)
    assert_no_leaks(exposure, caplog, tap)


async def test_definitive_negatives_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    config = config_for(running, host, engine={"records": str(records)})
    cases = {
        "spoof video": ({"video": files["spoof_video"]}, "video_first"),
        "attack liveness data": ({"liveness_data": files["attack_liveness"]}, "sdk_first"),
        "face mismatch": ({"video": files["impostor_video"]}, "video_first"),
        "registry mismatch": ({"selfie": files["impostor_selfie"]}, "registry"),
    }
    async with Engine.from_config(config, host=host) as engine:
        outcomes = {}
        for n, (label, (changes, policy)) in enumerate(cases.items()):
            decision = await decide(
                engine, exposure, full_evidence(files, 10 + n, **changes), policy, label
            )
            outcomes[label] = decision.outcome
    assert set(outcomes.values()) == {Outcome.REJECT}, outcomes
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_capture_errors_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    config = config_for(running, host, engine={"records": str(records)})
    only_video = {"selfie": None, "liveness_data": None}
    only_sdk = {"video": None, "reference_photo": None}
    cases = {
        "silent video": (dict(video=files["silent_video"], **only_video), "video_first"),
        "no face in the selfie": (dict(selfie=files["no_face_selfie"], **only_sdk), "sdk_first"),
        "unreadable liveness data": (
            dict(liveness_data=files["unreadable_liveness"], **only_sdk),
            "sdk_first",
        ),
        "no face for the registry": ({"selfie": files["no_face_selfie"]}, "registry"),
    }
    async with Engine.from_config(config, host=host) as engine:
        outcomes = {}
        for n, (label, (changes, policy)) in enumerate(cases.items()):
            decision = await decide(
                engine, exposure, full_evidence(files, 20 + n, **changes), policy, label
            )
            outcomes[label] = decision.outcome
    assert outcomes["silent video"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["no face in the selfie"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["unreadable liveness data"] is Outcome.RETRY_CAPTURE, outcomes
    assert outcomes["no face for the registry"] is not Outcome.ACCEPT, outcomes
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_rejected_credentials_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A wrong secret for one vendor: its calls are refused, the other vendor decides."""
    records = tmp_path / "records.jsonl"
    wrong = "${CNRY_WRONG_SECRET}"
    cases = {
        "linkface api_secret": ({LINKFACE: {"api_secret": wrong}}, "sdk_first", LINKFACE),
        "tencent secret_key": ({TENCENT: {"secret_key": wrong}}, "video_first", TENCENT),
        "tencent secret_id": ({TENCENT: {"secret_id": wrong}}, "video_first", TENCENT),
    }
    refused = {}
    for n, (label, (changes, policy, vendor)) in enumerate(cases.items()):
        config = config_for(running, host, engine={"records": str(records)}, **changes)
        async with Engine.from_config(config, host=host) as engine:
            decision = await decide(engine, exposure, full_evidence(files, 30 + n), policy, label)
        failed = [a for a in decision.record.attempts if a.vendor == vendor]
        assert failed, reasons(decision)
        assert all(a.error_class for a in failed), reasons(decision)
        refused[label] = (decision.outcome, failed[0].vendor_code)
    assert refused == {
        "linkface api_secret": (Outcome.ACCEPT, "UNAUTHORIZED"),
        "tencent secret_key": (Outcome.ACCEPT, "14"),
        "tencent secret_id": (Outcome.ACCEPT, "11"),
    }
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_vendor_message_echoing_the_account_leaks_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Linkface answers an expired key with ``reason: "account <api_id> expired"``: the
    documented answer quotes a configured secret back, and it must not reach the record."""
    records = tmp_path / "records.jsonl"
    config = config_for(
        running,
        host,
        engine={"records": str(records)},
        linkface={"api_id": "${CNRY_LINKFACE_EXPIRED_ID}"},
    )
    assert config.vendors[LINKFACE].reveal("api_id") == LINKFACE_EXPIRED_ID
    async with Engine.from_config(config, host=host) as engine:
        decision = await decide(engine, exposure, full_evidence(files, 40), "sdk_first", "expired")
    linkface = [a for a in decision.record.attempts if a.vendor == LINKFACE]
    assert [a.vendor_code for a in linkface] == ["KEY_EXPIRED"], reasons(decision)
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


FAULTS = [
    (LINKFACE, "non_json", "sdk_first"),
    (LINKFACE, "truncated", "sdk_first"),
    (LINKFACE, "reset", "sdk_first"),
    (LINKFACE, "http_5xx=502", "sdk_first"),
    (LINKFACE, "vendor_error", "sdk_first"),
    (LINKFACE, "rate_limited", "sdk_first"),
    (LINKFACE, "vendor_code=INVALID_ARGUMENT", "sdk_first"),
    (LINKFACE, "vendor_code=CORRUPT_IMAGE", "sdk_first"),
    (TENCENT, "non_json", "video_first"),
    (TENCENT, "truncated", "video_first"),
    (TENCENT, "reset", "video_first"),
    (TENCENT, "http_5xx=503", "video_first"),
    (TENCENT, "vendor_error", "registry"),
    (TENCENT, "vendor_code=-5801", "registry"),
    (TENCENT, "truncated", "registry"),
]


async def test_faults_and_malformed_answers_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    served = []
    for n, (vendor, fault, policy) in enumerate(FAULTS):
        # A fresh engine each time: an earlier fault must not leave a breaker open.
        config = config_for(running, host, engine={"records": str(records)})
        app = running[vendor].app
        kind = fault.partition("=")[0]
        before = app.stats.faults.get(kind, 0)
        app.faults.inject(fault, count=2)
        async with Engine.from_config(config, host=host) as engine:
            label = f"{vendor} {fault}"
            decision = await decide(engine, exposure, full_evidence(files, 50 + n), policy, label)
        app.faults.clear()
        served.append((label, app.stats.faults.get(kind, 0) - before))
        failed = [a.error_class for a in decision.record.attempts if a.vendor == vendor]
        assert failed, (label, reasons(decision))
        assert failed[0] is not None, (label, reasons(decision))
    assert all(count >= 1 for _, count in served), served
    # Transport exceptions and malformed answers were handed around (and looked at).
    assert len(tap.errors) >= 6, tap.errors
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_credentials_in_query_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Linkface's documented ``credentials_in = "query"`` puts the secret in the URL."""
    records = tmp_path / "records.jsonl"
    decisions = []
    for n, backend in enumerate(("aiohttp", "httpx")):
        config = config_for(
            running,
            host,
            engine={"records": str(records), "async_backend": backend},
            linkface={"credentials_in": "query"},
        )
        async with Engine.from_config(config, host=host) as engine:
            decisions.append(
                await decide(engine, exposure, full_evidence(files, 70 + n), "sdk_first", backend)
            )
            running[LINKFACE].app.faults.inject("reset", count=2)
            decisions.append(
                await decide(
                    engine, exposure, full_evidence(files, 72 + n), "sdk_first", f"{backend} reset"
                )
            )
            running[LINKFACE].app.faults.clear()
    assert [a.vendor for a in decisions[0].record.attempts] == [LINKFACE]
    assert decisions[0].outcome is Outcome.ACCEPT
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_shadow_experiment_and_result_store_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Tencent decides live; Linkface is asked alongside; both land in the SQLite store."""
    store = tmp_path / "results" / "experiments.sqlite"
    records = tmp_path / "records.jsonl"
    shadow = {"policy": "video_first", "shadow": LINKFACE, "max_delay": 4.0, "timeout": 4.0}
    config = config_for(
        running,
        host,
        engine={"records": str(records), "results": str(store)},
        experiments={"try_linkface": shadow},
    )
    consent = [Consent.SHADOW_EVALUATION]
    cases = {
        "genuine": {},
        "spoof": {"video": files["spoof_video"], "liveness_data": files["attack_liveness"]},
        "impostor": {"video": files["impostor_video"], "selfie": files["impostor_selfie"]},
    }
    async with Engine.from_config(config, host=host) as engine:
        decisions = {}
        for n, (label, changes) in enumerate(cases.items()):
            evidence = full_evidence(files, 80 + n, consents=consent, **changes)
            decisions[label] = await decide(engine, exposure, evidence, "video_first", label)
        no_consent = full_evidence(files, 89)
        decisions["no consent"] = await decide(
            engine, exposure, no_consent, "video_first", "no consent"
        )
        # The same subject as the genuine one, without a subject id: keyed by the ID number.
        anonymous = full_evidence(files, 0, subject_id=None, consents=consent)
        decisions["by ID number"] = await decide(
            engine, exposure, anonymous, "video_first", "by ID"
        )
        await engine.drain()

    assert decisions["genuine"].outcome is Outcome.ACCEPT
    assert decisions["spoof"].outcome is Outcome.REJECT
    assert [s.status for s in decisions["genuine"].record.shadow] == ["answered"]
    assert [s.status for s in decisions["no consent"].record.shadow] == ["no_consent"]
    rows = exposure.result_store(store)
    assert rows >= 2 * 4 + 1  # live and shadow rows of four decisions, and the study
    exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


# --- local refusals ---------------------------------------------------------------------------


def _refused(
    exposure: Exposure,
    label: str,
    make: Any,
    kind: type[BaseException],
    unexpected: list[str],
) -> str:
    """Run ``make``, expecting ``kind``; whatever it raises is collected, and anything else
    than ``kind`` is noted in ``unexpected`` (checked after the leaks, so both are seen)."""
    try:
        made = make()
    except Exception as exc:
        exposure.exception(label, exc)
        if not isinstance(exc, kind):
            unexpected.append(f"{label}: raised {type(exc).__name__}, not {kind.__name__}")
        return str(exc)
    unexpected.append(f"{label}: did not raise {kind.__name__}")
    if isinstance(made, Engine):
        made.close()
    return ""


def test_invalid_evidence_leaks_nothing(
    files: CanaryFiles, exposure: Exposure, caplog: pytest.LogCaptureFixture
) -> None:
    """``Evidence`` refuses bad evidence with an ``InvalidEvidenceError`` naming the rule."""
    folder = files.folder
    cases: dict[str, Any] = {
        "missing selfie": lambda: Evidence(selfie=folder / "missing.png"),
        "missing selfie (str path)": lambda: Evidence(selfie=str(folder / "gone.png")),
        "empty selfie": lambda: Evidence(selfie=files["empty"]),
        "selfie of the wrong type": lambda: Evidence(selfie=files["not_an_image"]),
        "video of the wrong type": lambda: Evidence(video=files["card"]),
        "a folder as the card photo": lambda: Evidence(reference_photo=folder),
        "liveness data missing": lambda: Evidence(liveness_data=folder / "liveness.dat"),
        "ID number with a wrong check digit": lambda: Evidence(id_number=BAD_ID_NUMBER),
        "ID number too long": lambda: Evidence(id_number=ID_NUMBER + "1"),
        "name with a control character": lambda: Evidence(id_name=NAME + "\x07"),
        "name not UTF-8": lambda: Evidence(id_name=NAME.encode()[:-1]),
        "name too long": lambda: Evidence(id_name=NAME * 17),
        "name empty": lambda: Evidence(id_name=" ", id_number=ID_NUMBER),
        "digits": lambda: Evidence(digits="4 7 1 8", id_number=ID_NUMBER, id_name=NAME),
    }
    messages, unexpected = {}, []
    for label, make in cases.items():
        messages[label] = _refused(exposure, label, make, InvalidEvidenceError, unexpected)
    assert_no_leaks(exposure, caplog, wire=False)
    assert not unexpected, unexpected
    # The rules are still told: the file name (not its folder) and what is wrong.
    assert "missing.png" in messages["missing selfie"]
    assert "check character" in messages["ID number with a wrong check digit"]


async def test_vendor_limits_on_evidence_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Evidence a vendor's documented limits refuse (5 MB selfie, 3 MB video) is never sent."""
    records = tmp_path / "records.jsonl"
    config = config_for(running, host, engine={"records": str(records)})
    big_selfie = full_evidence(files, 90, selfie=files["big_selfie"], video=None)
    big_video = full_evidence(files, 91, video=files["big_video"], selfie=None, liveness_data=None)
    # The plugins' own hooks, called directly, raise what the engine turns into a refusal.
    for vendor, evidence, checks in (
        (LINKFACE, big_selfie, frozenset({Check.LIVENESS, Check.FACE_MATCH})),
        (TENCENT, big_video, frozenset({Check.LIVENESS, Check.FACE_MATCH})),
    ):
        with pytest.raises(InvalidEvidenceError) as caught:
            host.hooks_for(vendor).build_request(
                vendor=host.vendor(vendor),
                checks=checks,
                evidence=evidence,
                config=config.vendors[vendor],
                context=AttemptContext("canary-request"),
            )
        exposure.exception(f"{vendor} build_request", caught.value)
    # Through the engine: a local refusal, then the other vendor; or, when no vendor of the
    # policy can take the evidence, whatever the engine does instead (answer or raise).
    fallback = {
        "big selfie, Tencent can take over": (
            full_evidence(files, 92, selfie=files["big_selfie"]),
            "sdk_first",
        ),
        "big video, Linkface can take over": (
            full_evidence(files, 93, video=files["big_video"]),
            "video_first",
        ),
        "big selfie, nobody else": (big_selfie, "sdk_first"),
        "big video, nobody else": (big_video, "video_first"),
    }
    refusals = {}
    async with Engine.from_config(config, host=host) as engine:
        for label, (evidence, policy) in fallback.items():
            try:
                decision = await decide(engine, exposure, evidence, policy, label)
            except KycmuxError as exc:  # collected by decide()
                refusals[label] = type(exc).__name__
            else:
                skips = [s.reason for s in decision.record.skipped]
                refusals[label] = next((r for r in skips if r.startswith("local_")), "")
    assert refusals["big selfie, Tencent can take over"].startswith("local_validation:selfie")
    assert refusals["big video, Linkface can take over"].startswith("local_validation:video")
    if records.exists():
        exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap)


async def test_evidence_file_gone_before_sending_leaks_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A file validated into ``Evidence`` and removed before the decision (an upload cleaned
    up, a temporary file): whatever goes wrong must not show where it was."""
    records = tmp_path / "records.jsonl"
    config = config_for(running, host, engine={"records": str(records)})
    gone = {}
    for name in ("selfie", "video"):
        copy = files.folder / f"gone-{name}{files[name].suffix}"
        copy.write_bytes(files[name].read_bytes())
        gone[name] = copy
    cases = {
        "selfie gone": (full_evidence(files, 95, selfie=gone["selfie"], video=None), "sdk_first"),
        "video gone": (
            full_evidence(files, 96, video=gone["video"], selfie=None, liveness_data=None),
            "video_first",
        ),
    }
    for path in gone.values():
        path.unlink()
    async with Engine.from_config(config, host=host) as engine:
        for label, (evidence, policy) in cases.items():
            with contextlib.suppress(Exception):  # collected by decide()
                await decide(engine, exposure, evidence, policy, label)
    if records.exists():
        exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap, wire=False)


def _toml(running: Mapping[str, RunningSimulator], tencent: str = "", linkface: str = "") -> str:
    return (
        f'[vendors.{TENCENT}]\nbase_url = "{running[TENCENT].base_url}"\n'
        f'appid = "{TENCENT_APPID}"\nsecret_id = "${{CNRY_TENCENT_SECRET_ID}}"\n'
        f'secret_key = "${{CNRY_TENCENT_SECRET_KEY}}"\n{tencent}\n'
        f'[vendors.{LINKFACE}]\nbase_url = "{running[LINKFACE].base_url}"\n'
        f'api_id = "${{CNRY_LINKFACE_API_ID}}"\napi_secret = "${{CNRY_LINKFACE_API_SECRET}}"\n'
        f"{linkface}\n"
    )


def _config_files(
    running: Mapping[str, RunningSimulator], tmp_path: Path, lines: Mapping[str, tuple[str, str]]
) -> dict[str, Path]:
    """A ``kycmux.toml`` per case: the working vendor tables with one line added or replaced."""
    paths = {}
    for n, (label, (tencent, linkface)) in enumerate(lines.items()):
        text = _toml(running, tencent, linkface)
        for extra in filter(None, (tencent, linkface)):  # the added line replaces its key's
            key = extra.split("=")[0].strip()
            generated = [ln for ln in text.splitlines() if ln.startswith(f"{key} = ")]
            if len(generated) > 1:
                text = text.replace(generated[0] + "\n", "", 1)
        paths[label] = tmp_path / f"kycmux-{n}.toml"
        paths[label].write_text(text, encoding="utf-8")
    return paths


def _load_each(
    exposure: Exposure, host: PluginHost, paths: Mapping[str, Path], unexpected: list[str]
) -> None:
    for label, path in paths.items():
        _refused(
            exposure,
            label,
            lambda p=path: Config.from_file(p, host.vendors, ENV),
            ConfigError,
            unexpected,
        )
        _refused(
            exposure,
            f"{label} (Engine.from_config_file)",
            lambda p=path: Engine.from_config_file(p, host=host, env=ENV),
            ConfigError,
            unexpected,
        )


def test_secret_referenced_from_a_typed_field_leaks_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A ``${VAR}`` holding a secret, referenced by mistake from a number or boolean field:
    the value cannot be converted, and the ``ConfigError`` must not carry it anywhere."""
    lines = {
        "signature_ttl (int)": ('signature_ttl = "${CNRY_TTL}"', ""),
        "max_video_bytes (int)": ('max_video_bytes = "${CNRY_TENCENT_SECRET_KEY}"', ""),
        "liveness_threshold (float)": ("", 'liveness_threshold = "${CNRY_TTL}"'),
        "selfie_auto_rotate (bool)": ("", 'selfie_auto_rotate = "${CNRY_TTL}"'),
    }
    unexpected: list[str] = []
    _load_each(exposure, host, _config_files(running, tmp_path, lines), unexpected)
    assert exposure.exceptions == 2 * len(lines)
    assert_no_leaks(exposure, caplog, wire=False)
    assert not unexpected, unexpected


def test_configuration_errors_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """``ConfigError`` for secrets given wrongly: empty or unset variables, literals (also
    under a misspelt key, or breaking the TOML), ``record_key`` likewise."""
    lines = {
        "empty variable for a secret": ("", 'api_secret = "${CNRY_EMPTY}"'),
        "unset variable for a secret": ('secret_key = "${CNRY_UNSET}"', ""),
        "secret written literally": ("", f'api_secret = "{LITERAL_SECRET}"'),
        "secret under a misspelt key": ("", f'api_secrte = "{LITERAL_SECRET}"'),
        "secret breaking the TOML": ("", f"api_secret = {LITERAL_SECRET}"),
    }
    unexpected: list[str] = []
    _load_each(exposure, host, _config_files(running, tmp_path, lines), unexpected)
    engine_tables = {
        "record_key from an empty variable": {"record_key": "${CNRY_EMPTY}"},
        "record_key from an unset variable": {"record_key": "${CNRY_UNSET}"},
        "record_key written literally": {"record_key": RECORD_KEY},
        "record_key literal under a misspelt key": {"record_kye": RECORD_KEY},
    }
    for label, table in engine_tables.items():
        data = {"vendors": vendor_tables(running), "engine": table}

        def load(data: dict[str, Any] = data) -> Engine:
            return Engine.from_config(Config.from_mapping(data, host.vendors, ENV), host=host)

        _refused(exposure, label, load, ConfigError, unexpected)
    # A good configuration shows no secret either.
    good = tmp_path / "good.toml"
    good.write_text(
        _toml(running) + '\n[engine]\nrecord_key = "${CNRY_RECORD_KEY}"\n', encoding="utf-8"
    )
    config = Config.from_file(good, host.vendors, ENV)
    assert config.vendors[TENCENT].reveal("secret_key") == TENCENT_SECRET_KEY
    with Engine.from_config(config, host=host) as engine:
        expose_engine(exposure, engine, config)
    assert_no_leaks(exposure, caplog, wire=False)
    assert not unexpected, unexpected


async def test_plugin_settings_errors_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """A plugin setting checked when the plugin reads it (Linkface's ``credentials_in``),
    pointed by mistake at a secret's variable."""
    records = tmp_path / "records.jsonl"
    config = config_for(
        running,
        host,
        engine={"records": str(records)},
        linkface={"credentials_in": "${CNRY_LINKFACE_API_SECRET}"},
    )
    evidence = full_evidence(files, 99, video=None)
    with pytest.raises(ConfigError) as caught:
        host.hooks_for(LINKFACE).build_request(
            vendor=host.vendor(LINKFACE),
            checks=frozenset({Check.LIVENESS, Check.FACE_MATCH}),
            evidence=evidence,
            config=config.vendors[LINKFACE],
            context=AttemptContext("canary-request"),
        )
    assert caught.value.key == "vendors.linkface.credentials_in"
    exposure.exception("linkface build_request", caught.value)
    async with Engine.from_config(config, host=host) as engine:
        with contextlib.suppress(KycmuxError):  # collected by decide()
            await decide(engine, exposure, evidence, "sdk_first", "bad credentials_in")
        expose_engine(exposure, engine, config)
    if records.exists():
        exposure.file("records file", records)
    assert_no_leaks(exposure, caplog, tap, wire=False)


class _BuggyPlugin:
    """A plugin whose bug quotes the evidence in its exception, as ``KeyError(value)`` does."""

    @hookimpl(tryfirst=True)
    def build_request(self, evidence: Evidence) -> None:
        table = {"known": 1}
        table[f"{evidence.id_number}/{evidence.id_name}/{evidence.subject_id}"] += 1


async def test_plugin_bug_leaks_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    assert host.register(_BuggyPlugin(), "test.canary-buggy"), host.failures
    config = config_for(running, host, engine={"records": str(records)})
    async with Engine.from_config(config, host=host) as engine:
        with contextlib.suppress(Exception):  # collected by decide()
            await decide(engine, exposure, full_evidence(files, 100), "composed", "plugin bug")
    if records.exists():
        exposure.file("records file", records)
    assert_no_leaks(
        exposure, caplog, wire=False
    )  # the tap saw the KeyError itself: not shown to anyone


async def test_reprs_of_values_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """``repr`` / ``str`` of the values a user handles: evidence and its media, the engine
    and its configuration (after decisions left state behind), requests, results, records."""
    config = config_for(
        running,
        host,
        engine={"records": str(tmp_path / "records.jsonl"), "results": str(tmp_path / "r.db")},
        experiments={"try_linkface": {"policy": "video_first", "shadow": LINKFACE}},
    )
    evidences = {
        "every kind": full_evidence(files, 0, subject_id=SUBJECT_ID),
        "no subject id": full_evidence(files, 0, subject_id=None),
        "name as UTF-8 bytes": full_evidence(files, 1, id_name=NAME.encode()),
        "lower-case x": full_evidence(files, 2, id_number=ID_NUMBER.lower()),
        "spoof": full_evidence(files, 3, video=files["spoof_video"]),
        "consenting": full_evidence(files, 4, consents=[Consent.SHADOW_EVALUATION]),
    }
    for label, evidence in evidences.items():
        exposure.obj(f"Evidence ({label})", evidence)
        for kind in ("selfie", "reference_photo", "video", "liveness_data"):
            exposure.obj(f"Evidence.{kind} ({label})", getattr(evidence, kind))
    async with Engine.from_config(config, host=host) as engine:
        expose_engine(exposure, engine, config)  # fresh
        first = await decide(engine, exposure, evidences["every kind"], "composed", "pass")
        spoof = await decide(engine, exposure, evidences["spoof"], "video_first", "spoof")
        await decide(engine, exposure, evidences["consenting"], "video_first", "shadowed")
        await engine.drain()
        expose_engine(exposure, engine, config)  # with breakers, lockout counts, experiments
    assert (first.outcome, spoof.outcome) == (Outcome.ACCEPT, Outcome.REJECT)
    requests = [v for w, v in tap.objects if w.startswith("sign result")]
    assert {r.vendor for r in requests} == {LINKFACE, TENCENT}
    assert_no_leaks(exposure, caplog, tap)


async def test_request_file_parts_leak_nothing(
    running: dict[str, RunningSimulator],
    host: PluginHost,
    tap: HookTap,
    files: CanaryFiles,
    exposure: Exposure,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The file parts of a request (``VendorRequest.files``, public ``FilePart`` values)."""
    config = config_for(running, host)
    async with Engine.from_config(config, host=host) as engine:
        await decide(engine, exposure, full_evidence(files, 0), "composed", "parts")
    requests = [v for w, v in tap.objects if w.startswith("sign result")]
    parts = [part for request in requests for part in request.files]
    assert len(parts) >= 3
    for part in parts:
        exposure.obj(f"FilePart {part.field}", part)
    assert_no_leaks(exposure, caplog)


def test_canary_directory_is_in_every_evidence_path(files: CanaryFiles) -> None:
    """The evidence really lives under the canary folder (or a leaked path would go unseen)."""
    assert all(CANARY_DIR in str(path) for path in files.paths.values())
    assert all(IMAGE_MARKER in files[name].read_bytes() for name in ("selfie", "video"))
    assert check_digit(ID_NUMBER[:17]) == ID_NUMBER[17]
    # Nobody else has the number: the synthetic cast and the demo files use their own.
    assert Population.default().by_id_number(ID_NUMBER) is None
    assert Population.generate(200).by_id_number(ID_NUMBER) is None
