"""The simulator's pure parts: its decisions from content, its signature check, its layout."""

from __future__ import annotations

import json
import struct

import pytest

from kycmux.synthetic import (
    Audio,
    ImageQuality,
    ImageTruth,
    Lips,
    Population,
    VideoTruth,
    image_bytes,
    video_bytes,
)
from kycmux_tencent_legacy._parse import loads_lenient
from kycmux_tencent_legacy._sign import SignatureFields, signature
from kycmux_tencent_legacy._sim._auth import DEFAULT_ACCOUNTS, Authenticator, Rejected
from kycmux_tencent_legacy._sim._judge import (
    judge_card,
    judge_photo,
    judge_registry,
    judge_video,
    sim_for,
    similarity_for,
)
from kycmux_tencent_legacy._sim._render import render, render_error

PEOPLE = Population.default()
NOW = 1_700_000_000
MAIN = DEFAULT_ACCOUNTS[0]


def _gif(frames: int) -> bytes:
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00" * 6  # 2-colour table
    control = b"!\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control extension, 0.1 s delay
    frame = control + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def test_video_pipeline_reports_the_first_failure() -> None:
    both = video_bytes(VideoTruth("P0001", audio=Audio.SILENT, width=200, height=300))
    assert judge_video(both, "9532").status == -5015  # resolution before sound
    silent_still = video_bytes(VideoTruth("P0001", audio=Audio.SILENT, lips=Lips.STILL))
    assert judge_video(silent_still, "9532").status == -5007  # sound before lips
    landscape = video_bytes(VideoTruth("P0001", width=480, height=270))
    assert judge_video(landscape, "9532").status == 0  # either orientation


def test_video_content_without_a_video_container_is_invalid() -> None:
    assert judge_video(b"y" * 46, "9532").status == -5001
    assert judge_video(image_bytes(ImageTruth("P0001")), "9532").status == -5001


def test_card_decisions() -> None:
    live = VideoTruth("P0001")
    assert judge_card(b"x" * 46, live).status == -4018  # the documents' placeholder
    corrupt = image_bytes(ImageTruth("P0001", ImageQuality.CORRUPT), fmt="jpeg")
    assert judge_card(corrupt, live).status == -4018
    assert judge_card(image_bytes(ImageTruth(None)), live).status == -4017
    assert judge_card(image_bytes(ImageTruth("P0001")), VideoTruth(None)).status == -4006
    matched = judge_card(image_bytes(ImageTruth("P0001")), live)
    assert matched.status == 0
    assert matched.value is not None
    assert matched.value >= 85


def test_photo_decisions() -> None:
    assert judge_photo(_gif(2)).status == -4011  # animated: not accepted
    assert judge_photo(_gif(1)).status == -4012  # a still picture, no face known
    assert judge_photo(b"x" * 46).status == -4011


def test_registry_decisions() -> None:
    p1 = PEOPLE.by_id("P0001")
    assert judge_registry(p1.id_number, p1.name, PEOPLE).value == p1
    assert judge_registry(p1.id_number, "王秀英", PEOPLE).status == -5803
    assert judge_registry("110110199909090909", "张三", PEOPLE).status == -5804
    assert judge_registry("123", "张三", PEOPLE).status == -5804
    statuses = {p.person_id: judge_registry(p.id_number, p.name, PEOPLE).status for p in PEOPLE}
    assert (statuses["P0006"], statuses["P0007"], statuses["P0008"]) == (-5809, -5817, -5804)


def test_scores_follow_match_strength_on_tencents_scales() -> None:
    same = sim_for(VideoTruth("P0001"), ImageTruth("P0001"))
    hard_same = sim_for(VideoTruth("P0001", difficulty=1.0), ImageTruth("P0001"))
    other = sim_for(VideoTruth("P0001"), ImageTruth("P0002"))
    hard_other = sim_for(VideoTruth("P0001", difficulty=1.0), ImageTruth("P0002"))
    # Hard genuine pairs drop to around Tencent's threshold of 70; impostors stay below it.
    assert 60 <= hard_same < same
    assert other < hard_other < 70
    assert all(isinstance(s, int) and 0 <= s <= 100 for s in (same, hard_same, other, hard_other))
    p1 = PEOPLE.by_id("P0001")
    clear = similarity_for(ImageTruth("P0001"), p1)
    blurred = similarity_for(ImageTruth("P0001", ImageQuality.LOW_QUALITY), p1)
    assert 75 < blurred < clear <= 100
    assert similarity_for(ImageTruth("P0002"), p1) < 50


