"""Canaries for the privacy promise: distinctive values, the places they may surface, a detector.

The promise: a secret, an ID number, a name or an image never appears in a log, repr, exception,
record or result store. Every credential, the record key, the ID number, the name, the subject
id, the image bytes and the evidence folder get a value found nowhere else, so any occurrence
of one in what a user can see is a leak. A value is also looked for in the forms a leak takes
on the way (base64 at every byte alignment, hex, JSON ``\\u`` escapes, percent-encoding, Python
bytes escapes); the masks kycmux applies on purpose (``_privacy``) and keyed hashes are not
leaks, and the self-test checks they are not flagged.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sqlite3
import struct
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import pytest

from engine.e2e_support import policies
from kycmux import (
    Config,
    Decision,
    Engine,
    Evidence,
    PluginHost,
    Secret,
    check_digit,
    hookimpl,
    id_number_problem,
)
from kycmux.simkit import RunningSimulator, serve_many
from kycmux.synthetic import (
    Audio,
    ImageQuality,
    ImageTruth,
    Liveness,
    LivenessDataTruth,
    Person,
    Population,
    VideoTruth,
    image_bytes,
    liveness_data_bytes,
    video_bytes,
)
from kycmux_linkface._sim import Account as LinkfaceAccount
from kycmux_linkface._sim import AccountState, LinkfaceSimulator
from kycmux_tencent_legacy._sim import Account as TencentAccount
from kycmux_tencent_legacy._sim import TencentSimulator

__all__ = [
    "CANARIES",
    "DIGITS",
    "ENV",
    "QUICK",
    "SIM_THREAD_PREFIX",
    "Canary",
    "CanaryFiles",
    "CanaryRig",
    "CanaryStage",
    "Cases",
    "Exposure",
    "HookTap",
    "canary_simulators",
    "find_leaks",
    "reasons",
    "vendor_tables",
    "with_marker",
    "write_canary_files",
]

LINKFACE, TENCENT = "linkface", "tencent_legacy"
DIGITS = "4718"
SIM_THREAD_PREFIX = "kycmux-sim-"  # the simulators' server threads (``simkit._serve``)

# --- the canary values --------------------------------------------------------------------------

TENCENT_APPID = "1250077001"  # not a secret: the AppID travels as a plain form field
TENCENT_SECRET_ID = "AKIDcnryQ7xVt3Lw9Pz2Hk5Mb8Ns4Rd6"
TENCENT_SECRET_KEY = "cnrySecretKeyTq9Wm2Lp5Rz8Hd3Nf6"
LINKFACE_API_ID = "cnryApiIdLf4Kx8Pz2Qw6Ej1"
LINKFACE_API_SECRET = "cnryApiSecretLf7Vb3Nm9Jc1Ga5"
LINKFACE_EXPIRED_ID = "cnryExpiredIdLf5Hs2Gt8Yu3"
RECORD_KEY = "cnryRecordKeyRk6Ty4Ue2Wq8Zo7"
WRONG_SECRET = "cnryWrongSecretWs3Dk7Fj1Xc9"
TTL_SECRET = "cnryTtlSecretTv8Bn2Mx5Qe4"
LITERAL_SECRET = "cnryLiteralSecretLs2Pv6Kw0"

_ID_BODY = "33078219680917473"  # 义乌市, born 1968-09-17, sequence 473 (odd: male)
ID_NUMBER = _ID_BODY + check_digit(_ID_BODY)
# The same number with a wrong check character: invalid, but the caller's number all the same.
BAD_ID_NUMBER = _ID_BODY + ("0" if ID_NUMBER[17] != "0" else "1")
NAME = "司徒翾翀"
SUBJECT_ID = "subj-cnry-Sb5Xe9Rk3Vm"
IMAGE_MARKER = b"CNRYIMG-Px4Qz8Wn2Lk6Tj"
CANARY_DIR = "CNRYDIR-Dq3Vn7Hy1Bf"

assert id_number_problem(ID_NUMBER) is None, id_number_problem(ID_NUMBER)

# The environment the configuration's ``${VAR}`` references resolve against.
ENV = {
    "CNRY_TENCENT_SECRET_ID": TENCENT_SECRET_ID,
    "CNRY_TENCENT_SECRET_KEY": TENCENT_SECRET_KEY,
    "CNRY_LINKFACE_API_ID": LINKFACE_API_ID,
    "CNRY_LINKFACE_API_SECRET": LINKFACE_API_SECRET,
    "CNRY_LINKFACE_EXPIRED_ID": LINKFACE_EXPIRED_ID,
    "CNRY_RECORD_KEY": RECORD_KEY,
    "CNRY_WRONG_SECRET": WRONG_SECRET,
    "CNRY_TTL": TTL_SECRET,
    "CNRY_EMPTY": "",
}

# --- detection --------------------------------------------------------------------------------


def _b64_cores(data: bytes) -> list[str]:
    """The base64 characters that depend on ``data`` alone, at each of the 3 byte alignments.

    A character covers 6 bits of the stream; with ``shift`` bytes before ``data``, those from
    bit ``8 * shift`` to the end of ``data`` are the same in any base64 text holding it there.
    """
    cores = []
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + data).decode("ascii")
        start = -(-8 * shift // 6)
        end = 8 * (shift + len(data)) // 6
        core = text[start:end]
        if len(core) >= 12:
            cores.append(core)
    return cores


def _forms(value: str) -> dict[str, str]:
    raw = value.encode("utf-8")
    forms = {"raw": value, "hex": raw.hex(), "HEX": raw.hex().upper()}
    for i, core in enumerate(_b64_cores(raw)):
        forms[f"base64@{i}"] = core
        urlsafe = core.replace("+", "-").replace("/", "_")
        if urlsafe != core:
            forms[f"base64url@{i}"] = urlsafe
    escaped = json.dumps(value)[1:-1]
    if escaped != value:
        forms["json-escape"] = escaped
        forms["JSON-escape"] = escaped.replace("\\u", "\\U").upper().replace("\\U", "\\u")
    percent = quote(value, safe="")
    if percent != value:
        forms["percent"] = percent
        forms["percent-lower"] = percent.lower()
    if not value.isascii():
        forms["bytes-escape"] = "".join(f"\\x{b:02x}" for b in raw)
        forms["latin-1"] = raw.decode("latin-1")
    return forms


@attrs.frozen
class Canary:
    """One value that must never be seen, and the forms it is looked for in."""

    what: str
    value: str
    forms: Mapping[str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "forms", _forms(self.value))

    def found_in(self, text: str | bytes) -> list[str]:
        """The names of the forms of this canary that occur in ``text``."""
        if isinstance(text, bytes):
            return [n for n, f in self.forms.items() if f.encode("utf-8", "replace") in text]
        return [n for n, f in self.forms.items() if f in text]


CANARIES: tuple[Canary, ...] = (
    Canary("secret tencent_legacy.secret_id", TENCENT_SECRET_ID),
    Canary("secret tencent_legacy.secret_key", TENCENT_SECRET_KEY),
    Canary("secret linkface.api_id", LINKFACE_API_ID),
    Canary("secret linkface.api_secret", LINKFACE_API_SECRET),
    Canary("secret linkface.api_id (expired account)", LINKFACE_EXPIRED_ID),
    Canary("secret engine.record_key", RECORD_KEY),
    Canary("secret (wrong credential)", WRONG_SECRET),
    Canary("secret (referenced from signature_ttl)", TTL_SECRET),
    Canary("secret (written literally)", LITERAL_SECRET),
    Canary("ID number", ID_NUMBER),
    Canary("ID number (wrong check character)", BAD_ID_NUMBER),
    Canary("name", NAME),
    Canary("given name", NAME[2:]),
    Canary("subject_id", SUBJECT_ID),
    Canary("image marker", IMAGE_MARKER.decode("ascii")),
    Canary("evidence directory", CANARY_DIR),
)


def _context(text: str | bytes, canary: Canary, form: str, width: int = 50) -> str:
    """Where a canary was found, with the canary itself blanked out."""
    needle = canary.forms[form]
    if isinstance(text, bytes):
        at = text.find(needle.encode("utf-8", "replace"))
        snippet = text[max(0, at - width) : at + len(needle.encode()) + width]
        shown = snippet.decode("utf-8", "replace")
    else:
        at = text.find(needle)
        shown = text[max(0, at - width) : at + len(needle) + width]
    return shown.replace(needle, f"<{canary.what}>")


def find_leaks(
    texts: Iterable[tuple[str, str | bytes]], canaries: Iterable[Canary] = CANARIES
) -> list[str]:
    """One line per (place, canary) found: where, which canary, in which forms, the context."""
    wanted = tuple(canaries)
    leaks = []
    for where, text in texts:
        for canary in wanted:
            forms = canary.found_in(text)
            if forms:
                context = _context(text, canary, forms[0])
                leaks.append(f"{where}: {canary.what} [{', '.join(forms)}] in …{context!r}…")
    return leaks


# --- what a user can see -----------------------------------------------------------------------

_FORMAT = logging.Formatter("%(levelname)s %(name)s [%(threadName)s] %(message)s")


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything reachable by ``__cause__``, ``__context__`` and groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        stack.extend(getattr(current, "exceptions", ()) or ())


@attrs.define
class Exposure:
    """Every text a user could see, labelled by where it came from."""

    texts: list[tuple[str, str | bytes]] = attrs.field(factory=list)
    exceptions: int = 0

    def text(self, where: str, value: str | bytes) -> None:
        self.texts.append((where, value))

    def obj(self, where: str, value: object) -> None:
        """``repr`` and ``str`` (an exception: its whole chain)."""
        if isinstance(value, BaseException):
            self.exception(where, value)
            return
        self.texts.append((f"repr({where})", repr(value)))
        self.texts.append((f"str({where})", str(value)))

    def exception(self, where: str, exc: BaseException) -> None:
        """The exception and its chain: str, repr, args, public attributes, the traceback text."""
        self.exceptions += 1
        for depth, link in enumerate(_exception_chain(exc)):
            label = f"{where} > {type(link).__name__}#{depth}"
            self.texts.append((f"str({label})", str(link)))
            self.texts.append((f"repr({label})", repr(link)))
            self.texts.append((f"args({label})", repr(link.args)))
            public = {k: v for k, v in vars(link).items() if not k.startswith("_")}
            self.texts.append((f"attributes({label})", repr(public)))
            for note in getattr(link, "__notes__", ()) or ():
                self.texts.append((f"note({label})", str(note)))
        shown = "".join(traceback.format_exception(exc))
        self.texts.append((f"traceback({where})", shown))

    def logs(self, records: Iterable[logging.LogRecord]) -> int:
        """The client's log records (not the simulators', which stand in for the vendors')."""
        count = 0
        for record in records:
            if record.threadName.startswith(SIM_THREAD_PREFIX):
                continue
            count += 1
            where = f"log {record.levelname} {record.name}"
            self.texts.append((where, _FORMAT.format(record)))
            if record.exc_info and record.exc_info[1] is not None:
                self.exception(f"{where} exc_info", record.exc_info[1])
        return count

    def file(self, where: str, path: Path) -> None:
        self.texts.append((where, path.read_bytes()))

    def result_store(self, path: Path) -> int:
        """The SQLite file, its journal files, and every row of every table."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                self.file(f"result store file {part.name}", part)
        rows = 0
        with sqlite3.connect(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
            for table in tables:
                if table.startswith("sqlite_"):
                    continue
                try:
                    found = conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
                except sqlite3.Error:
                    continue
                rows += len(found)
                self.texts.append((f"result store rows of {table}", repr(found)))
        conn.close()
        return rows

    def leaks(self) -> list[str]:
        return find_leaks(self.texts)


@attrs.define(eq=False)
class HookTap:
    """A cross-cutting plugin that keeps what passes through every vendor's hooks.

    It sees each request built and signed, each response and parsed result, every exception a
    hook raised and every error handed to ``classify_error`` (transport exceptions included),
    so the tests can look at values and exceptions the engine handles without showing them.
    """

    objects: list[tuple[str, object]] = attrs.field(factory=list)
    errors: list[tuple[str, BaseException]] = attrs.field(factory=list)

    @hookimpl(wrapper=True)
    def build_request(self) -> Any:
        return (yield from self._kept("build_request"))

    @hookimpl(wrapper=True)
    def sign(self) -> Any:
        return (yield from self._kept("sign"))

    @hookimpl(wrapper=True)
    def parse(self, response: Any) -> Any:
        # Not kept: the response and the plugin's raw reading of it are the vendor's own words,
        # which only hooks see; core scrubs them before anything records or shows them (what
        # reaches ``classify_error`` below is checked).
        try:
            return (yield)
        except BaseException as exc:
            self.errors.append(("parse raised", exc))
            raise

    @hookimpl(tryfirst=True)
    def classify_error(self, error: BaseException | None) -> None:
        # The failed result itself is the vendor's raw words, as for parse; core scrubs what it
        # keeps of them (the records, the outcome) and those are checked.
        if error is not None:
            self.errors.append(("error given to classify_error", error))

    def _kept(self, hook: str) -> Any:
        try:
            value = yield
        except BaseException as exc:
            self.errors.append((f"{hook} raised", exc))
            raise
        if value is not None:
            self.objects.append((f"{hook} result {type(value).__name__}", value))
        return value

    def expose(self, exposure: Exposure) -> None:
        for where, value in self.objects:
            exposure.obj(where, value)
        for where, exc in self.errors:
            exposure.exception(where, exc)


# --- evidence files carrying the image marker -----------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def with_marker(data: bytes, marker: bytes = IMAGE_MARKER) -> bytes:
    """``data`` (a synthetic PNG, JPEG, MP4 or protobuf file) with ``marker`` near its start
    and again near its end, in containers every reader skips (the truth stays readable)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        head = 8 + 25  # signature, IHDR
        chunk = _png_chunk(b"tEXt", b"c\0" + marker)
        return data[:head] + chunk + data[head:-12] + _png_chunk(b"mkRk", marker) + data[-12:]
    if data.startswith(b"\xff\xd8"):
        segment = struct.pack(">BBH", 0xFF, 0xFE, len(marker) + 2) + marker
        return data[:2] + segment + data[2:-2] + segment + data[-2:]
    if data[4:8] == b"ftyp":
        (size,) = struct.unpack(">I", data[:4])
        box = struct.pack(">I", 8 + len(marker)) + b"free" + marker
        return data[:size] + box + data[size:] + box
    if data.startswith(b"\x0a"):  # protobuf: field 1 first, then an unknown field 14
        length, pos = _varint(data, 1)
        field = bytes((14 << 3 | 2, len(marker))) + marker
        return data[: pos + length] + field + data[pos + length :] + field
    raise ValueError("not a synthetic file this knows")


