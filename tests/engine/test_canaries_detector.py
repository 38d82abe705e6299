"""Canaries, the detector itself: it finds each canary in every form a leak takes, and nothing in
what kycmux shows on purpose; the canaries are where a leak would be looked for.

The leak tests proper (``test_canaries_decisions``, ``test_canaries_refusals``) pass only by
finding nothing, so these prove that finding nothing means something.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from engine.canary_support import (
    CANARIES,
    CANARY_DIR,
    ID_NUMBER,
    IMAGE_MARKER,
    NAME,
    RECORD_KEY,
    SUBJECT_ID,
    TENCENT_APPID,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    TTL_SECRET,
    CanaryFiles,
    Exposure,
    find_leaks,
    write_canary_files,
)
from kycmux import Secret, check_digit, keyed_hash, mask_id_number, mask_name
from kycmux.exceptions import ConfigError
from kycmux.synthetic import Population


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CanaryFiles:
    return write_canary_files(tmp_path_factory.mktemp("canary"))


def test_detectors_flag_planted_leaks(
    files: CanaryFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each detector finds a deliberately leaked canary, and nothing in what may be shown."""

    def flagged(text: str | bytes) -> set[str]:
        return {line.split(": ", 2)[1].split(" [")[0] for line in find_leaks([("t", text)])}

    # Every canary, as it is.
    for canary in CANARIES:
        assert flagged(f"oops: {canary.value}!") == {canary.what} | (
            {"given name"} if canary.what == "name" else set()
        ), canary.what
    # The encoded forms a leak travels in.
    assert flagged(json.dumps({"name": NAME})) == {"name", "given name"}
    assert flagged(repr(NAME.encode())) == {"name", "given name"}
    assert flagged(f"name={NAME}".encode()) == {"name", "given name"}
    assert "name" in flagged("q=" + "".join(f"%{b:02X}" for b in NAME.encode()))
    assert flagged(str(files["selfie"])) == {"evidence directory"}
    assert flagged(repr(files["video"])) == {"evidence directory"}
    # An image however it is cut: base64 of the whole file, of any slice, hex, raw bytes.
    for name in ("selfie", "card", "video", "liveness"):
        data = files[name].read_bytes()
        assert flagged(data) == {"image marker"}, name
        assert flagged(data.hex()) == {"image marker"}, name
        for start in range(3):
            assert flagged(base64.b64encode(data[start:]).decode()) == {"image marker"}, name
            assert flagged(base64.urlsafe_b64encode(data[start:])) == {"image marker"}, name
    # A Tencent signature carries its SecretId, base64-encoded.
    from kycmux_tencent_legacy._sign import SignatureFields, signature

    fields = SignatureFields(TENCENT_APPID, "", TENCENT_SECRET_ID, 1_900_000_060, 1_900_000_000, 7)
    assert flagged(f"Authorization: {signature(fields, TENCENT_SECRET_KEY)}") == {
        "secret tencent_legacy.secret_id"
    }

    # An exception: the canary only in a suppressed __context__ is still found.
    def parse_ttl() -> int:
        try:
            return int(TTL_SECRET)
        except ValueError:
            raise ConfigError("vendors.x.signature_ttl", "must be of type int") from None

    with pytest.raises(ConfigError) as caught:
        parse_ttl()
    assert not flagged(str(caught.value))
    assert not flagged(repr(caught.value))
    exposure = Exposure()
    exposure.exception("planted", caught.value)
    assert {line.split(": ", 2)[1].split(" [")[0] for line in exposure.leaks()} == {
        "secret (referenced from signature_ttl)"
    }
    # A log record: the message, and the exception it carries.
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("kycmux.canary-selftest")
    log.debug("subject %s", SUBJECT_ID)
    try:
        parse_ttl()
    except ConfigError:
        log.exception("configuration failed")
    exposure = Exposure()
    assert exposure.logs(caplog.records) == 2
    found = " ".join(exposure.leaks())
    assert "subject_id" in found
    assert "referenced from signature_ttl" in found
    # A SQLite file in WAL mode: the row is found in the file bytes and in the rows.
    db = tmp_path / "planted.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (f"{ID_NUMBER} {NAME}",))
    conn.commit()
    exposure = Exposure()
    assert exposure.result_store(db) == 1
    places = {line.split(": ")[0] for line in exposure.leaks() if "ID number" in line}
    assert "result store rows of t" in places
    assert any(p.startswith("result store file") for p in places), places
    conn.close()

    # What kycmux shows on purpose is not a leak.
    allowed = [
        mask_id_number(ID_NUMBER),
        ID_NUMBER[:6] + "********" + ID_NUMBER[-4:],
        mask_name(NAME),
        mask_id_number(SUBJECT_ID),
        keyed_hash(RECORD_KEY.encode(), ID_NUMBER),
        keyed_hash(RECORD_KEY.encode(), SUBJECT_ID),
        repr(Secret(TENCENT_SECRET_KEY)),
        f"{Secret(TENCENT_SECRET_ID)}",
        files["selfie"].name,
        repr(files["video"].name),
    ]
    for text in allowed:
        assert not flagged(text), text


def test_canary_directory_is_in_every_evidence_path(files: CanaryFiles) -> None:
    """The evidence really lives under the canary folder (or a leaked path would go unseen)."""
    assert all(CANARY_DIR in str(path) for path in files.paths.values())
    assert all(IMAGE_MARKER in files[name].read_bytes() for name in ("selfie", "video"))
    assert check_digit(ID_NUMBER[:17]) == ID_NUMBER[17]
    # Nobody else has the number: the synthetic cast and the demo files use their own.
    assert Population.default().by_id_number(ID_NUMBER) is None
    assert Population.generate(200).by_id_number(ID_NUMBER) is None