def test_decisions_are_deterministic() -> None:
    video, card = VideoTruth("P0003", difficulty=0.4), ImageTruth("P0003", difficulty=0.2)
    assert {sim_for(video, card) for _ in range(5)} == {sim_for(video, card)}


def _header(**changes: object) -> str:
    values: dict[str, object] = {
        "appid": MAIN.appid,
        "bucket": "",
        "secret_id": MAIN.secret_id,
        "expires": NOW + 60,
        "now": NOW,
        "rand": 1,
        **changes,
    }
    return signature(SignatureFields(**values), MAIN.secret_key)  # type: ignore[arg-type]


def _code(auth: Authenticator, header: str | None, appid: str | None = MAIN.appid) -> int:
    with pytest.raises(Rejected) as info:
        auth.authorize(header, appid)
    return info.value.code


def test_authenticator_order_and_codes() -> None:
    auth = Authenticator.from_accounts(DEFAULT_ACCOUNTS, clock=lambda: NOW + 1)
    assert _code(auth, None) == 4
    assert _code(auth, "   ") == 4
    assert _code(auth, "bm90IGEgc2lnbmF0dXJl") == 5
    assert _code(auth, _header(expires=NOW + 91 * 86400)) == 5  # beyond three months
    assert _code(auth, _header(expires=0)) == 5  # single-use without a file id
    assert _code(auth, _header(expires=NOW)) == 5  # multi-use needs e > t
    assert _code(auth, _header(now=NOW + 10, expires=NOW + 5)) == 5
    assert _code(auth, _header(appid="42")) == 10
    assert _code(auth, _header(), appid="123456") == 6
    assert _code(auth, _header(secret_id="AKIDunknown")) == 11
    assert _code(auth, _header(expires=NOW + 1)) == 9  # e reached
    assert _code(auth, _header(expires=0, fileid="f", now=NOW - 299)) == 9  # 300 s after t
    assert _code(auth, _header(now=NOW + 302, expires=NOW + 400)) == 14  # t > 300 s ahead
    assert auth.authorize(_header(rand=2), MAIN.appid) == MAIN
    assert _code(auth, _header(rand=2)) == 13
    assert auth.authorize(_header(rand=3), None) == MAIN  # no appid in the body: 21 later


def test_single_use_signature_is_accepted_once() -> None:
    auth = Authenticator.from_accounts(DEFAULT_ACCOUNTS, clock=lambda: NOW + 1)
    header = _header(expires=0, fileid="/face/livedetectfour", rand=5)
    assert auth.authorize(header, MAIN.appid) == MAIN
    assert _code(auth, header) == 13


def test_replay_memory_ends_with_the_signature_lifetime() -> None:
    now = [NOW + 1.0]
    auth = Authenticator.from_accounts(DEFAULT_ACCOUNTS, clock=lambda: now[0])
    header = _header(rand=9, expires=NOW + 100)
    auth.authorize(header, MAIN.appid)
    now[0] = NOW + 50.0
    assert _code(auth, header) == 13
    now[0] = NOW + 101.0
    assert _code(auth, header) == 9  # expired by then: no longer a replay question


def test_layout_has_the_trailing_comma_and_keeps_chinese() -> None:
    body = render(0, "OK", [("similarity", 88.5), ("session_id", "会话")]).body.decode()
    assert body.splitlines() == [
        "{",
        '"data":{',
        '"similarity":88.5,',
        '"session_id":"会话",',
        "},",
        '"code":0,',
        '"message":"OK"',
        "}",
    ]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert loads_lenient(body.encode())["data"]["session_id"] == "会话"
    error = render_error(-5803, "mismatch")
    assert json.loads(error.body) == {"code": -5803, "message": "mismatch"}
    assert error.headers["content-type"] == "application/json"