@attrs.frozen
class CanaryFiles:
    """The evidence files, under a folder whose name is a canary."""

    folder: Path
    paths: Mapping[str, Path]

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


ME, OTHER = "C0001", "C0002"
_FILES: dict[str, Callable[[], bytes]] = {
    "selfie": lambda: image_bytes(ImageTruth(ME)),
    "card": lambda: image_bytes(ImageTruth(ME), fmt="jpeg"),
    "video": lambda: video_bytes(VideoTruth(ME)),
    "liveness": lambda: liveness_data_bytes(LivenessDataTruth(ME)),
    "spoof_video": lambda: video_bytes(VideoTruth(ME, Liveness.SPOOF)),
    "attack_liveness": lambda: liveness_data_bytes(LivenessDataTruth(ME, Liveness.SPOOF)),
    "impostor_selfie": lambda: image_bytes(ImageTruth(OTHER)),
    "impostor_video": lambda: video_bytes(VideoTruth(OTHER)),
    "impostor_liveness": lambda: liveness_data_bytes(LivenessDataTruth(OTHER)),
    "no_face_selfie": lambda: image_bytes(ImageTruth(None, ImageQuality.NO_FACE)),
    "silent_video": lambda: video_bytes(VideoTruth(ME, audio=Audio.SILENT)),
    "unreadable_liveness": lambda: liveness_data_bytes(LivenessDataTruth(ME, readable=False)),
    # Over Linkface's 5 MB selfie limit and Tencent's 3 MB video limit.
    "big_selfie": lambda: image_bytes(ImageTruth(ME), pad_to=5 * 1024 * 1024 + 4096),
    "big_video": lambda: video_bytes(VideoTruth(ME), pad_to=3 * 1024 * 1024 + 4096),
}
_NAMES = {
    "card": "card.jpg",
    "video": "video.mp4",
    "liveness": "liveness.bin",
    "spoof_video": "spoof_video.mp4",
    "attack_liveness": "attack_liveness.bin",
    "impostor_video": "impostor_video.mp4",
    "impostor_liveness": "impostor_liveness.bin",
    "silent_video": "silent_video.mp4",
    "unreadable_liveness": "unreadable_liveness.bin",
    "big_video": "big_video.mp4",
}


