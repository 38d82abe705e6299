"""What the engine reads, what it refuses before sending, and what its records say.

Defect 3 (issue 10): a response was read whole whatever its size. Reads now stop at the
vendor's ``max_response_bytes`` (1 MiB by default) and count as a malformed answer.
Defect 8: missing evidence, a file over a vendor's limit, bad credentials and the deadline all
ended as "No vendor could answer in time". The explanation now names the real cause.
Defect 9: evidence that no vendor of the policy can take was still a decision (``error``, exit
0). It is now refused before anything is sent: ``InvalidEvidenceError`` naming the field and
every vendor's limit, exit 2 in the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import kycmux
from engine.e2e_support import LINKFACE, SimCounter, parse_exports
from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    Evidence,
    HttpClient,
    Outcome,
    PluginHost,
    Policy,
    RetryPolicy,
    Secret,
    SystemClock,
    VendorConfig,
    VendorSettings,
)
from kycmux.cli._main import main
from kycmux.exceptions import ConfigError, InvalidEvidenceError
from kycmux.simkit import Sandbox
from kycmux.synthetic import DemoSet
from kycmux.testing import CANARY, FakeVendor, Rig, answer, hang, make_rig, policy, tiny_png

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


@pytest.fixture
def evidence(png_file: Path) -> Evidence:
    return Evidence(selfie=png_file, subject_id="subject-answers")


# response size -----------------------------------------------------------------------------


class Flood:
    """A loopback HTTP server answering 200 MB, declared or chunked, counting what it wrote."""

    def __init__(self, *, declared: bool) -> None:
        self.declared = declared
        self.written = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            length = b"Content-Length: 209715200\r\n" if self.declared else b""
            chunked = b"" if self.declared else b"Transfer-Encoding: chunked\r\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + length
                + chunked
                + b"\r\n"
            )
            chunk = b"9" * 65536
            framed = chunk if self.declared else b"10000\r\n" + chunk + b"\r\n"
            while self.written < 200 * MIB:
                writer.write(framed)
                self.written += len(chunk)
                await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Flood]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self


def _loopback_engine(base_urls: dict[str, str], backend: str, *policies: Policy) -> Engine:
    host = PluginHost()
    for name, url in base_urls.items():
        host.register(FakeVendor(name, base_url=url), name)
    config = Config(
        vendors={
            name: VendorConfig(name, url, {"token": Secret(CANARY)})
            for name, url in base_urls.items()
        }
    )
    return Engine.from_config(
        config,
        host=host,
        http=HttpClient.create(async_backend=backend),  # type: ignore[arg-type]
        clock=SystemClock(),
        policies=policies,
        record_key=b"k",
    )


class Plain:
    """A loopback server answering the fake vendor's success JSON."""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            body = json.dumps({"code": "OK", "live": True, "score": 0.9}).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            writer.write(head + body)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_huge_answer_is_cut_at_the_cap_and_fails_over(
    evidence: Evidence, backend: str, declared: bool
) -> None:
    flood = Flood(declared=declared)
    once = VendorSettings(retry=RetryPolicy(max_attempts=1))
    failover = Policy(
        "p",
        {Check.LIVENESS: CheckPolicy(("alpha", "beta"))},
        deadline=10.0,
        vendors={"alpha": once},
    )
    async with flood.running(), Plain().running() as beta_url:
        urls = {"alpha": f"http://127.0.0.1:{flood.port}", "beta": beta_url}
        async with _loopback_engine(urls, backend, failover) as engine:
            decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    first = decision.record.attempts[0]
    assert (first.vendor, first.error_class, first.reason) == (
        "alpha",
        "vendor_unavailable",
        "response_too_large",
    )
    # Reading stopped near 1 MiB: what the server got out is bounded by the socket buffers.
    assert flood.written < 16 * MIB


def test_the_cap_is_a_per_vendor_setting() -> None:
    host = PluginHost.from_entry_points()
    table = {"vendors": {LINKFACE: {"api_id": "${A}", "api_secret": "${B}"}}}
    env = {"A": "id", "B": "secret"}
    assert Config.from_mapping(table, host.vendors, env).vendors[LINKFACE].max_response_bytes == MIB
    table["vendors"][LINKFACE]["max_response_bytes"] = 4096
    assert (
        Config.from_mapping(table, host.vendors, env).vendors[LINKFACE].max_response_bytes == 4096
    )
    table["vendors"][LINKFACE]["max_response_bytes"] = 0
    with pytest.raises(ConfigError, match=r"vendors\.linkface\.max_response_bytes"):
        Config.from_mapping(table, host.vendors, env)


