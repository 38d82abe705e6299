"""Two accounts of one vendor end to end: ``linkface`` and ``linkface_b`` (``plugin =
"linkface"``), each on its own Linkface simulator on loopback, over real HTTP.

Faults are injected into one simulator only; the engine sees them on the wire.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.e2e_support import LINKFACE, TENCENT, both_captures, parse_exports, video_capture
from kycmux import Check, Config, Engine, Outcome, PluginHost
from kycmux.cli._main import main
from kycmux.resilience import BreakerState
from kycmux.simkit import Sandbox, run_sandbox
from kycmux.state import RedisState
from kycmux.synthetic import DemoSet
from kycmux.testing import perform_challenge
from support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

SECOND = "linkface_b"
OLD_HOST = "tencent_service_host"
OUTAGE = {"breaker": {"window": 30.0, "failure_ratio": 0.5, "min_calls": 2, "open_seconds": 60.0}}


@pytest.fixture(scope="module")
def pair(sim_host: PluginHost) -> Iterator[Sandbox]:
    """Linkface's simulator, and a second one for the ``linkface_b`` account."""
    with run_sandbox(sim_host, [LINKFACE], instances={SECOND: LINKFACE}) as box:
        yield box


@pytest.fixture
def sims(pair: Sandbox) -> Iterator[Sandbox]:
    for name in (LINKFACE, SECOND):
        pair.app(name).faults.clear()
    yield pair
    for name in (LINKFACE, SECOND):
        pair.app(name).faults.clear()


def engine_over(box: Sandbox, host: PluginHost, **options: Any) -> Engine:
    order = [LINKFACE, SECOND]
    sight = {"vendors": order}
    policy = {
        "deadline": 5.0,
        "liveness": sight,
        "face_match": {**sight, "max_far": 1e-4},
        "vendors": {name: {"retry": {"max_attempts": 1}} for name in order},
    }
    resilience = dict.fromkeys(order, OUTAGE)
    config = box.config(host, resilience=resilience, policies={"accounts": policy})
    return Engine.from_config(config, host=host, **options)


def served(box: Sandbox, name: str) -> int:
    return sum(box.app(name).stats.requests.values())


def test_the_sandbox_gives_the_instance_its_own_simulator_and_table(
    sims: Sandbox, sim_host: PluginHost
) -> None:
    assert sims.tables[SECOND]["plugin"] == LINKFACE
    assert "plugin" not in sims.tables[LINKFACE]
    assert sims.tables[SECOND]["base_url"] != sims.tables[LINKFACE]["base_url"]
    assert f'[vendors.{SECOND}]\nplugin = "{LINKFACE}"' in sims.toml()
    config = sims.config(sim_host)
    assert (config.vendors[SECOND].vendor, config.vendors[SECOND].plugin) == (SECOND, LINKFACE)