def write_canary_files(base: Path) -> CanaryFiles:
    """Write every evidence file, each carrying the marker, into ``base/<CANARY_DIR>/``."""
    folder = base / "uploads" / CANARY_DIR / "capture"
    folder.mkdir(parents=True)
    paths = {}
    for name, make in _FILES.items():
        path = folder / _NAMES.get(name, f"{name}.png")
        path.write_bytes(with_marker(make()))
        paths[name] = path
    # Not media at all: a text file whose first bytes are the marker.
    paths["not_an_image"] = folder / "selfie.png.txt"
    paths["not_an_image"].write_bytes(IMAGE_MARKER + b" is not an image\n")
    paths["empty"] = folder / "empty.png"
    paths["empty"].write_bytes(b"")
    return CanaryFiles(folder, paths)


# --- simulators and configuration ------------------------------------------------------------


def population() -> Population:
    """The canary person (registry OK) and an impostor, for Tencent's idcardcompare."""
    other = Person.from_id(OTHER, "龚伯乐")
    return Population((Person(ME, ID_NUMBER, NAME), other))


def canary_simulators() -> dict[str, Any]:
    """Both vendors' simulators, knowing only the canary accounts."""
    return {
        LINKFACE: LinkfaceSimulator(
            accounts=(
                LinkfaceAccount(LINKFACE_API_ID, Secret(LINKFACE_API_SECRET)),
                LinkfaceAccount(
                    LINKFACE_EXPIRED_ID, Secret(LINKFACE_API_SECRET), AccountState.EXPIRED
                ),
            )
        ),
        TENCENT: TencentSimulator(
            accounts=(TencentAccount(TENCENT_APPID, TENCENT_SECRET_ID, TENCENT_SECRET_KEY),),
            population=population(),
            accept_unissued_challenges=True,
        ),
    }


