"""Vendor-issued challenges end to end: ``Engine.challenge`` asks Tencent's livegetfour on the
simulator, the video reads those digits, ``verify`` sends them; the challenge binds the checks
to Tencent (no silent failover to Linkface); caller digits only under the opt-in, recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from engine.e2e_support import LINKFACE, TENCENT, parse_exports, policies
from kycmux import (
    AttemptRecord,
    Challenge,
    Config,
    Engine,
    Evidence,
    Outcome,
    PluginHost,
    hookimpl,
)
from kycmux._engine._challenge import challenge_key, seal
from kycmux.exceptions import ChallengeUnavailableError, InvalidEvidenceError
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.synthetic import DemoSet, VideoTruth, write_video

pytestmark = pytest.mark.anyio
RECORD_KEY = b"challenge-tests-record-key"


@pytest.fixture(scope="module")
def strict_box(sim_host: PluginHost) -> Iterator[Sandbox]:
    """Simulators that take only the digits they issued, and no opt-in in the config."""
    with run_sandbox(sim_host, [LINKFACE, TENCENT]) as box:
        yield box


@pytest.fixture
def box(strict_box: Sandbox) -> Iterator[Sandbox]:
    for vendor in (LINKFACE, TENCENT):
        strict_box.app(vendor).faults.clear()
    yield strict_box
    for vendor in (LINKFACE, TENCENT):
        strict_box.app(vendor).faults.clear()


class _Attempts:
    """An observer plugin keeping every attempt record."""

    def __init__(self) -> None:
        self.seen: list[AttemptRecord] = []

    @hookimpl
    def on_attempt(self, record: AttemptRecord) -> None:
        self.seen.append(record)


def _engine(box: Sandbox, host: PluginHost, **tencent: Any) -> Engine:
    tables = {name: dict(table) for name, table in box.tables.items()}
    tables[TENCENT].update(tencent)
    config = {"vendors": tables, "policies": policies()}
    cfg = Config.from_mapping(config, host.vendors, box.env)
    engine = Engine.from_config(cfg, host=host, record_key=RECORD_KEY)
    engine.set_default_policy("video_first")
    return engine


def _video(tmp_path: Path, demo: DemoSet, digits: str) -> Path:
    truth = attrs.evolve(demo.truths["live_video"], digits_read=digits)
    assert isinstance(truth, VideoTruth)
    return write_video(tmp_path / f"live_{digits}.mp4", truth)


def _capture(tmp_path: Path, demo: DemoSet, challenge: Challenge, **extra: Any) -> Evidence:
    video = _video(tmp_path, demo, challenge.value)
    return Evidence(video=video, reference_photo=demo["card_photo"], challenge=challenge, **extra)


async def test_challenge_then_verify_accepts_and_records_the_challenge(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    observer = _Attempts()
    host = PluginHost.from_entry_points()
    assert host.register(observer, "attempts")
    async with _engine(box, host) as engine:
        challenge = await engine.challenge("subject-1")
        assert challenge.vendor == TENCENT
        assert challenge.value not in repr(challenge)
        # Sealed for subject-1: only evidence of subject-1 may carry it.
        decision = await engine.verify(_capture(tmp_path, demo, challenge, subject_id="subject-1"))
        replay = await engine.verify(_capture(tmp_path, demo, challenge, subject_id="subject-1"))
        with pytest.raises(InvalidEvidenceError, match=r"challenge\.subject"):
            await engine.verify(_capture(tmp_path, demo, challenge))
        await engine.drain()
    seen = observer.seen
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    issued = [a for a in seen if a.role == "challenge"]
    assert [(a.vendor, a.operation, a.http_status) for a in issued] == [
        (TENCENT, "livegetfour", 200)
    ]
    record = decision.record.to_dict()
    assert record["challenge"] == {
        "source": "vendor",
        "vendor": TENCENT,
        "kind": "digits",
        "id": None,
        "request_id": challenge.request_id,
        "issued_at": challenge.issued_at,
        "expires_at": challenge.expires_at,
    }
    assert challenge.value not in str(record["challenge"])
    # The same challenge twice: the vendor calls it a replay, a definitive negative.
    assert replay.outcome is Outcome.REJECT
    assert [a.vendor for a in replay.record.attempts] == [TENCENT]


async def test_a_video_reading_other_digits_is_a_new_capture_not_a_failover(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    async with _engine(box, sim_host) as engine:
        challenge = await engine.challenge()
        other = "0000" if challenge.value != "0000" else "1111"
        evidence = Evidence(
            video=_video(tmp_path, demo, other),
            reference_photo=demo["card_photo"],
            challenge=challenge,
            selfie=demo["selfie"],
            liveness_data=demo["live_liveness_data"],
        )
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.RETRY_CAPTURE
    assert [a.vendor for a in decision.record.attempts] == [TENCENT]


async def test_failover_of_a_challenged_check_is_retry_capture_with_the_hint(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    """Tencent down after issuing: Linkface could serve the checks from the SDK data, but it
    cannot honour Tencent's challenge, so the decision asks for a new capture."""
    both = {"selfie": demo["selfie"], "liveness_data": demo["live_liveness_data"]}
    async with _engine(box, sim_host) as engine:
        challenge = await engine.challenge()
        box.app(TENCENT).faults.inject("http_5xx=503", count=10)
        decision = await engine.verify(_capture(tmp_path, demo, challenge, **both))
    assert decision.outcome is Outcome.RETRY_CAPTURE, decision.record.explanation
    # The 503 came after the whole request left: Tencent (or a gateway behind it) may have
    # used the digits, so they are neither resent nor moved to Linkface.
    assert "liveness:challenge_spent" in decision.reasons
    assert [a.vendor for a in decision.record.attempts] == [TENCENT]
    assert decision.hint is not None
    assert "new digits" in decision.hint
    skipped = {(s.vendor, s.reason) for s in decision.record.skipped}
    assert (LINKFACE, f"challenge_bound:{TENCENT}") in skipped
    assert "not resent" in decision.record.explanation
    assert "unavailable" in decision.record.explanation  # the real cause: Tencent's 503s