async def test_a_small_cap_refuses_an_ordinary_answer(evidence: Evidence) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    config = engine.vendor_configs["alpha"]
    small = VendorConfig("alpha", config.base_url, config.values, max_response_bytes=10)
    client = kycmux.VendorClient(
        engine.host,
        {"alpha": small},
        HttpClient.create(async_transport=httpx.MockTransport(rig.handle)),
    )
    request = client.prepare("alpha", frozenset({Check.LIVENESS}), evidence, "r")
    outcome = await client.acall(request, "r", 1, 5.0)
    assert outcome.failure is not None
    assert outcome.failure.reason == "response_too_large"


# explanations ------------------------------------------------------------------------------


class LimitedVendor(FakeVendor):
    """Refuses every selfie locally, as a vendor with a 5 MB limit refuses a 6 MB one."""

    @kycmux.hookimpl(tryfirst=True, specname="build_request")
    def refuse(self) -> None:
        raise InvalidEvidenceError(
            "selfie", "file is 6291456 bytes; the limit is 5242880 bytes (5 MB)", vendor=self.name
        )


def _limited_rig(vendor: str = "alpha") -> Rig:
    rig = make_rig()
    rig.vendors[vendor] = LimitedVendor(vendor, base_url=f"https://{vendor}.example.com")
    return rig


async def test_missing_evidence_is_named_in_the_explanation(png_file: Path) -> None:
    rig = make_rig()
    engine = rig.engine(policy())
    decision = await engine.verify(Evidence(subject_id="s"))  # no selfie at all
    assert decision.outcome is Outcome.ERROR
    explanation = decision.record.explanation
    assert "could answer in time" not in explanation
    assert "alpha needs evidence that was not given: selfie" in explanation
    assert "beta needs evidence that was not given: selfie" in explanation
    assert sum(rig.calls.values()) == 0


