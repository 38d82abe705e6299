"""The simulator on the wire: the vendor's own samples, request validation, encodings, limits."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kycmux import (
    Check,
    Classification,
    ErrorClass,
    Secret,
    VendorHooks,
    VendorRequest,
    VendorResponse,
    VendorSpec,
)
from kycmux.simkit import RunningSimulator, serve
from kycmux.synthetic import DemoSet, ImageTruth, image_bytes
from kycmux_linkface._sim import Account, LinkfaceSimulator

PATH = "/identity/liveness_selfie_verification"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def vendor_sim() -> Iterator[RunningSimulator]:
    """A simulator that knows the credentials of the vendor's samples (ID / SECRET)."""
    app = LinkfaceSimulator(accounts=(Account("ID", Secret("SECRET")),), max_body=8 * MiB)
    with serve(app) as running:
        yield running


@pytest.fixture
def url(vendor_sim: RunningSimulator) -> str:
    return vendor_sim.base_url + PATH


CREDS = {"api_id": "ID", "api_secret": "SECRET"}


def body_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) <= {
        "request_id",
        "status",
        "hack_score",
        "verify_score",
        "liveness_data_id",
        "image_id",
        "image",
        "reason",
    }
    assert body["request_id"].startswith("TID")
    return body


def classify(
    hooks: VendorHooks, spec: VendorSpec, config: Any, response: httpx.Response
) -> Classification:
    request = VendorRequest(
        "linkface",
        "liveness_selfie_verification",
        frozenset({Check.LIVENESS}),
        "POST",
        str(response.request.url),
    )
    wire = VendorResponse(response.status_code, dict(response.headers), response.content)
    result = hooks.parse(vendor=spec, request=request, response=wire, config=config)
    answer: Classification = hooks.classify_error(
        vendor=spec, result=result, check=None, error=None
    )
    return answer


# -- the vendor's own samples ----------------------------------------------------------------


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_vendor_curl_sample(vendor_sim: RunningSimulator, demo: DemoSet) -> None:
    # The document's cURL sample, with its host swapped for the simulator's.
    command = [
        "curl",
        "-sS",
        "-X",
        "POST",
        f"{vendor_sim.base_url}{PATH}?api_id=ID&api_secret=SECRET",
        "-F",
        f"liveness_data_file=@{demo['live_liveness_data']}",
        "-F",
        f"selfie_file=@{demo['selfie']}",
    ]
    done = subprocess.run(command, capture_output=True, check=True, timeout=30)
    body = json.loads(done.stdout)
    assert body["status"] == "OK"
    assert float(body["verify_score"]) >= 0.8
    assert float(body["hack_score"]) < 0.25


def test_vendor_python_sample(url: str, demo: DemoSet) -> None:
    # The document's Python sample (requests' files= and data=), over httpx.
    with demo["selfie"].open("rb") as selfie, demo["live_liveness_data"].open("rb") as data:
        files = {"selfie_file": selfie, "liveness_data_file": data}
        response = httpx.post(url, files=files, data={"api_id": "ID", "api_secret": "SECRET"})
    assert response.status_code == 200
    body = body_of(response)
    assert body["status"] == "OK"
    assert isinstance(body["hack_score"], str)


def _part(name: str, content: bytes, extra: str) -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"{extra}\r\n'.encode()
    return b"--BOUNDARY\r\n" + head + b"\r\n" + content + b"\r\n"


def test_vendor_java_sample_layout(url: str, demo: DemoSet) -> None:
    # Apache HttpClient's MultipartEntity as in the Java sample: files first, then the
    # credentials as text/plain parts with a transfer encoding header.
    text = "\r\nContent-Type: text/plain; charset=US-ASCII\r\nContent-Transfer-Encoding: 8bit"
    binary = "\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary"
    body = (
        _part(
            "liveness_data_file",
            demo["live_liveness_data"].read_bytes(),
            f'; filename="liveness.protobuf"{binary}',
        )
        + _part("selfie_file", demo["selfie"].read_bytes(), f'; filename="card.jpg"{binary}')
        + _part("api_id", b"ID", text)
        + _part("api_secret", b"SECRET", text)
        + b"--BOUNDARY--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=BOUNDARY"}
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 200
    assert body_of(response)["status"] == "OK"