def vendor_tables(
    running: Mapping[str, RunningSimulator], **overrides: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The ``[vendors.*]`` tables reaching the simulators, secrets as ``${VAR}`` references."""
    tables: dict[str, dict[str, Any]] = {
        TENCENT: {
            "base_url": running[TENCENT].base_url,
            "appid": TENCENT_APPID,
            "secret_id": "${CNRY_TENCENT_SECRET_ID}",
            "secret_key": "${CNRY_TENCENT_SECRET_KEY}",
            "allow_caller_digits": True,
        },
        LINKFACE: {
            "base_url": running[LINKFACE].base_url,
            "api_id": "${CNRY_LINKFACE_API_ID}",
            "api_secret": "${CNRY_LINKFACE_API_SECRET}",
        },
    }
    for vendor, changes in overrides.items():
        tables[vendor].update(changes)
    return tables


# --- the rig every leak test works in ----------------------------------------------------------

LOGGERS = ("kycmux", "httpx", "httpcore", "aiohttp")
# Two attempts per vendor, quickly: retries are exercised without slowing the suite down.
QUICK = {"retry": {"max_attempts": 2, "base_delay": 0.01, "max_delay": 0.02}}

# Decisions to make: label -> (changes to the canary person's full evidence, policy).
Cases = Mapping[str, tuple[Mapping[str, Any], str]]


def reasons(decision: Decision) -> list[tuple[str, str | None, str | None]]:
    return [(a.vendor, a.error_class, a.vendor_code) for a in decision.record.attempts]


@attrs.frozen
class CanaryStage:
    """What a test module's leak tests share: the simulators on loopback, the evidence files."""

    running: Mapping[str, RunningSimulator]
    files: CanaryFiles

    @classmethod
    @contextlib.contextmanager
    def serve(cls, base: Path) -> Iterator[CanaryStage]:
        files = write_canary_files(base)
        with serve_many(canary_simulators()) as running:
            yield cls(running, files)

    def clear_faults(self) -> None:
        for sim in self.running.values():
            sim.app.faults.clear()

    def rig(self, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> Iterator[CanaryRig]:
        """A test's rig (for a fixture to ``yield from``): DEBUG logs captured, the installed
        plugins and a tap, no fault window left over from another test, before or after."""
        caplog.set_level(logging.DEBUG)
        for name in LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
        tap = HookTap()
        # The installed plugins, plus the tap (cross-cutting: it sees every vendor's hooks).
        host = PluginHost.from_entry_points()
        assert {LINKFACE, TENCENT} <= set(host.vendors), host.failures
        assert host.register(tap, "test.canary-tap"), host.failures
        self.clear_faults()
        yield CanaryRig(self.running, self.files, host, tap, Exposure(), caplog, tmp_path)
        self.clear_faults()


@attrs.frozen
class CanaryRig:
    """One leak test's world and its steps: configure, decide, collect what a user could see
    into ``exposure``, and finally look for every canary in all of it.

    ``unexpected`` notes refusals that did not come as expected (``refused``); a test checks
    it after the leaks, so a failure shows both.
    """

    running: Mapping[str, RunningSimulator]
    files: CanaryFiles
    host: PluginHost
    tap: HookTap
    exposure: Exposure
    caplog: pytest.LogCaptureFixture
    tmp_path: Path
    unexpected: list[str] = attrs.field(factory=list)

    @property
    def records(self) -> Path:
        """The records file of a configuration made with ``records=True``."""
        return self.tmp_path / "records.jsonl"

    def config(
        self,
        *,
        records: bool = True,
        engine: Mapping[str, Any] | None = None,
        experiments: Mapping[str, Any] | None = None,
        **vendor_changes: Mapping[str, Any],
    ) -> Config:
        """The canary configuration: vendor tables reaching the simulators (with changes),
        the test policies, the record key from its variable, the records file."""
        table: dict[str, Any] = {"record_key": "${CNRY_RECORD_KEY}"}
        if records:
            table["records"] = str(self.records)
        data: dict[str, Any] = {
            "vendors": vendor_tables(self.running, **vendor_changes),
            "policies": policies(linkface=QUICK, tencent_legacy=QUICK),
            "engine": {**table, **(engine or {})},
        }
        if experiments:
            data["experiments"] = dict(experiments)
        return Config.from_mapping(data, self.host.vendors, ENV)

    def engine(self, config: Config) -> Engine:
        return Engine.from_config(config, host=self.host)

    def evidence(self, n: int, **changes: Any) -> Evidence:
        """Every kind of evidence, all of the canary person (subject ``n``); a change to
        ``None`` leaves that field out."""
        fields: dict[str, Any] = {
            "selfie": self.files["selfie"],
            "reference_photo": self.files["card"],
            "video": self.files["video"],
            "digits": DIGITS,
            "liveness_data": self.files["liveness"],
            "id_number": ID_NUMBER,
            "id_name": NAME,
            "subject_id": f"{SUBJECT_ID}-{n}",
        }
        fields.update(changes)
        return Evidence(**{k: v for k, v in fields.items() if v is not None})

    async def decide(self, engine: Engine, evidence: Evidence, policy: str, label: str) -> Decision:
        """``engine.verify``, collecting the decision, its record, the record as JSON, or what
        it raised (and raising it again)."""
        try:
            decision = await engine.verify(evidence, policy=policy)
        except Exception as exc:  # a raised exception is what the caller sees: collect it
            self.exposure.exception(f"engine.verify ({label}) raised", exc)
            raise
        self.exposure.obj(f"Decision ({label})", decision)
        self.exposure.obj(f"DecisionRecord ({label})", decision.record)
        plain = decision.record.to_dict()
        self.exposure.text(f"record.to_dict ({label})", json.dumps(plain, ensure_ascii=False))
        self.exposure.text(f"record.to_dict ascii ({label})", json.dumps(plain))
        return decision

    async def decide_once(
        self, config: Config, evidence: Evidence, policy: str, label: str
    ) -> Decision:
        """One decision by a fresh engine (no breaker or lockout state from another)."""
        async with self.engine(config) as engine:
            return await self.decide(engine, evidence, policy, label)

    async def decide_cases(self, engine: Engine, cases: Cases, first: int) -> dict[str, Decision]:
        """Each case's decision, in order, the subjects numbered from ``first``."""
        return {
            label: await self.decide(engine, self.evidence(first + n, **changes), policy, label)
            for n, (label, (changes, policy)) in enumerate(cases.items())
        }

    def expose_engine(self, engine: Engine, config: Config) -> None:
        self.exposure.obj("Engine", engine)
        self.exposure.obj("Config", config)
        self.exposure.obj("Config.engine", config.engine)
        self.exposure.obj("Config.vendors", config.vendors)
        for name, vendor in config.vendors.items():
            self.exposure.obj(f"VendorConfig {name}", vendor)

    def refused(self, label: str, make: Callable[[], object], kind: type[BaseException]) -> str:
        """Run ``make``, expecting ``kind``; whatever it raises is collected, and anything else
        than ``kind`` is noted in ``unexpected``. Returns the message raised."""
        try:
            made = make()
        except Exception as exc:
            self.exposure.exception(label, exc)
            if not isinstance(exc, kind):
                self.unexpected.append(f"{label}: raised {type(exc).__name__}, not {kind.__name__}")
            return str(exc)
        self.unexpected.append(f"{label}: did not raise {kind.__name__}")
        if isinstance(made, Engine):
            made.close()
        return ""

    def file_records(self, *, if_written: bool = False) -> None:
        """The records file, which must have been written unless ``if_written``."""
        if not if_written or self.records.exists():
            self.exposure.file("records file", self.records)

    def assert_no_leaks(self, *, tap: bool = True, wire: bool = True) -> None:
        """No canary anywhere: in what was collected, the logs and (``tap``) what passed through
        the hooks. ``wire``: requests went out, so they must have been logged (the log capture
        works, and an empty log is no pass)."""
        if tap:
            self.tap.expose(self.exposure)
        self.exposure.logs(self.caplog.records)
        if wire:
            # httpx logs its requests; the default async path (aiohttp, direct) as kycmux.http.
            names = ("httpx", "kycmux.http")
            assert any(r.name.startswith(names) for r in self.caplog.records), (
                "no httpx log captured"
            )
        leaks = self.exposure.leaks()
        assert not leaks, f"{len(leaks)} leak(s):\n" + "\n".join(leaks)
