"""The default async path: a ``VendorRequest`` sent on aiohttp directly, as httpx would send it."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from kycmux import Check, FilePart, HttpClient, Secret, VendorRequest
from kycmux._transport._direct import map_aiohttp_error
from kycmux.simkit import SimRequest, SimResponse, SimulatorApp, serve

CANARY = "canary-7c1d-secret"


class _Recorder(SimulatorApp):
    """Keeps every request; answers with a repeated header."""

    def __init__(self) -> None:
        self.seen: list[SimRequest] = []

    def routes(self) -> dict:  # type: ignore[type-arg]
        return {("POST", "/x"): self._answer}

    def _answer(self, request: SimRequest) -> SimResponse:
        self.seen.append(request)
        return SimResponse(200, b'{"ok": true}', headers={"x-a": "1"})

    def client_settings(self) -> dict:  # type: ignore[type-arg]
        return {}


def _requests(base: str, video: Path) -> list[VendorRequest]:
    common: dict[str, Any] = {
        "vendor": "v",
        "operation": "x",
        "checks": frozenset({Check.LIVENESS}),
        "method": "POST",
        "url": base + "/x",
        "params": (("api_secret", Secret(CANARY)), ("q", "a b/c+d&é")),
        "headers": (("Authorization", Secret("sig")),),
    }
    return [
        VendorRequest(
            **common,
            fields=(("appid", "1"), ("name", "张三"), ('we"ird', "v")),
            files=(
                FilePart("video", "v.mp4", "video/mp4", path=video),
                FilePart("data", "d.bin", content=b"\0\1\2"),
            ),
        ),
        VendorRequest(**common, json={"a": [1, 2.5, "é"], "b": None}),
        VendorRequest(**common, fields=(("only", "fields"),)),
    ]


def _wire(request: SimRequest) -> tuple[Any, ...]:
    boundary = re.search(r"boundary=(\S+)", request.headers.get("content-type", ""))
    body = request.body
    if boundary:
        body = body.replace(boundary.group(1).encode(), b"B")
    kept = ("authorization", "content-length", "user-agent", "accept-encoding")
    return (
        request.query_string,
        body,
        request.content_type,
        {k: v for k, v in request.headers.items() if k in kept},
    )


@pytest.mark.anyio
@pytest.mark.parametrize("size", [10_000, 700_000])
async def test_the_direct_path_sends_what_the_httpx_backend_sends(
    tmp_path: Path, size: int
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(bytes(range(256)) * (size // 256))
    app = _Recorder()
    answers = []
    with serve(app) as sim:
        for backend in ("aiohttp", "httpx"):
            client = HttpClient.create(async_backend=backend)  # type: ignore[arg-type]
            for request in _requests(sim.base_url, video):
                sent = await client.asend(request, 5.0)
                assert sent.error is None, repr(sent.error)
                assert sent.body_sent
                answers.append(sent.response)
            await client.aclose()
    direct, via_httpx = app.seen[:3], app.seen[3:]
    assert [_wire(r) for r in direct] == [_wire(r) for r in via_httpx]
    assert int(direct[0].headers["content-length"]) == len(direct[0].body) > size
    assert direct[0].headers["user-agent"] == "kycmux/0.1"
    assert direct[0].headers["accept-encoding"] == "identity"
    assert answers[0].headers["x-a"] == answers[3].headers["x-a"] == "1"
    assert answers[0].body == answers[3].body == b'{"ok": true}'


@pytest.mark.anyio
async def test_the_direct_path_logs_each_request_without_query_values(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 100)
    caplog.set_level(logging.INFO)
    with serve(_Recorder()) as sim:
        client = HttpClient.create()
        await client.asend(_requests(sim.base_url, video)[0], 5.0)
        await client.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "kycmux.http"]
    assert len(lines) == 1
    assert lines[0].startswith("HTTP Request: POST ")
    assert "api_secret=***" in lines[0]
    assert '200 OK"' in lines[0]
    assert CANARY not in caplog.text


def _connection_key() -> Any:
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey("h", 1, False, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ClientConnectorError(_connection_key(), OSError(111, "refused")), "ConnectError"),
        (aiohttp.ConnectionTimeoutError("t"), "ConnectTimeout"),
        (aiohttp.SocketTimeoutError("t"), "ReadTimeout"),
        (aiohttp.ServerTimeoutError("t"), "TimeoutException"),
        (aiohttp.ServerDisconnectedError(), "ReadError"),
        (aiohttp.ClientOSError(104, "reset"), "ReadError"),
        (aiohttp.ClientPayloadError("short"), "ReadError"),
        (aiohttp.InvalidURL("x"), "UnsupportedProtocol"),
        (aiohttp.ClientConnectionError("x"), "ConnectTimeout"),
        (aiohttp.ClientError("x"), "RemoteProtocolError"),
    ],
)
def test_aiohttp_errors_become_the_httpx_errors_records_read(
    error: aiohttp.ClientError, expected: str
) -> None:
    mapped = map_aiohttp_error(error)
    assert type(mapped) is getattr(httpx, expected)


def test_only_the_default_async_client_takes_the_direct_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert HttpClient.create()._direct is not None
    assert HttpClient.create(async_backend="httpx")._direct is None
    mock = httpx.MockTransport(lambda r: httpx.Response(200))
    assert HttpClient.create(async_transport=mock)._direct is None
    assert HttpClient.wrap(async_client=httpx.AsyncClient())._direct is None
    # As before, the default (a transport given to httpx) reads no proxy from the environment.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert not any(HttpClient.create()._aclient._mounts.values())  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_the_direct_path_sets_no_read_timer_the_callers_scope_would_outrun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's scope (``asend``'s timeout) bounds the whole exchange and starts first: a
    read timeout of the same length could never fire before it, so none is set (it cost two
    loop timers per call). The deadline still ends a hanging answer: see the e2e tests."""
    import asyncio

    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 100)
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    call_later = loop.call_later

    def counted(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        delays.append(delay)
        return call_later(delay, callback, *args)

    with serve(_Recorder()) as sim:
        client = HttpClient.create()
        await client.asend(_requests(sim.base_url, video)[0], 5.0)  # connects: not counted
        monkeypatch.setattr(loop, "call_later", counted)
        sent = await client.asend(_requests(sim.base_url, video)[0], 5.0)
        monkeypatch.undo()
        await client.aclose()
    assert sent.error is None, repr(sent.error)
    assert delays == []
