"""kycmux.simkit: request parsing, fault plans, limits, and simulators served on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import httpx
import pytest

from kycmux import Secret
from kycmux.simkit import (
    FAULT_HEADER,
    HANG_LIMIT,
    Fault,
    FaultKind,
    FaultPlan,
    FaultSpecError,
    FormData,
    MalformedReason,
    MalformedRequest,
    Quota,
    RunningSimulator,
    SimRequest,
    SimResponse,
    Simulator,
    SimulatorApp,
    TokenBucket,
    current_fault,
    parse_multipart,
    serve,
    serve_many,
)

# -- the vendors' own raw sample requests, copied from the vendor documents ---------------------
# tencent-livedetectfour.md and tencent-idcardcompare.txt print these bodies with bare LF line
# ends; on the wire they are CRLF. (Their Content-Length headers, 641 and 735, do not match
# the bodies as printed, so the raw-socket test computes its own.)

SAMPLE_CONTENT_TYPE = "multipart/form-data;boundary=--------------acebdf13572468"

LIVEDETECTFOUR_SAMPLE = """----------------acebdf13572468
Content-Disposition: form-data; name="appid";

123456
----------------acebdf13572468
Content-Disposition: form-data; name="validate_data";

9532
----------------acebdf13572468
Content-Disposition: form-data; name="compare_flag";

true
----------------acebdf13572468
Content-Disposition: form-data; name="video"; filename="video.flv"

yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy
----------------acebdf13572468
Content-Disposition: form-data; name="card"; filename="face.jpg"
Content-Type: image/jpeg

xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
----------------acebdf13572468--"""

IDCARDCOMPARE_SAMPLE = """----------------acebdf13572468
Content-Disposition: form-data; name="appid";

123456
----------------acebdf13572468
Content-Disposition: form-data; name="idcard_number";

110110199909090909
----------------acebdf13572468
Content-Disposition: form-data; name="idcard_name";

张三
----------------acebdf13572468
Content-Disposition: form-data; name="image"; filename="test.jpg"
Content-Type: image/jpeg

xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
----------------acebdf13572468--"""


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# -- a tiny simulator ---------------------------------------------------------------------------


class EchoSim(SimulatorApp):
    """Echoes what it was sent; renders vendor faults in its own recognisable shape."""

    max_body = 4096

    def __init__(self, tag: str = "echo") -> None:
        super().__init__()
        self.tag = tag
        self.pings = 0

    def routes(self) -> Mapping[tuple[str, str], Any]:
        return {
            ("GET", "/ping"): self.ping,
            ("POST", "/form"): self.form,
            ("POST", "/json"): self.echo_json,
        }

    def ping(self, request: SimRequest) -> SimResponse:
        self.pings += 1
        return SimResponse.json(200, {"pong": self.tag, "query": dict(request.query)})

    async def form(self, request: SimRequest) -> SimResponse:
        form = request.form()
        files = {
            k: [[f.filename, f.content_type, f.size] for f in v] for k, v in form.files.items()
        }
        return SimResponse.json(200, {"fields": dict(form.fields), "files": files})

    def echo_json(self, request: SimRequest) -> SimResponse:
        return SimResponse.json(200, {"got": request.json()})

    def not_found_response(self) -> SimResponse:
        return SimResponse.json(404, {"status": "NOT_FOUND"})

    def too_large_response(self) -> SimResponse:
        return SimResponse.json_text(200, '{"code":23,"message":"too large",}')

    def render_fault(self, kind: FaultKind, code: str | None = None) -> SimResponse:
        status = {FaultKind.RATE_LIMITED: 403, FaultKind.VENDOR_ERROR: 500}.get(kind, 400)
        return SimResponse.json(status, {"kind": kind.value, "code": code})

    def client_settings(self) -> Mapping[str, str | Secret]:
        return {"api_id": "sim-id", "api_secret": Secret("sim-secret")}


@attrs.define
class AttrsSim(SimulatorApp):
    """An attrs subclass that never calls the base ``__init__``."""

    greeting: str = "hello"

    def routes(self) -> Mapping[tuple[str, str], Any]:
        return {("GET", "/greet"): lambda _request: SimResponse.json(200, {"say": self.greeting})}

    def render_fault(self, kind: FaultKind) -> SimResponse:
        fault = current_fault()
        return SimResponse.json(418, {"kind": kind.value, "code": fault.code if fault else None})


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with serve(EchoSim()) as sim:
        yield sim


@pytest.fixture
def app(running: RunningSimulator) -> EchoSim:
    sim_app: EchoSim = running.app
    sim_app.faults.clear()
    sim_app.stats.reset()
    return sim_app


@pytest.fixture
def client(running: RunningSimulator, app: EchoSim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.base_url, timeout=5.0) as c:
        yield c


def faulted(spec: str) -> dict[str, str]:
    return {FAULT_HEADER: spec}


# -- Fault specs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latency=0.2", Fault(FaultKind.LATENCY, seconds=0.2)),
        ("vendor_code=-4009", Fault(FaultKind.VENDOR_CODE, code="-4009")),
        ("vendor_code=OUT_OF_QUOTA", Fault(FaultKind.VENDOR_CODE, code="OUT_OF_QUOTA")),
        ("http_5xx=502", Fault(FaultKind.HTTP_5XX, status=502)),
        ("http_5xx", Fault(FaultKind.HTTP_5XX, status=503)),
        ("hang", Fault(FaultKind.HANG)),
        ("hang=2.5", Fault(FaultKind.HANG, seconds=2.5)),
        (" Non-JSON ", Fault(FaultKind.NON_JSON)),
        ("RESET", Fault(FaultKind.RESET)),
        ("truncated", Fault(FaultKind.TRUNCATED)),
        ("vendor_error", Fault(FaultKind.VENDOR_ERROR)),
        ("rate_limited", Fault(FaultKind.RATE_LIMITED)),
    ],
)
def test_fault_parse_reads_every_documented_spec(spec: str, expected: Fault) -> None:
    fault = Fault.parse(spec)
    assert fault == expected
    assert Fault.parse(fault.spec()) == fault


@pytest.mark.parametrize(
    "spec",
    [
        "explode",
        "latency",
        "latency=",
        "latency=abc",
        "latency=-1",
        "http_5xx=404",
        "vendor_code",
        "reset=1",
    ],
)
def test_fault_parse_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        Fault.parse(spec)


def test_hang_holds_at_most_300_seconds_by_default() -> None:
    assert Fault.parse("hang").hang_limit == HANG_LIMIT == 300.0
    assert Fault.parse("hang=1.5").hang_limit == 1.5


# -- Fault plans (windows) ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_count_window_serves_exactly_count_requests() -> None:
    plan = FaultPlan()
    plan.inject("reset", count=2)
    assert [plan.take("/a") for _ in range(3)] == [Fault(FaultKind.RESET)] * 2 + [None]
    assert plan.active() == ()


def test_duration_window_ends_on_the_clock() -> None:
    clock = FakeClock()
    plan = FaultPlan(clock=clock)
    plan.inject(Fault.parse("http_5xx=502"), duration=1.0)
    clock.now += 0.99
    assert plan.take("/a") == Fault(FaultKind.HTTP_5XX, status=502)
    clock.now += 0.02
    assert plan.take("/a") is None


def test_window_ends_at_whichever_limit_comes_first() -> None:
    clock = FakeClock()
    plan = FaultPlan(clock=clock)
    plan.inject("non_json", duration=10.0, count=1)
    assert plan.take("/a") is not None
    assert plan.take("/a") is None
    plan.inject("non_json", duration=1.0, count=5)
    clock.now += 2
    assert plan.take("/a") is None


def test_path_filter_leaves_other_paths_and_their_count_alone() -> None:
    plan = FaultPlan()
    plan.inject("truncated", count=1, paths={"/face/livedetectfour"})
    assert plan.take("/face/idcardcompare") is None
    assert plan.take("/face/livedetectfour") == Fault(FaultKind.TRUNCATED)
    assert plan.take("/face/livedetectfour") is None


def test_oldest_matching_window_wins_and_windows_can_be_removed_or_cleared() -> None:
    plan = FaultPlan()
    first = plan.inject("rate_limited", paths=["/x"])
    plan.inject("vendor_error")
    assert plan.take("/x") == Fault(FaultKind.RATE_LIMITED)
    assert plan.take("/y") == Fault(FaultKind.VENDOR_ERROR)
    assert plan.remove(first) is True
    assert plan.remove(first) is False
    assert plan.take("/x") == Fault(FaultKind.VENDOR_ERROR)
    assert plan.clear() == 1
    assert plan.take("/x") is None


@pytest.mark.parametrize(
    "kwargs",
    [{"count": 0}, {"count": True}, {"count": 1.5}, {"duration": 0}, {"duration": float("inf")}],
)
def test_inject_rejects_empty_or_endless_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(FaultSpecError):
        FaultPlan().inject("reset", **kwargs)


def test_fault_plan_counts_are_exact_under_concurrent_takers() -> None:
    plan = FaultPlan()
    plan.inject("reset", count=50)
    served: list[Fault | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            fault = plan.take("/p")
            with lock:
                served.append(fault)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(f is not None for f in served) == 50


# -- Multipart, urlencoded, query, JSON ----------------------------------------------------------


@pytest.mark.parametrize("line_ends", ["crlf", "lf"])
def test_parses_tencent_livedetectfour_sample(line_ends: str) -> None:
    body = crlf(LIVEDETECTFOUR_SAMPLE) if line_ends == "crlf" else LIVEDETECTFOUR_SAMPLE.encode()
    form = parse_multipart(body, SAMPLE_CONTENT_TYPE)
    assert form.fields == {"appid": ["123456"], "validate_data": ["9532"], "compare_flag": ["true"]}
    video, card = form.file("video"), form.file("card")
    assert video is not None
    assert card is not None
    assert (video.filename, video.content_type, video.data) == (
        "video.flv",
        "application/octet-stream",
        b"y" * 46,
    )
    assert (card.filename, card.content_type, card.data) == ("face.jpg", "image/jpeg", b"x" * 46)


def test_parses_tencent_idcardcompare_sample_with_utf8_name() -> None:
    request = SimRequest.from_parts(
        "post",
        "/face/idcardcompare",
        headers={"Content-Type": SAMPLE_CONTENT_TYPE},
        body=crlf(IDCARDCOMPARE_SAMPLE),
    )
    form = request.form()
    assert request.content_type == "multipart/form-data"
    assert form.field("idcard_name") == "张三"
    assert form.field("idcard_number") == "110110199909090909"
    assert form.names() == {"appid", "idcard_number", "idcard_name", "image"}
    image = form.file("image")
    assert image is not None
    assert image.data == b"x" * 46


def test_parses_what_httpx_generates() -> None:
    built = httpx.Request(
        "POST",
        "http://sim/form",
        data={"名字": "张三", "a": ["1", "2"], "empty": ""},
        files=[
            ("f", ("照片.jpg", b"\xff\xd8\r\n--not-a-boundary\r\n", "image/jpeg")),
            ("f", ("b.bin", b"\x00\x01")),
        ],
    )
    form = SimRequest.from_parts(
        "POST", "/form", headers=dict(built.headers), body=built.read()
    ).form()
    assert form.fields == {"名字": ["张三"], "a": ["1", "2"], "empty": [""]}
    assert [(f.filename, f.content_type, f.data) for f in form.files["f"]] == [
        ("照片.jpg", "image/jpeg", b"\xff\xd8\r\n--not-a-boundary\r\n"),
        ("b.bin", "application/octet-stream", b"\x00\x01"),
    ]


def test_multipart_tolerates_quoted_boundary_preamble_epilogue_and_filename_star() -> None:
    body = (
        b"preamble text\r\n"
        b"--a;b\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="fallback.jpg"; '
        b"filename*=UTF-8''%E5%BC%A0%E4%B8%89.jpg\r\n\r\n"
        b"--a;bc is content, not a delimiter\r\n"
        b"--a;b  \r\n"
        b"content-disposition: FORM-DATA;name=plain\r\n\r\n"
        b"v\r\n"
        b"--a;b--\r\nepilogue"
    )
    form = parse_multipart(body, 'multipart/form-data; boundary="a;b"')
    doc = form.file("doc")
    assert doc is not None
    assert doc.filename == "张三.jpg"
    assert doc.data == b"--a;bc is content, not a delimiter"
    assert form.fields == {"plain": ["v"]}


def test_multipart_empty_form_and_charset_parts() -> None:
    assert parse_multipart(b"--xyz--\r\n", "multipart/form-data; boundary=xyz") == FormData()
    body = (
        b"--xyz\r\nContent-Disposition: form-data; name=n\r\n"
        b"Content-Type: text/plain; charset=gbk\r\n\r\n" + "张".encode("gbk") + b"\r\n--xyz--"
    )
    assert parse_multipart(body, "multipart/form-data; boundary=xyz").fields == {"n": ["张"]}


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("multipart/form-data", b"--x\r\n\r\n--x--", MalformedReason.NO_BOUNDARY),
        ("multipart/form-data; boundary=x", b"nothing here", MalformedReason.BAD_MULTIPART),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\ncut short',
            MalformedReason.BAD_MULTIPART,
        ),
        ("multipart/form-data; boundary=x", b"--x", MalformedReason.BAD_MULTIPART),
        ("multipart/form-data; boundary=x", b"--xjunk\r\n", MalformedReason.BAD_MULTIPART),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--",
            MalformedReason.BAD_PART_HEADERS,
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\nno blank line\r\n--x--',
            MalformedReason.BAD_PART_HEADERS,
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--x--',
            MalformedReason.NOT_UTF8,
        ),
        ("application/x-www-form-urlencoded", b"a=%FF%FE", MalformedReason.NOT_UTF8),
        ("application/json", b"{}", MalformedReason.UNSUPPORTED_CONTENT_TYPE),
        ("", b"a=1", MalformedReason.UNSUPPORTED_CONTENT_TYPE),
    ],
)
def test_malformed_forms_raise_typed_errors(
    content_type: str, body: bytes, reason: MalformedReason
) -> None:
    request = SimRequest.from_parts("POST", "/", headers={"content-type": content_type}, body=body)
    with pytest.raises(MalformedRequest) as info:
        request.form()
    assert info.value.reason is reason


def test_urlencoded_form_query_and_json() -> None:
    request = SimRequest.from_parts(
        "POST",
        "/p",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=b"api_id=a%20b&name=%E5%BC%A0%E4%B8%89&flag&api_id=2",
        query_string=b"api_id=q1&api_secret=&x=%E4%B8%89",
    )
    assert request.form().fields == {"api_id": ["a b", "2"], "name": ["张三"], "flag": [""]}
    assert request.query == {"api_id": ["q1"], "api_secret": [""], "x": ["三"]}
    assert request.query_value("api_id") == "q1"
    good = SimRequest.from_parts("POST", "/j", body='{"名": 1}'.encode())
    assert good.json() == {"名": 1}
    with pytest.raises(MalformedRequest) as info:
        SimRequest.from_parts("POST", "/j", body=b"{'single': quotes}").json()
    assert info.value.reason is MalformedReason.BAD_JSON


def test_sim_values_keep_content_out_of_reprs() -> None:
    request = SimRequest.from_parts("POST", "/p", headers={"Authorization": "sig"}, body=b"BODY")
    assert "BODY" not in repr(request)
    assert "sig" not in repr(request)
    form = parse_multipart(crlf(IDCARDCOMPARE_SAMPLE), SAMPLE_CONTENT_TYPE)
    assert "xxxx" not in repr(form)
    assert "张三" not in repr(form)


def test_sim_response_defaults_and_hand_written_json() -> None:
    assert SimResponse(200).header("Content-Type") == "application/json"
    text = '{"data":{"sim":90,},"code":0}'
    response = SimResponse.json_text(200, text)
    assert response.body == text.encode()
    assert SimResponse.json(200, {"m": "张"}).body == '{"m": "张"}'.encode()
    with pytest.raises(ValueError, match="599"):
        SimResponse(600)


# -- TokenBucket and Quota -----------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_acquire() is True
    assert bucket.try_acquire() is False
    clock.now += 100
    assert bucket.available == pytest.approx(3.0)


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(rate_per_s=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate_per_s=1, burst=0)


def test_quota_is_exact_under_threads_and_resets() -> None:
    quota = Quota(100)
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ok = quota.try_consume()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 100
    assert (quota.used, quota.remaining, quota.exhausted) == (100, 0, True)
    quota.reset()
    assert quota.try_consume(100) is True
    assert quota.try_consume() is False


# -- Serving: routing, hooks, stats --------------------------------------------------------------


def test_simulator_protocol_and_client_settings(running: RunningSimulator) -> None:
    assert isinstance(running.app, Simulator)
    assert running.base_url == f"http://127.0.0.1:{running.port}"
    settings = running.client_settings()
    assert settings["base_url"] == running.base_url
    assert settings["api_secret"] == Secret("sim-secret")


def test_routes_sync_and_async_handlers(client: httpx.Client, app: EchoSim) -> None:
    response = client.get("/ping", params={"q": ["1", "2"]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"pong": "echo", "query": {"q": ["1", "2"]}}
    posted = client.post(
        "/form",
        data={"appid": "123456", "名": "张三"},
        files={"card": ("c.jpg", b"abc", "image/jpeg")},
    )
    assert posted.json() == {
        "fields": {"appid": ["123456"], "名": ["张三"]},
        "files": {"card": [["c.jpg", "image/jpeg", 3]]},
    }
    assert client.post("/json", json={"a": [1]}).json() == {"got": {"a": [1]}}


def test_unknown_path_and_method_use_the_not_found_hook(client: httpx.Client) -> None:
    for response in (client.get("/nowhere"), client.delete("/ping")):
        assert response.status_code == 404
        assert response.json() == {"status": "NOT_FOUND"}


def test_malformed_body_answers_with_the_malformed_hook(client: httpx.Client) -> None:
    response = client.post(
        "/form", content=b"--x\r\n", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "bad_multipart"}


def test_body_over_the_cap_gets_the_too_large_hook(client: httpx.Client, app: EchoSim) -> None:
    declared = client.post("/form", content=b"a" * (app.max_body + 1))
    assert declared.text == '{"code":23,"message":"too large",}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(5):
            yield b"b" * 1024

    streamed = client.post("/form", content=chunks())
    assert streamed.text == '{"code":23,"message":"too large",}'
    assert client.get("/ping").status_code == 200  # the connection stays usable


def test_stats_count_requests_per_path_and_faults(client: httpx.Client, app: EchoSim) -> None:
    client.get("/ping")
    client.get("/ping", headers=faulted("http_5xx"))
    client.get("/nowhere")
    client.get("/__kycmux__/health")
    assert app.stats.requests == {"/ping": 2, "/nowhere": 1}
    assert app.stats.faults == {"http_5xx": 1}
    assert client.get("/__kycmux__/stats").json() == {
        "requests": {"/ping": 2, "/nowhere": 1},
        "faults": {"http_5xx": 1},
        "total": 3,
    }


# -- Serving: every fault kind --------------------------------------------------------------------


def test_reset_is_a_connection_error(client: httpx.Client) -> None:
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get("/ping", headers=faulted("reset"))
    assert client.get("/ping").status_code == 200


def test_truncated_body_fails_while_reading_and_the_handler_ran(
    client: httpx.Client, app: EchoSim
) -> None:
    before = app.pings
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/ping", headers=faulted("truncated"))
    assert app.pings == before + 1


def test_non_json_is_an_html_page_with_status_200(client: httpx.Client) -> None:
    response = client.get("/ping", headers=faulted("non_json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("spec", "status"), [("http_5xx", 503), ("http_5xx=502", 502)])
def test_http_5xx_gives_the_status(client: httpx.Client, spec: str, status: int) -> None:
    assert client.get("/ping", headers=faulted(spec)).status_code == status


@pytest.mark.parametrize(
    ("spec", "status", "payload"),
    [
        ("vendor_error", 500, {"kind": "vendor_error", "code": None}),
        ("rate_limited", 403, {"kind": "rate_limited", "code": None}),
        ("vendor_code=-4009", 400, {"kind": "vendor_code", "code": "-4009"}),
        ("vendor_code=OUT_OF_QUOTA", 400, {"kind": "vendor_code", "code": "OUT_OF_QUOTA"}),
    ],
)
def test_vendor_faults_are_rendered_by_the_simulator(
    client: httpx.Client, spec: str, status: int, payload: dict[str, Any]
) -> None:
    response = client.get("/ping", headers=faulted(spec))
    assert (response.status_code, response.json()) == (status, payload)


def test_latency_delays_then_answers_normally(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get("/ping", headers=faulted("latency=0.2"))
    assert time.monotonic() - started >= 0.2
    assert response.json()["pong"] == "echo"


def test_hang_times_the_client_out_and_the_server_carries_on(
    client: httpx.Client, app: EchoSim
) -> None:
    before = app.pings
    with pytest.raises(httpx.ReadTimeout):
        client.get("/ping", headers=faulted("hang"), timeout=httpx.Timeout(5.0, read=0.2))
    assert app.pings == before  # held, never handled
    assert client.get("/ping").status_code == 200


def test_bad_fault_header_is_a_400_naming_the_header(client: httpx.Client) -> None:
    response = client.get("/ping", headers=faulted("explode"))
    assert response.status_code == 400
    assert FAULT_HEADER in response.text


# -- Serving: fault windows and control endpoints -------------------------------------------------


def test_count_window_over_http(client: httpx.Client, app: EchoSim) -> None:
    app.faults.inject(Fault.parse("http_5xx=502"), count=2)
    statuses = [client.get("/ping").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


def test_header_fault_takes_precedence_and_leaves_the_window(
    client: httpx.Client, app: EchoSim
) -> None:
    app.faults.inject("vendor_error", count=1)
    assert client.get("/ping", headers=faulted("http_5xx=504")).status_code == 504
    assert client.get("/ping").status_code == 500
    assert client.get("/ping").status_code == 200


def test_path_filtered_window_over_http(client: httpx.Client, app: EchoSim) -> None:
    app.faults.inject("rate_limited", paths={"/json"})
    assert client.get("/ping").status_code == 200
    assert client.post("/json", json={}).status_code == 403


def test_duration_windows_over_http(client: httpx.Client, app: EchoSim) -> None:
    app.faults.inject("non_json", duration=60)
    assert client.get("/ping").headers["content-type"].startswith("text/html")
    app.faults.clear()
    app.faults.inject("non_json", duration=0.05)
    time.sleep(0.1)
    assert client.get("/ping").headers["content-type"] == "application/json"


def test_window_counts_hold_under_concurrent_requests(
    running: RunningSimulator, app: EchoSim
) -> None:
    app.faults.inject("http_5xx", count=5)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=running.base_url, timeout=5.0) as c:
            for _ in range(3):
                code = c.get("/ping").status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [503] * 5


def test_control_endpoints(client: httpx.Client, app: EchoSim) -> None:
    assert client.get("/__kycmux__/health").json() == {"status": "ok", "simulator": "EchoSim"}
    injected = client.post(
        "/__kycmux__/faults", json={"fault": "vendor_code=-5016", "count": 1, "duration": None}
    )
    assert injected.status_code == 200
    assert injected.json()["injected"]["fault"] == "vendor_code=-5016"
    listed = client.get("/__kycmux__/faults").json()["faults"]
    assert [(w["fault"], w["remaining"]) for w in listed] == [("vendor_code=-5016", 1)]
    assert client.get("/ping").json() == {"kind": "vendor_code", "code": "-5016"}
    assert client.get("/ping").json()["pong"] == "echo"
    client.post("/__kycmux__/faults", json={"fault": "reset", "paths": ["/json"]})
    assert client.delete("/__kycmux__/faults").json() == {"cleared": 1}
    assert client.post("/json", json={}).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"fault": "explode"},
        {"fault": "reset", "count": 0},
        {"fault": "reset", "count": "2"},
        {"fault": "reset", "paths": "/json"},
        {"fault": "reset", "extra": 1},
        ["reset"],
    ],
)
def test_control_endpoint_rejects_bad_injections(
    client: httpx.Client, app: EchoSim, payload: Any
) -> None:
    response = client.post("/__kycmux__/faults", json=payload)
    assert response.status_code == 400
    assert response.json()["error"]
    assert app.faults.active() == ()


def test_control_endpoint_errors_and_single_removal(client: httpx.Client, app: EchoSim) -> None:
    assert client.get("/__kycmux__/nothing").status_code == 404
    assert client.put("/__kycmux__/health").status_code == 405
    window = app.faults.inject("reset")
    assert client.delete(f"/__kycmux__/faults/{window.id}").json() == {"removed": True}
    assert client.delete(f"/__kycmux__/faults/{window.id}").status_code == 404
    assert client.get("/ping").status_code == 200


# -- Serving: attrs subclasses, async clients, lifecycle -------------------------------------------


def test_attrs_subclass_without_base_init_serves_and_injects() -> None:
    app = AttrsSim(greeting="你好")
    with serve(app) as sim, httpx.Client(base_url=sim.base_url) as c:
        assert c.get("/greet").json() == {"say": "你好"}
        app.faults.inject("vendor_code=-5803", count=1)
        assert c.get("/greet").json() == {"kind": "vendor_code", "code": "-5803"}
        assert c.get("/missing").json() == {"error": "not found"}


@pytest.mark.anyio
async def test_async_client_sees_answers_resets_and_hangs(running: RunningSimulator) -> None:
    running.app.faults.clear()
    async with httpx.AsyncClient(base_url=running.base_url, timeout=5.0) as c:
        assert (await c.get("/ping")).json()["pong"] == "echo"
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await c.get("/ping", headers=faulted("reset"))
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/ping", headers=faulted("hang"), timeout=httpx.Timeout(5.0, read=0.2))
        assert (await c.get("/ping")).status_code == 200


def test_stop_releases_a_held_request_and_is_idempotent() -> None:
    sim = serve(EchoSim())
    held = socket.create_connection((sim.host, sim.port))
    try:
        held.sendall(f"GET /ping HTTP/1.1\r\nHost: sim\r\n{FAULT_HEADER}: hang\r\n\r\n".encode())
        with httpx.Client(base_url=sim.base_url) as c:  # the request above is now held
            assert c.get("/__kycmux__/health").status_code == 200
        held.settimeout(30)
        sim.stop()
        assert not sim.running
        assert held.recv(1024) == b""  # closed without an answer, not left hanging
        sim.stop()
    finally:
        held.close()
    with pytest.raises(httpx.ConnectError), httpx.Client() as c:
        c.get(sim.base_url + "/ping")


def test_raw_sample_request_over_a_socket() -> None:
    body = crlf(LIVEDETECTFOUR_SAMPLE)
    head = (
        "POST /form HTTP/1.1\r\n"
        "Authorization: FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==\r\n"
        "Host: service.image.myqcloud.com\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Content-Type: {SAMPLE_CONTENT_TYPE}\r\n"
        "Connection: close\r\n\r\n"
    )
    with serve(EchoSim()) as sim, socket.create_connection((sim.host, sim.port)) as conn:
        conn.settimeout(10)
        conn.sendall(head.encode() + body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    payload = httpx.Response(200, content=rest.partition(b"\r\n\r\n")[2]).json()
    assert payload["fields"]["validate_data"] == ["9532"]
    assert payload["files"] == {
        "video": [["video.flv", "application/octet-stream", 46]],
        "card": [["face.jpg", "image/jpeg", 46]],
    }


def test_serve_many_serves_each_app_on_its_own_port() -> None:
    apps = {"a": EchoSim("first"), "b": EchoSim("second")}
    with serve_many(apps) as sims, httpx.Client() as c:
        assert set(sims) == {"a", "b"}
        assert sims["a"].port != sims["b"].port
        assert c.get(sims["a"].base_url + "/ping").json()["pong"] == "first"
        assert c.get(sims["b"].base_url + "/ping").json()["pong"] == "second"
    assert not sims["a"].running
    assert not sims["b"].running


def test_serve_reports_a_port_already_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="did not start"):
            serve(EchoSim(), port=taken.getsockname()[1])