async def test_a_spoof_under_a_challenge_is_rejected_without_failover(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    async with _engine(box, sim_host) as engine:
        challenge = await engine.challenge()
        truth = attrs.evolve(demo.truths["spoof_video"], digits_read=challenge.value)
        assert isinstance(truth, VideoTruth)
        video = write_video(tmp_path / "spoof.mp4", truth)
        evidence = Evidence(
            video=video,
            reference_photo=demo["card_photo"],
            challenge=challenge,
            selfie=demo["selfie"],
            liveness_data=demo["live_liveness_data"],
        )
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.REJECT
    assert [a.vendor for a in decision.record.attempts] == [TENCENT]


async def test_an_expired_challenge_is_refused_before_anything_is_sent(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet, tmp_path: Path
) -> None:
    async with _engine(box, sim_host) as engine:
        challenge = await engine.challenge()
        stale = attrs.evolve(
            challenge, issued_at=challenge.issued_at - 200, expires_at=challenge.issued_at - 1
        )
        # Sealed as the engine would have sealed it then: expiry, not the seal, refuses it.
        stale = seal(challenge_key(RECORD_KEY), stale, stale.subject)
        served = (
            box.app(TENCENT).stats.snapshot()
            if hasattr(box.app(TENCENT).stats, "snapshot")
            else None
        )
        with pytest.raises(InvalidEvidenceError) as info:
            await engine.verify(_capture(tmp_path, demo, stale))
    assert info.value.field == "challenge"
    assert "expired" in info.value.rule
    del served


async def test_caller_digits_without_the_opt_in_are_refused_before_sending(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    evidence = Evidence(video=demo["live_video"], digits="9532")
    async with _engine(box, sim_host) as engine:
        with pytest.raises(InvalidEvidenceError) as info:
            await engine.verify(evidence, vendor=TENCENT, checks=["liveness"])  # type: ignore[list-item]
    assert info.value.field == "digits"
    assert "allow_caller_digits" in info.value.rule


async def test_caller_digits_under_the_opt_in_work_and_are_recorded(
    box: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    box.app(TENCENT).accept_unissued_challenges = True
    try:
        async with _engine(box, sim_host, allow_caller_digits=True) as engine:
            decision = await engine.verify(
                Evidence(
                    video=demo["live_video"], digits="9532", reference_photo=demo["card_photo"]
                )
            )
    finally:
        box.app(TENCENT).accept_unissued_challenges = False
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert decision.record.challenge == {"source": "caller", "vendor": TENCENT, "kind": "digits"}


async def test_no_challenge_when_the_first_vendor_needs_none_or_tencent_is_down(
    box: Sandbox, sim_host: PluginHost
) -> None:
    async with _engine(box, sim_host) as engine:
        with pytest.raises(ChallengeUnavailableError) as none:
            await engine.challenge(policy="sdk_first")
        box.app(TENCENT).faults.inject("http_5xx=503", count=10)
        with pytest.raises(ChallengeUnavailableError) as down:
            await engine.challenge()
    assert none.value.reasons == ()
    assert down.value.reasons
    assert down.value.reasons[0].startswith(f"{TENCENT}:")
    assert [a.role for a in down.value.attempts] == ["challenge"]


def test_the_sync_facade_issues_a_challenge(box: Sandbox, sim_host: PluginHost) -> None:
    with _engine(box, sim_host) as engine:
        challenge = engine.challenge_sync("s")
    assert challenge.vendor == TENCENT
    assert challenge.value.isdigit()


_CLI = "from kycmux.cli._launch import main; main()"


def _kycmux(
    args: list[str], box: Sandbox, stdin: str | None = None, exports: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``kycmux ARGS`` in a process of its own, with the sandbox's exports (or ``exports``)."""
    given = {"KYCMUX_TEST_RECORD_KEY": "k" * 32, **parse_exports(box.exports())}
    env = {**os.environ, **(given if exports is None else parse_exports(exports))}
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_challenge_pipes_into_verify(box: Sandbox, demo: DemoSet, tmp_path: Path) -> None:
    config = tmp_path / "kycmux.toml"
    # Two processes: only a shared record key lets the second verify the first one's seal.
    config.write_text(box.toml() + POLICY_TOML + ENGINE_TOML, encoding="utf-8")
    issued = _kycmux(["challenge", "--config", str(config), "--json"], box)
    assert issued.returncode == 0, issued.stderr
    challenge = Challenge.from_dict(json.loads(issued.stdout))
    assert challenge.vendor == TENCENT
    video = _video(tmp_path, demo, challenge.value)
    verify = ["verify", "--config", str(config), "--video", str(video), "--card"]
    verify += [str(demo["card_photo"]), "--challenge", "-", "--json"]
    first = _kycmux(verify, box, stdin=issued.stdout)
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert record["outcome"] == "accept", record["explanation"]
    assert record["challenge"]["source"] == "vendor"
    assert challenge.value not in json.dumps(record["challenge"])
    # The same challenge piped again is a replay: rejected, never passed.
    again = _kycmux(verify, box, stdin=issued.stdout)
    assert json.loads(again.stdout)["outcome"] == "reject"
    human = _kycmux(["challenge", "--config", str(config)], box)
    assert human.returncode == 0, human.stderr
    assert "Read aloud: " in human.stdout


POLICY_TOML = """
[policies.default]
liveness = { vendors = ["tencent_legacy", "linkface"] }
face_match = { vendors = ["tencent_legacy", "linkface"], max_far = 1e-4 }
"""

ENGINE_TOML = """
[engine]
record_key = "${KYCMUX_TEST_RECORD_KEY}"
"""


def test_a_sandbox_written_config_carries_a_challenge_across_processes(
    box: Sandbox, demo: DemoSet, tmp_path: Path
) -> None:
    from kycmux.cli._sandbox import _write, configuration

    folder = tmp_path / "sandbox"
    _write(folder, box, *configuration(box))
    config = folder / "kycmux.toml"
    with config.open("a", encoding="utf-8") as toml:
        toml.write(POLICY_TOML)
    exports = (folder / "sandbox.env").read_text(encoding="utf-8")
    issued = _kycmux(["challenge", "--config", str(config), "--json"], box, exports=exports)
    assert issued.returncode == 0, issued.stderr
    challenge = Challenge.from_dict(json.loads(issued.stdout))
    video = _video(tmp_path, demo, challenge.value)
    verify = ["verify", "--config", str(config), "--video", str(video), "--card"]
    verify += [str(demo["card_photo"]), "--challenge", "-", "--json"]
    decided = _kycmux(verify, box, stdin=issued.stdout, exports=exports)
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["outcome"] == "accept"
