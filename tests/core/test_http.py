"""The HTTP layer and one vendor call end to end, on httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kycmux import (
    Check,
    ErrorClass,
    Evidence,
    FilePart,
    HttpClient,
    PluginHost,
    Secret,
    VendorClient,
    VendorConfig,
    VendorRequest,
)
from kycmux.simkit import SimResponse, SimulatorApp, serve
from kycmux.testing import FakeVendor

CANARY = "canary-0b1e-secret"


def request_with_file(path: Path) -> VendorRequest:
    return VendorRequest(
        vendor="alpha",
        operation="verify",
        checks=frozenset({Check.LIVENESS}),
        method="POST",
        url="https://api.example.com/verify",
        params=(("api_secret", Secret(CANARY)),),
        fields=(("appid", "123"), ("name", "张三")),
        files=(FilePart("video", "v.mp4", "video/mp4", path=path),),
        headers=(("Authorization", Secret("sig-" + CANARY)),),
    )


def test_secrets_are_revealed_on_the_wire_only(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 200_000)
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        seen.update(
            auth=request.headers["authorization"],
            secret=request.url.params["api_secret"],
            size=len(body),
            has_name="张三".encode() in body,
        )
        return httpx.Response(200, json={"ok": True})

    client = HttpClient.create(transport=httpx.MockTransport(handler))
    request = request_with_file(video)
    sent = client.send(request, timeout=5)
    assert sent.response is not None
    assert sent.response.status_code == 200
    assert sent.body_sent
    assert seen["auth"] == "sig-" + CANARY
    assert seen["secret"] == CANARY
    assert seen["has_name"] is True
    assert isinstance(seen["size"], int)
    assert seen["size"] > 200_000
    assert CANARY not in repr(request)
    assert "张三" not in repr(request)
    client.close()


def test_transport_errors_are_returned_not_raised(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 10)

    class Refusing(httpx.BaseTransport):
        # Unlike MockTransport, this does not read the body first: like a refused connect.
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

    sent = HttpClient.create(transport=Refusing()).send(request_with_file(video), timeout=1)
    assert isinstance(sent.error, httpx.ConnectError)
    assert sent.response is None
    assert not sent.body_sent


@pytest.mark.anyio
async def test_async_deadline_after_sending_reports_the_body_as_sent(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 50_000)

    async def slow(request: httpx.Request) -> httpx.Response:
        await request.aread()  # the vendor received everything...
        await asyncio.sleep(30)  # ...and never answers
        return httpx.Response(200)

    client = HttpClient.create(async_transport=httpx.MockTransport(slow))
    sent = await client.asend(request_with_file(video), timeout=0.05)
    assert isinstance(sent.error, httpx.ReadTimeout)
    assert sent.body_sent
    await client.aclose()


@pytest.mark.anyio
async def test_async_deadline_before_sending_is_not_billed(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 50_000)

    class Connecting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(30)  # still connecting: not a byte of the body has left
            return httpx.Response(200)

    client = HttpClient.create(async_transport=Connecting())
    sent = await client.asend(request_with_file(video), timeout=0.05)
    assert isinstance(sent.error, httpx.WriteTimeout)
    assert not sent.body_sent
    await client.aclose()


def make_client(handler: object) -> tuple[VendorClient, FakeVendor]:
    vendor = FakeVendor("alpha")
    host = PluginHost()
    host.register(vendor, "alpha")
    config = VendorConfig("alpha", "https://api.example.com", {"token": Secret(CANARY)})
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return VendorClient(host, {"alpha": config}, HttpClient.create(transport=transport)), vendor


def test_one_call_parses_normalizes_and_signs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-token"] == CANARY
        return httpx.Response(200, json={"code": "OK", "live": True, "score": 0.6})

    client, vendor = make_client(handler)
    checks = frozenset({Check.LIVENESS, Check.FACE_MATCH})
    request = client.prepare("alpha", checks, Evidence(), "req-1")
    outcome = client.call(request, "req-1", attempt=1, timeout=5)
    assert outcome.failure is None
    assert outcome.readings[Check.LIVENESS].answer.passed is True  # type: ignore[union-attr]
    score = outcome.readings[Check.FACE_MATCH].score
    assert score is not None
    assert score.calibrated
    assert score.far == pytest.approx(1e-3)
    assert [c for c, _ in vendor.calls] == ["build_request", "sign", "parse"]


def test_malformed_body_is_classified_never_a_pass() -> None:
    client, _ = make_client(lambda request: httpx.Response(200, text="<html>oops</html>"))
    request = client.prepare("alpha", frozenset({Check.LIVENESS}), Evidence(), "req-2")
    outcome = client.call(request, "req-2", attempt=1, timeout=5)
    assert outcome.failure is not None
    assert outcome.failure.error_class is ErrorClass.VENDOR_UNAVAILABLE
    assert outcome.failure.reason == "malformed_response"
    reading = outcome.readings[Check.LIVENESS]
    assert reading.answer is None
    assert reading.failure == outcome.failure


def test_vendor_error_code_goes_through_the_plugin_classifier() -> None:
    client, _ = make_client(
        lambda r: httpx.Response(200, json={"code": "E42", "live": False, "score": 0})
    )
    request = client.prepare("alpha", frozenset({Check.LIVENESS}), Evidence(), "req-3")
    outcome = client.call(request, "req-3", attempt=1, timeout=5)
    assert outcome.failure is not None
    assert outcome.failure.reason == "alpha:E42"
    assert json.dumps(outcome.http_status) == "200"


class _Echo(SimulatorApp):
    def routes(self) -> dict:  # type: ignore[type-arg]
        return {("POST", "/x"): lambda request: SimResponse(200, b'{"ok": true}')}

    def client_settings(self) -> dict:  # type: ignore[type-arg]
        return {}


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
@pytest.mark.parametrize(
    ("fault", "error", "billed"),
    [
        ("reset", httpx.ReadError, True),
        # httpcore calls a short body a protocol error, aiohttp a read error: both are resets.
        ("truncated", httpx.ReadError | httpx.RemoteProtocolError, True),
        ("hang", httpx.ReadTimeout, True),
        (None, None, True),
    ],
)
async def test_loopback_failures_are_reported_as_what_happened(
    backend: str, fault: str | None, error: Any, billed: bool
) -> None:
    """Over real loopback HTTP, on both async backends (httpx-aiohttp maps resets oddly)."""
    headers = (("X-Kycmux-Sim-Fault", fault),) if fault else ()
    with serve(_Echo()) as sim:
        client = HttpClient.create(async_backend=backend)  # type: ignore[arg-type]
        request = VendorRequest(
            "v",
            "x",
            frozenset(),
            "POST",
            sim.base_url + "/x",
            fields=(("a", "b"),),
            headers=headers,
        )
        sent = await client.asend(request, 0.5)
        await client.aclose()
    if error is None:
        assert sent.response is not None
        assert sent.response.status_code == 200
    else:
        assert isinstance(sent.error, error), repr(sent.error)
    assert sent.body_sent is billed


@pytest.mark.anyio
async def test_refused_connection_is_a_connect_error_not_billed() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        client = HttpClient.create()
        request = VendorRequest("v", "x", frozenset(), "POST", f"http://127.0.0.1:{port}/x")
        sent = await client.asend(request, 1.0)
        await client.aclose()
    assert isinstance(sent.error, httpx.ConnectError | httpx.ConnectTimeout)
    assert not isinstance(sent.error, httpx.ReadError)


def test_a_parser_bug_is_a_plugin_error_not_a_vendor_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The fake parser indexes body["live"]: a JSON body without it makes it raise KeyError.
    client, _ = make_client(lambda request: httpx.Response(200, json={"code": "OK"}))
    request = client.prepare("alpha", frozenset({Check.LIVENESS}), Evidence(), "req-4")
    outcome = client.call(request, "req-4", attempt=1, timeout=5)
    assert outcome.failure is not None
    assert outcome.failure.error_class is ErrorClass.PLUGIN_ERROR
    assert outcome.failure.reason == "plugin_error:alpha:parse:KeyError"
    assert outcome.fault is not None
    assert (outcome.fault.hook, outcome.fault.plugin) == ("parse", "alpha")
    assert "plugin alpha" in caplog.text
    assert "KeyError" in caplog.text