async def test_rejected_credentials_are_named_in_the_explanation(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", answer("AUTH"))
    rig.script("beta", answer("AUTH"))
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.ERROR
    explanation = decision.record.explanation
    assert "could answer in time" not in explanation
    assert "alpha rejected our credentials (alpha:AUTH)" in explanation
    assert "beta rejected our credentials (beta:AUTH)" in explanation


async def test_a_local_limit_is_named_in_the_explanation(evidence: Evidence) -> None:
    rig = _limited_rig("alpha")
    rig.script("beta", answer("DOWN"), answer("DOWN"), answer("DOWN"))
    engine = rig.engine(policy())
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ERROR
    explanation = decision.record.explanation
    assert "alpha cannot take the evidence: selfie: file is 6291456 bytes" in explanation
    assert "beta unavailable (beta:DOWN)" in explanation


async def test_the_deadline_is_named_in_the_explanation(evidence: Evidence) -> None:
    rig = make_rig()
    rig.script("alpha", hang())
    rig.script("beta", hang())
    engine = rig.engine(policy(deadline=2.0))
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ERROR
    assert "no answer within the 2 s deadline" in decision.record.explanation


# evidence no vendor can take ---------------------------------------------------------------


async def test_evidence_no_vendor_can_take_is_refused_before_sending(evidence: Evidence) -> None:
    rig = make_rig()
    for name in ("alpha", "beta"):
        rig.vendors[name] = LimitedVendor(name, base_url=f"https://{name}.example.com")
    engine = rig.engine(policy())
    with pytest.raises(InvalidEvidenceError) as refused:
        await engine.verify(evidence)
    assert refused.value.field == "selfie"
    assert "alpha: selfie: file is 6291456 bytes; the limit is 5242880 bytes" in refused.value.rule
    assert "beta: selfie:" in refused.value.rule
    assert rig.calls == {"alpha": 0, "beta": 0}


async def test_a_vendor_that_cannot_take_the_evidence_is_skipped_before_sending(
    evidence: Evidence,
) -> None:
    rig = _limited_rig("alpha")
    decision = await rig.engine(policy()).verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
    assert rig.calls == {"alpha": 0, "beta": 1}
    assert [(a.vendor, a.role) for a in decision.record.attempts] == [("beta", "primary")]
    reasons = {(s.vendor, s.reason.split(":")[0]) for s in decision.record.skipped}
    assert ("alpha", "local_validation") in reasons


@pytest.fixture
def oversized_selfie(tmp_path: Path) -> Path:
    path = tmp_path / "big.png"
    path.write_bytes(tiny_png() + b"\0" * (6 * MIB))  # a real PNG header, 6 MB on disk
    return path


def test_the_cli_refuses_it_with_exit_2(
    box: Sandbox, tmp_path: Path, oversized_selfie: Path, demo: DemoSet
) -> None:
    config = tmp_path / "kycmux.toml"
    config.write_text(box.toml(), encoding="utf-8")
    counter = SimCounter(box, LINKFACE)
    result = CliRunner().invoke(
        main,
        [
            "verify",
            "--config", str(config),
            "--vendor", LINKFACE,
            "--selfie", str(oversized_selfie),
            "--liveness-data", str(demo["live_liveness_data"]),
        ],
        env=parse_exports(box.exports()),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--selfie" in result.output
    assert "5242880" in result.output or "5 MB" in result.output
    assert counter.served() == 0


async def test_an_ensemble_member_that_cannot_take_the_evidence_keeps_it_from_passing(
    evidence: Evidence,
) -> None:
    rig = _limited_rig("alpha")
    ensemble = policy(checks={Check.LIVENESS: CheckPolicy(("alpha", "beta"), mode="all")})
    decision = await rig.engine(ensemble).verify(evidence)
    assert decision.outcome is Outcome.REVIEW  # beta passed; alpha could not answer
    assert decision.reasons == ("liveness:incomplete_ensemble",)
    assert rig.calls == {"alpha": 0, "beta": 1}


async def test_a_check_answered_before_the_deadline_keeps_its_own_cause(
    evidence: Evidence,
) -> None:
    rig = make_rig()
    rig.script("alpha", answer("AUTH"))  # liveness and face match both at once, then...
    engine = rig.engine(
        policy(
            deadline=2.0,
            checks={
                Check.LIVENESS: CheckPolicy(("alpha",)),
                Check.FACE_MATCH: CheckPolicy(("beta",), max_far=1e-3),
            },
        )
    )
    rig.script("beta", hang())  # ...face match waits on beta until the deadline
    async with rig.clock.autojump():
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ERROR
    assert set(decision.reasons) == {
        "liveness:alpha:AUTH",
        "face_match:deadline_exceeded",
    }
    assert "liveness: error (alpha rejected our credentials" in decision.record.explanation


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9)


class Compressed:
    """A loopback server answering gzip whatever it was asked, counting nothing but bytes."""

    def __init__(self, body: bytes) -> None:
        self.body = _gzip(body)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            head = (
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n"
            ).encode()
            writer.write(head + self.body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_a_compression_bomb_is_refused_at_the_cap(evidence: Evidence, backend: str) -> None:
    bomb = Compressed(b"0" * (300 * MIB))  # ~300 KB on the wire, 300 MB inflated
    assert len(bomb.body) < MIB
    once = VendorSettings(retry=RetryPolicy(max_attempts=1))
    alone = Policy("p", {Check.LIVENESS: CheckPolicy(("alpha",))}, vendors={"alpha": once})
    async with bomb.running() as url, _loopback_engine({"alpha": url}, backend, alone) as engine:
        tracemalloc.start()
        try:
            decision = await engine.verify(evidence)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    (attempt,) = decision.record.attempts
    assert attempt.reason == "response_too_large"
    # Inflated in steps bounded by the cap, never a network chunk's worth at once (tens of MB).
    assert peak < 8 * MIB


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_a_small_compressed_answer_is_still_read(evidence: Evidence, backend: str) -> None:
    body = json.dumps({"code": "OK", "live": True, "score": 0.9}).encode()
    alone = Policy("p", {Check.LIVENESS: CheckPolicy(("alpha",))})
    server = Compressed(body).running()
    async with server as url, _loopback_engine({"alpha": url}, backend, alone) as engine:
        decision = await engine.verify(evidence)
    assert decision.outcome is Outcome.ACCEPT