async def test_one_account_down_fails_over_to_the_other_and_opens_only_its_breaker(
    sims: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    sims.app(LINKFACE).faults.inject("http_5xx=503", duration=60)
    first, second = served(sims, LINKFACE), served(sims, SECOND)
    async with engine_over(sims, sim_host) as engine:
        for i in range(2):
            decision = await engine.verify(both_captures(demo, subject_id=f"down-{i}"))
            assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
            attempts = [
                (a.vendor, a.instance_of, a.role, a.error_class, a.http_status)
                for a in decision.record.attempts
            ]
            assert attempts == [
                (LINKFACE, None, "primary", "vendor_unavailable", 503),
                (SECOND, LINKFACE, "failover", None, 200),
            ]
            assert decision.record.to_dict()["attempts"][1]["instance_of"] == LINKFACE
        assert (await engine.breaker_stats(LINKFACE)).state is BreakerState.OPEN
        assert (await engine.breaker_stats(SECOND)).state is BreakerState.CLOSED

        # Open: the first account is skipped without a call; the second answers.
        skipped = await engine.verify(both_captures(demo, subject_id="open"))
    assert skipped.outcome is Outcome.ACCEPT
    assert {(s.vendor, s.reason) for s in skipped.record.skipped} == {(LINKFACE, "circuit_open")}
    assert [a.vendor for a in skipped.record.attempts] == [SECOND]
    assert (served(sims, LINKFACE) - first, served(sims, SECOND) - second) == (2, 3)


@pytest.mark.parametrize(
    ("captures", "reason"),
    [
        ({"liveness_data": "attack_liveness_data"}, "liveness:linkface:vendor_verdict"),
        ({"selfie": "impostor_selfie"}, "face_match:linkface:score_below_threshold"),
    ],
)
async def test_a_definitive_negative_from_one_account_is_not_asked_of_the_other(
    sims: Sandbox, sim_host: PluginHost, demo: DemoSet, captures: dict[str, str], reason: str
) -> None:
    """Shopping for a lenient answer across accounts of one vendor is shopping all the same."""
    second = served(sims, SECOND)
    async with engine_over(sims, sim_host) as engine:
        decision = await engine.verify(both_captures(demo, subject_id="attacker", **captures))
    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == (reason,)
    assert [a.vendor for a in decision.record.attempts] == [LINKFACE]
    assert served(sims, SECOND) == second


async def test_the_second_accounts_own_negative_names_it(
    sims: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    sims.app(LINKFACE).faults.inject("http_5xx=503", count=1)
    async with engine_over(sims, sim_host) as engine:
        evidence = both_captures(demo, liveness_data="attack_liveness_data", subject_id="a2")
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == (f"liveness:{SECOND}:vendor_verdict",)
    liveness = next(c for c in decision.record.checks if c.check == "liveness")
    assert liveness.vendors == (SECOND,)


async def test_shared_state_keys_each_account_apart(
    sims: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    sims.app(LINKFACE).faults.inject("http_5xx=503", duration=60)
    namespace = f"t{uuid.uuid4().hex[:10]}"
    with RedisServer() as server:
        state = RedisState.from_url(server.url, namespace=namespace, timeout=2.0)
        engine = engine_over(sims, sim_host, state=state, record_key=b"k" * 32)
        async with engine:
            for i in range(2):
                decision = await engine.verify(both_captures(demo, subject_id=f"r{i}"))
                assert decision.outcome is Outcome.ACCEPT
            assert (await engine.breaker_stats(LINKFACE)).state is BreakerState.OPEN
            assert (await engine.breaker_stats(SECOND)).state is BreakerState.CLOSED
        keys = {k.decode() for k in server.client().keys(f"{namespace}:v:*")}
    assert any(k.startswith(f"{namespace}:v:{{{SECOND}}}:") for k in keys), keys
    assert any(k.startswith(f"{namespace}:v:{{{LINKFACE}}}:") for k in keys), keys
    assert not any("{linkface}" in k and SECOND in k for k in keys)


def test_cli_sandbox_serves_an_instance_and_vendors_lists_it(
    tmp_path: Path, sim_host: PluginHost
) -> None:
    folder = tmp_path / "sandbox"
    args = [
        "sandbox",
        "--seconds",
        "0.1",
        "--write",
        str(folder),
        "--instance",
        f"{SECOND}=linkface",
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    env = parse_exports(result.stdout)
    config = Config.from_file(folder / "kycmux.toml", sim_host.vendors, env)
    assert config.vendors[SECOND].plugin == LINKFACE
    assert config.vendors[SECOND].base_url != config.vendors[LINKFACE].base_url

    listed = CliRunner().invoke(
        main, ["vendors", "--json", "--config", str(folder / "kycmux.toml")], env=env
    )
    assert listed.exit_code == 0, listed.output
    entries = {e["name"]: e for e in json.loads(listed.stdout)}
    assert entries[LINKFACE]["instances"] == [LINKFACE, SECOND]
    assert entries[LINKFACE]["configured"] is True
    table = CliRunner().invoke(main, ["vendors", "--config", str(folder / "kycmux.toml")], env=env)
    assert SECOND in table.output  # the configured column names the instances

    wrong = CliRunner().invoke(main, ["sandbox", "--seconds", "0", "--instance", "x=nobody"])
    assert wrong.exit_code == 2
    assert "NAME=VENDOR" in wrong.output


@pytest.fixture(scope="module")
def tencent_pair(sim_host: PluginHost) -> Iterator[Sandbox]:
    """Tencent's simulator as the current host, and another standing in for the older one
    (each also taking the caller's digits under the opt-in, for the failover between them)."""
    with run_sandbox(
        sim_host, [TENCENT], instances={OLD_HOST: TENCENT}, caller_challenges=True
    ) as box:
        yield box


async def test_tencents_two_hosts_as_two_instances(
    tencent_pair: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    """The bundled Tencent plugin signs, sends and reads for an instance unchanged."""
    tencent_pair.app(TENCENT).faults.inject("http_5xx=502", count=1)
    order = [TENCENT, OLD_HOST]
    policy = {
        "deadline": 5.0,
        "liveness": {"vendors": order},
        "id_registry_match": {"vendors": order, "raw_thresholds": dict.fromkeys(order, 75.0)},
        "vendors": {name: {"retry": {"max_attempts": 1}} for name in order},
    }
    config = tencent_pair.config(sim_host, policies={"hosts": policy})
    evidence = video_capture(
        demo, id_number=demo.subject.id_number, id_name=demo.subject.name, subject_id="t"
    )
    async with Engine.from_config(config, host=sim_host) as engine:
        decision = await engine.verify(evidence, checks=[Check.LIVENESS])
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert [(a.vendor, a.instance_of, a.error_class) for a in decision.record.attempts] == [
        (TENCENT, None, "vendor_unavailable"),
        (OLD_HOST, TENCENT, None),
    ]


def _liveness_over(box: Sandbox, host: PluginHost, order: list[str]) -> Engine:
    policy = {
        "deadline": 5.0,
        "liveness": {"vendors": order},
        "vendors": {name: {"retry": {"max_attempts": 1}} for name in order},
    }
    return Engine.from_config(box.config(host, policies={"hosts": policy}), host=host)


async def test_a_challenge_issued_by_an_instance_is_verified_by_it(
    tencent_pair: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    """The instance issues under its own name, and its plugin gets the challenge as its own."""
    for name in (TENCENT, OLD_HOST):
        tencent_pair.app(name).faults.clear()
    before = served(tencent_pair, TENCENT)
    async with _liveness_over(tencent_pair, sim_host, [OLD_HOST, TENCENT]) as engine:
        challenge = await engine.challenge("t")
        evidence = perform_challenge(video_capture(demo, subject_id="t"), challenge, demo)
        decision = await engine.verify(evidence, checks=[Check.LIVENESS])
    assert challenge.vendor == OLD_HOST
    assert decision.outcome is Outcome.ACCEPT, decision.record.explanation
    assert decision.record.challenge is not None
    assert decision.record.challenge["vendor"] == OLD_HOST
    assert [(a.vendor, a.instance_of) for a in decision.record.attempts] == [(OLD_HOST, TENCENT)]
    assert served(tencent_pair, TENCENT) == before, "the other account is never asked"


async def test_a_challenge_binds_to_its_instance_not_to_the_other_account(
    tencent_pair: Sandbox, sim_host: PluginHost, demo: DemoSet
) -> None:
    """The other account of the same plugin cannot honour it: a new capture, never a silent
    move to an account that never issued those digits."""
    async with _liveness_over(tencent_pair, sim_host, [TENCENT, OLD_HOST]) as engine:
        challenge = await engine.challenge("t")
        evidence = perform_challenge(video_capture(demo, subject_id="t"), challenge, demo)
        tencent_pair.app(TENCENT).faults.inject("http_5xx=502", count=1)
        decision = await engine.verify(evidence, checks=[Check.LIVENESS])
    tencent_pair.app(TENCENT).faults.clear()
    assert challenge.vendor == TENCENT
    assert decision.outcome is Outcome.RETRY_CAPTURE, decision.record.explanation
    assert [a.vendor for a in decision.record.attempts] == [TENCENT]
    # The 502 came after the whole request left: the digits may be used, so they are neither
    # resent nor moved to the other account.
    assert decision.reasons == ("liveness:challenge_spent",)
    assert f"reached {TENCENT}" in decision.record.explanation
    assert "not resent" in decision.record.explanation