@pytest.mark.parametrize(
    ("selfie", "data", "http_status", "status"),
    [
        ("placeholder", "live_liveness_data", 400, "CORRUPT_IMAGE"),
        ("selfie", "placeholder", 400, "WRONG_LIVENESS_DATA"),
    ],
)
def test_sample_placeholder_contents_get_faithful_errors(
    url: str, demo: DemoSet, selfie: str, data: str, http_status: int, status: str
) -> None:
    def content(name: str) -> bytes:
        return b"xxxx" if name == "placeholder" else demo[name].read_bytes()

    files = {"selfie_file": content(selfie), "liveness_data_file": content(data)}
    response = httpx.post(url, files=files, data=CREDS)
    assert response.status_code == http_status
    assert body_of(response)["status"] == status


# -- request validation ------------------------------------------------------------------------


def _selfie_url() -> dict[str, str]:
    return {"selfie_url": "http://127.0.0.1:9/selfie.png"}


@pytest.mark.parametrize(
    ("fields", "files", "reason"),
    [
        (
            {},
            {"liveness_data_file": b"d"},
            "exactly one of selfie_file, selfie_url, selfie_image_id is required",
        ),
        (
            _selfie_url(),
            {"selfie_file": b"s", "liveness_data_file": b"d"},
            "exactly one of selfie_file, selfie_url, selfie_image_id is required",
        ),
        (
            {"selfie_image_id": "IMG1"},
            {},
            "exactly one of liveness_data_file, liveness_data_url, liveness_data_id is required",
        ),
        (
            {"liveness_data_id": "LD1", "liveness_data_url": "http://127.0.0.1:9/x"},
            {"selfie_file": b"s"},
            "exactly one of liveness_data_file, liveness_data_url, liveness_data_id is required",
        ),
        (
            {"selfie_file": "not a file", "liveness_data_id": "LD1"},
            {},
            "selfie_file must be a file",
        ),
        (
            {"liveness_data_id": "LD1"},
            {"selfie_url": b"x"},
            "selfie_url must be a string, not a file",
        ),
        ({"selfie_url": " ", "liveness_data_id": "LD1"}, {}, "selfie_url is empty"),
        (
            {"selfie_image_id": "IMG1", "liveness_data_id": "LD1", "selfie_auto_rotate": "maybe"},
            {},
            "selfie_auto_rotate must be true or false",
        ),
    ],
    ids=[
        "no-selfie",
        "two-selfies",
        "no-data",
        "two-data",
        "file-as-text",
        "url-as-file",
        "empty-url",
        "bad-boolean",
    ],
)
def test_invalid_arguments(
    url: str,
    hooks: VendorHooks,
    spec: VendorSpec,
    config: Any,
    fields: dict[str, str],
    files: dict[str, bytes],
    reason: str,
) -> None:
    # Text fields as file-less parts: multipart even when nothing is uploaded (curl -F).
    parts = [(k, (None, v)) for k, v in {**CREDS, **fields}.items()]
    response = httpx.post(url, files=[*parts, *files.items()])
    assert response.request.headers["content-type"].startswith("multipart/form-data;")
    assert response.status_code == 400
    body = body_of(response)
    assert (body["status"], body["reason"]) == ("INVALID_ARGUMENT", reason)
    assert classify(hooks, spec, config, response) == Classification(
        ErrorClass.REQUEST_INVALID, "linkface:INVALID_ARGUMENT"
    )


