"""The vendor's own sample requests, sent as raw bytes over a socket, are valid input.

The documents print the requests with line breaks where HTTP has CRLF, and a Content-Length
that does not match the printed body (641 for 636 bytes): we send CRLF and the real length,
everything else byte for byte. With the documents' placeholder signature the service answers 5
(malformed signature); signed for AppID 123456 (the samples' AppID, an account the simulator
has) each request is processed and gets the answer its placeholder content deserves.
"""

from __future__ import annotations

import http.client
import re
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kycmux import Check, CheckAnswer, VendorRequest, VendorResponse, VendorResult
from kycmux.synthetic import DemoSet
from kycmux_tencent_legacy._sign import SignatureFields, signature

if TYPE_CHECKING:
    from tencent_legacy.conftest import Wire

VENDOR_DOCS = Path(__file__).resolve().parents[3] / "shared" / "vendor-docs"
DOCS_SIGNATURE = "FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi=="

LIVEDETECTFOUR_SAMPLE = """POST /face/livedetectfour HTTP/1.1
Authorization: FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==
Host: service.image.myqcloud.com
Content-Length: 641
Content-Type: multipart/form-data;boundary=--------------acebdf13572468

----------------acebdf13572468
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
----------------acebdf13572468--
"""

IDCARDCOMPARE_URL_SAMPLE = """POST /face/idcardcompare HTTP/1.1
Authorization: FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==
Host: service.image.myqcloud.com
Content-Length: 187
Content-Type: application/json

{
"appid":"123456",
"idcard_number":"110110199909090909",
"idcard_name":"张三",
"url":"http://test-123456.image.myqcloud.com/test.jpg"
}
"""

IDCARDCOMPARE_IMAGE_SAMPLE = """POST /face/idcardcompare HTTP/1.1
Authorization: FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==
Host: service.image.myqcloud.com
Content-Length: 735
Content-Type: multipart/form-data;boundary=--------------acebdf13572468

----------------acebdf13572468
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
----------------acebdf13572468--
"""

SAMPLES = {
    "livedetectfour": LIVEDETECTFOUR_SAMPLE,
    "idcardcompare_url": IDCARDCOMPARE_URL_SAMPLE,
    "idcardcompare_image": IDCARDCOMPARE_IMAGE_SAMPLE,
}


def _raw(sample: str, authorization: str = DOCS_SIGNATURE) -> bytes:
    head, body = sample.rstrip("\n").split("\n\n", 1)
    payload = body.replace("\n", "\r\n").encode()
    head = head.replace(DOCS_SIGNATURE, authorization)
    head = re.sub(r"Content-Length: \d+", f"Content-Length: {len(payload)}", head)
    return head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + payload


def _send(base_url: str, raw: bytes) -> VendorResponse:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return VendorResponse(response.status, headers, body)


def _docs_signature(wire: Wire) -> str:
    settings = wire.sim.settings_for("123456")
    now = int(time.time())
    fields = SignatureFields(
        "123456", "", str(settings["secret_id"].reveal()), now + 60, now, secrets.randbelow(10**10)
    )
    return signature(fields, settings["secret_key"].reveal())


def _parse(
    wire: Wire, operation: str, checks: frozenset[Check], response: VendorResponse
) -> VendorResult:
    request = VendorRequest("tencent_legacy", operation, checks, "POST", "http://sim/")
    result = wire.hooks.parse(vendor=wire.spec, request=request, response=response, config=None)
    assert isinstance(result, VendorResult)
    return result


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_here_are_the_documents_verbatim(name: str) -> None:
    if not VENDOR_DOCS.is_dir():
        pytest.skip(f"vendor documents not beside the repository ({VENDOR_DOCS})")
    documents = "".join(p.read_text(encoding="utf-8") for p in VENDOR_DOCS.glob("tencent-*"))
    assert SAMPLES[name].rstrip("\n") in documents


@pytest.mark.parametrize("name", SAMPLES)
def test_the_documents_placeholder_signature_is_malformed(wire: Wire, name: str) -> None:
    response = _send(wire.base_url, _raw(SAMPLES[name]))
    assert response.status_code == 200
    result = _parse(wire, "livedetectfour", frozenset({Check.LIVENESS}), response)
    assert (result.ok, result.code) == (False, "5")


def test_livedetectfour_sample_signed_is_processed(wire: Wire) -> None:
    response = _send(wire.base_url, _raw(LIVEDETECTFOUR_SAMPLE, _docs_signature(wire)))
    both = frozenset({Check.LIVENESS, Check.FACE_MATCH})
    result = _parse(wire, "livedetectfour", both, response)
    assert result.ok  # the form was read: the placeholder bytes are not a video
    assert result.answers[Check.LIVENESS] == CheckAnswer(
        Check.LIVENESS, False, "-5001", "invalid video"
    )
    assert not result.answers[Check.FACE_MATCH].ok
    assert b",\n}," in response.body  # answered in the vendor's layout


def test_idcardcompare_url_sample_signed_is_processed(wire: Wire) -> None:
    response = _send(wire.base_url, _raw(IDCARDCOMPARE_URL_SAMPLE, _docs_signature(wire)))
    result = _parse(wire, "idcardcompare", frozenset({Check.ID_REGISTRY_MATCH}), response)
    # The sample's URL is not reachable from here: "url download failed".
    assert (result.ok, result.code) == (False, "-5805")


def test_idcardcompare_url_sample_with_the_url_hosted_reaches_the_registry(
    wire: Wire, demo: DemoSet
) -> None:
    wire.sim.host_media(
        "http://test-123456.image.myqcloud.com/test.jpg", demo["selfie"].read_bytes()
    )
    response = _send(wire.base_url, _raw(IDCARDCOMPARE_URL_SAMPLE, _docs_signature(wire)))
    result = _parse(wire, "idcardcompare", frozenset({Check.ID_REGISTRY_MATCH}), response)
    # The photo is fine; the sample's ID number is not one the simulated registry holds.
    assert (result.ok, result.code) == (False, "-5804")


def test_idcardcompare_image_sample_signed_is_processed(wire: Wire) -> None:
    response = _send(wire.base_url, _raw(IDCARDCOMPARE_IMAGE_SAMPLE, _docs_signature(wire)))
    result = _parse(wire, "idcardcompare", frozenset({Check.ID_REGISTRY_MATCH}), response)
    # The multipart form (trailing semicolons, the long boundary) was read; the placeholder
    # bytes are no image: "photo decode failed".
    assert (result.ok, result.code) == (False, "-4011")
