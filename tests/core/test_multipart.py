"""kycmux's multipart body: httpx's bytes, in few, large writes."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from httpx._multipart import MultipartStream
from hypothesis import given
from hypothesis import strategies as st

from kycmux import Check, FilePart, HttpClient, Secret, VendorRequest
from kycmux._transport._multipart import CHUNK, SMALL_BODY, MultipartBody

BOUNDARY = b"0123456789abcdef0123456789abcdef"
names = st.text(min_size=1, max_size=12)
media_types = st.sampled_from(["image/png", "text/plain"])
values = st.text(max_size=40)
contents = st.binary(max_size=300)


@given(
    fields=st.lists(st.tuples(names, values), max_size=4),
    files=st.lists(
        st.tuples(names, st.text(max_size=12), media_types, contents),
        max_size=3,
    ),
)
def test_the_body_is_byte_for_byte_what_httpx_would_send(
    fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]
) -> None:
    ours = MultipartBody(
        tuple(fields),
        [(n, fn, ct, io.BytesIO(data)) for n, fn, ct, data in files],
        boundary=BOUNDARY,
    )
    theirs = MultipartStream(
        data={},
        files=[(k, (None, v)) for k, v in fields]
        + [(n, (fn or None, data, ct)) for n, fn, ct, data in files],
        boundary=BOUNDARY,
    )
    expected = b"".join(theirs)
    assert b"".join(ours) == expected
    assert ours.length == len(expected)
    assert ours.content_type == theirs.get_headers()["Content-Type"]


def test_a_small_body_leaves_in_one_piece(tmp_path: Path) -> None:
    selfie = tmp_path / "selfie.png"
    selfie.write_bytes(b"\x89PNG" + b"\0" * 10_000)
    with selfie.open("rb") as file:
        body = MultipartBody(
            (("api_id", "id"), ("api_secret", Secret("s"))),
            [("selfie_file", "selfie.png", "image/png", file), ("x", "x.bin", "a/b", b"xy")],
        )
        pieces = list(body)
    assert len(pieces) == 1
    assert len(pieces[0]) == body.length < SMALL_BODY


@pytest.mark.anyio
async def test_a_large_body_leaves_in_large_pieces_read_as_it_goes(tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(bytes(range(256)) * 12_000)  # ~3 MB
    with video.open("rb") as file:
        body = MultipartBody((("a", "b"),), [("video", "v.mp4", "video/mp4", file)])
        pieces = [piece async for piece in body]
    assert all(len(p) >= CHUNK for p in pieces[:-1])
    assert len(pieces) <= -(-body.length // CHUNK)
    joined = b"".join(pieces)
    assert len(joined) == body.length
    assert video.read_bytes() in joined


def _request(path: Path) -> VendorRequest:
    return VendorRequest(
        "v",
        "x",
        frozenset({Check.LIVENESS}),
        "POST",
        "https://api.example.com/x",
        fields=(("api_id", "id"), ("api_secret", Secret("s3cret"))),
        files=(FilePart("selfie", "s.png", "image/png", path=path),),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("size", [10_000, SMALL_BODY + 1])
async def test_both_clients_declare_the_length_they_send(tmp_path: Path, size: int) -> None:
    selfie = tmp_path / "s.png"
    selfie.write_bytes(b"\x89PNG" + b"\1" * size)
    seen: list[tuple[int, int, bool]] = []

    def check(request: httpx.Request, body: bytes) -> httpx.Response:
        ctype = request.headers["content-type"]
        boundary = ctype.split("boundary=")[1].encode()
        parsed = len(body) == int(request.headers["content-length"])
        seen.append((len(body), body.count(b"--" + boundary), parsed and b"s3cret" in body))
        return httpx.Response(200, json={})

    async def acheck(request: httpx.Request) -> httpx.Response:
        return check(request, await request.aread())

    sync = HttpClient.create(transport=httpx.MockTransport(lambda r: check(r, r.read())))
    asy = HttpClient.create(async_transport=httpx.MockTransport(acheck))
    assert sync.send(_request(selfie), 5).body_sent
    assert (await asy.asend(_request(selfie), 5)).body_sent
    sync.close()
    await asy.aclose()
    assert seen[0] == seen[1]
    assert seen[0][0] > size
    assert seen[0][1] == 4  # three parts and the closing line
    assert seen[0][2]