def test_repeated_field_is_invalid(url: str) -> None:
    fields = [*CREDS.items(), ("selfie_image_id", "A"), ("selfie_image_id", "B")]
    fields.append(("liveness_data_id", "L"))
    response = httpx.post(url, files=[(k, (None, v)) for k, v in fields])
    assert body_of(response)["reason"] == "selfie_image_id given more than once"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"api_id": "ID"}'),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"no delimiter here"),
    ],
    ids=["json", "no-boundary", "bad-multipart"],
)
def test_unreadable_bodies_are_invalid_arguments(url: str, content_type: str, body: bytes) -> None:
    response = httpx.post(url, content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert body_of(response)["status"] == "INVALID_ARGUMENT"


def test_non_utf8_field_is_an_encoding_error(
    url: str, hooks: VendorHooks, spec: VendorSpec, config: Any
) -> None:
    body = _part("api_id", b"\xff\xfeID", "") + b"--BOUNDARY--\r\n"
    response = httpx.post(
        url, content=body, headers={"content-type": "multipart/form-data; boundary=BOUNDARY"}
    )
    assert response.status_code == 400
    assert body_of(response)["status"] == "ENCODING_ERROR"
    assert classify(hooks, spec, config, response) == Classification(
        ErrorClass.REQUEST_INVALID, "linkface:ENCODING_ERROR"
    )


def test_non_utf8_query_is_an_encoding_error(vendor_sim: RunningSimulator, demo: DemoSet) -> None:
    response = httpx.post(
        f"{vendor_sim.base_url}{PATH}?api_id=%FF%FE&api_secret=SECRET",
        files={"selfie_file": demo["selfie"].read_bytes()},
    )
    assert response.status_code == 400
    assert body_of(response)["status"] == "ENCODING_ERROR"


def test_uploaded_selfie_over_5_mib(url: str, demo: DemoSet) -> None:
    big = image_bytes(ImageTruth("P0001"), pad_to=5 * MiB + 1)
    files = {"selfie_file": big, "liveness_data_file": demo["live_liveness_data"].read_bytes()}
    response = httpx.post(url, data=CREDS, files=files)
    assert response.status_code == 400
    body = body_of(response)
    assert (body["status"], body["image"]) == ("IMAGE_FILE_SIZE_TOO_BIG", "selfie_file")


def test_body_over_the_server_limit(url: str) -> None:
    response = httpx.post(url, data=CREDS, files={"selfie_file": b"\0" * (8 * MiB + 1)})
    assert response.status_code == 400
    assert body_of(response)["status"] == "IMAGE_FILE_SIZE_TOO_BIG"


def test_credentials_in_form_win_over_query(vendor_sim: RunningSimulator, demo: DemoSet) -> None:
    files = {
        "selfie_file": demo["selfie"].read_bytes(),
        "liveness_data_file": demo["live_liveness_data"].read_bytes(),
    }
    response = httpx.post(
        f"{vendor_sim.base_url}{PATH}?api_id=ID&api_secret=WRONG", data=CREDS, files=files
    )
    assert body_of(response)["status"] == "OK"


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_other_methods_and_paths_are_not_found(vendor_sim: RunningSimulator, method: str) -> None:
    for path in (PATH, "/identity/liveness_verification"):
        response = httpx.request(method, vendor_sim.base_url + path)
        assert response.status_code == 404
        assert body_of(response)["status"] == "NOT_FOUND"


def test_request_ids_are_unique(url: str) -> None:
    ids = {body_of(httpx.post(url, data=CREDS))["request_id"] for _ in range(5)}
    assert len(ids) == 5


def test_uploads_are_stored_under_content_ids(url: str, demo: DemoSet, tmp_path: Path) -> None:
    files = {
        "selfie_file": demo["selfie"].read_bytes(),
        "liveness_data_file": demo["live_liveness_data"].read_bytes(),
    }
    first = body_of(httpx.post(url, data=CREDS, files=files))
    second = body_of(httpx.post(url, data=CREDS, files=files))
    assert (first["image_id"], first["liveness_data_id"]) == (
        second["image_id"],
        second["liveness_data_id"],
    )
    assert first["request_id"] != second["request_id"]
