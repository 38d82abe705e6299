"""The JSON-lines sink and its file: batches on a writer thread, the chain taken up from the
file's last line (torn, rotated, shared by two writers), and a reader no line can crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import DecisionRecord, JsonLinesSink, PluginHost
from kycmux._records._chain import Entry, next_link, verify_chain
from kycmux._records._file import TAIL_LIMIT, TailReader, last_line, parse_line, read_entries
from kycmux._records._observers import Observers
from kycmux._records._record import canonical_json, record_json

KEY = b"file-key"


def _record(n: int) -> DecisionRecord:
    return DecisionRecord(
        request_id=f"req-{n}",
        started_at=1_700_000_000.123456 + n,
        duration_ms=0.1 * n,
        policy="default",
        policy_hash="h",
        subject=None,
        evidence={"selfie": "file"},
        outcome="accept",
        reasons=("all_checks_passed",),
        explanation="Everything «passed» 通过.",
    )


def _write(path: Path, *numbers: int, key: bytes | None = KEY) -> JsonLinesSink:
    sink = JsonLinesSink(path, key=key)
    for n in numbers:
        sink.on_decision(_record(n))
    sink.close()
    return sink


def _verify(path: Path) -> tuple[list[str], int]:
    verdict = verify_chain(KEY, read_entries(path))
    return [f"{b.position}:{b.kind}" for b in verdict.breaks], verdict.checked


def test_a_records_json_reads_back_to_the_same_text() -> None:
    # What the chain relies on: a verifier re-serialising a line gets the hashed bytes back.
    for n in range(5):
        text = record_json(_record(n))
        assert canonical_json(json.loads(text)) == text


def test_lines_are_chained_in_one_file_across_sinks_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "records.jsonl"
    first = _write(path, 0, 1, 2)
    assert (first.written, first.lost) == (3, 0)
    _write(path, 3, 4)  # a restart: the chain goes on from the file's last line
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["chain"]["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [json.loads(line)["request_id"] for line in lines] == [f"req-{n}" for n in range(5)]
    assert _verify(path) == ([], 5)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert KEY.decode() not in repr(first)  # the record key is a secret


def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    one, two = JsonLinesSink(path, key=KEY), JsonLinesSink(path, key=KEY)
    for n in range(6):
        sink = one if n % 2 else two
        sink.on_decision(_record(n))
        assert sink.flush(10)
    one.close()
    two.close()
    assert _verify(path) == ([], 6)


def test_a_torn_last_line_is_ended_and_reported_never_continued(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    _write(path, 0, 1)
    with path.open("ab") as file:
        file.write(b'{"request_id": "cut sh')  # a crash in the middle of a write
    _write(path, 2)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert json.loads(lines[3])["chain"]["seq"] == 3  # linked to line 2, over the torn one
    assert _verify(path) == (["3:malformed"], 3)


def test_a_rotated_file_goes_on_with_the_same_chain(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    sink = JsonLinesSink(path, key=KEY)
    sink.on_decision(_record(0))
    assert sink.flush(10)
    path.rename(tmp_path / "records.jsonl.1")  # logrotate's default: move, then a new file
    sink.on_decision(_record(1))
    sink.close()
    rotated = json.loads(path.read_text(encoding="utf-8"))
    assert rotated["chain"]["seq"] == 2
    verdict = verify_chain(KEY, read_entries(path))
    assert (verdict.intact, verdict.first_seq) == (True, 2)
    both = [*read_entries(tmp_path / "records.jsonl.1"), *read_entries(path)]
    assert verify_chain(KEY, both).checked == 2
    assert verify_chain(KEY, both).intact


def test_without_a_key_lines_are_the_record_alone(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    _write(path, 0, key=None)
    assert json.loads(path.read_text(encoding="utf-8")) == _record(0).to_dict()


def test_the_engine_drains_a_sink_registered_as_a_plugin(tmp_path: Path) -> None:
    import anyio

    host = PluginHost()
    sink = JsonLinesSink(tmp_path / "records.jsonl")
    host.register(sink, "records")
    observers = Observers(host)
    for n in range(3):
        observers.post("on_decision", _record(n))
    anyio.run(observers.drain)
    # Drained: every record is in the file (the writer thread had time only until drain).
    assert len((tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    observers.close()
    sink.close()


def test_a_full_queue_loses_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kycmux._records import _sink

    monkeypatch.setattr(_sink, "FULL_WAIT", 0.0)
    sink = JsonLinesSink(tmp_path / "records.jsonl", queue_size=1)
    with sink._writing:  # the writer is stuck (a slow disk): the queue fills up
        for n in range(4):
            sink.on_decision(_record(n))
        assert sink.lost >= 2
    sink.close()
    assert sink.written + sink.lost == 4


def test_the_last_line_is_found_by_a_bounded_read(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * (3 * 64 * 1024) + b"\n" + b'{"a": 1}\n')
    fd = os.open(path, os.O_RDONLY)
    try:
        assert last_line(fd, path.stat().st_size) == (b'{"a": 1}', False)
        huge = path.stat().st_size
        assert last_line(fd, huge - 9) == (b"x" * (3 * 64 * 1024), False)
    finally:
        os.close(fd)
    assert TAIL_LIMIT >= 1024 * 1024


def test_the_tail_reader_sees_only_new_whole_lines_and_follows_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    _write(path, 0)
    reader = TailReader(path)
    reader.skip_to_end()
    with path.open("ab") as file:
        file.write(record_json(_record(1)).encode() + b"\n" + b'{"half')
    assert [e.request_id for e in reader.poll()] == ["req-1"]
    path.rename(tmp_path / "old.jsonl")
    _write(path, 2)
    assert [e.request_id for e in reader.poll()] == ["req-2"]


lines = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"request_id": st.text(max_size=5), "chain": st.from_type(object)}).map(
        lambda v: json.dumps(v, default=str).encode()
    ),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines, max_size=8))
def test_no_line_crashes_the_reader_and_bad_ones_are_named_by_number(
    tmp_path: Path, raw: list[bytes]
) -> None:
    path = tmp_path / "any.jsonl"
    path.write_bytes(b"\n".join(r.replace(b"\n", b" ") for r in raw) + b"\n")
    entries = list(read_entries(path))
    numbers = [n for n, r in enumerate(raw, 1) if r.replace(b"\n", b" ").strip()]
    assert [e.position for e in entries] == numbers
    for entry in entries:
        assert isinstance(entry, Entry)
        assert (entry.plain is None) == (entry.problem is not None)
    verdict = verify_chain(KEY, entries)  # never raises either
    assert {b.position for b in verdict.breaks if b.kind == "malformed"} == {
        e.position for e in entries if e.problem is not None
    }


def test_a_forged_link_without_the_key_is_an_edit() -> None:
    plain = _record(0).to_dict()
    link = next_link(b"another key", None, canonical_json(plain))
    entry = parse_line(1, json.dumps({**plain, "chain": link.as_dict()}).encode())
    assert [b.kind for b in verify_chain(KEY, [entry]).breaks] == ["edited"]
