"""Canaries: no secret, ID number, name, subject id, image or evidence path in anything visible,
when kycmux refuses locally.

Bad evidence, evidence a vendor's limits refuse, an evidence file gone before sending, secrets
given wrongly in the configuration (or referenced from a field of another type), a plugin
setting pointed at a secret, a plugin's own bug quoting the evidence: whatever is raised, logged
or recorded is searched for every canary in every form a leak takes (``canary_support``), as
for the decisions over the wire (``test_canaries_decisions``). One test per kind of leak.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest

from engine.canary_support import (
    BAD_ID_NUMBER,
    ENV,
    ID_NUMBER,
    LINKFACE,
    LITERAL_SECRET,
    NAME,
    RECORD_KEY,
    TENCENT,
    TENCENT_APPID,
    TENCENT_SECRET_KEY,
    CanaryRig,
    vendor_tables,
)
from kycmux import AttemptContext, Check, Config, Engine, Evidence, hookimpl
from kycmux.exceptions import ConfigError, InvalidEvidenceError, KycmuxError

pytestmark = pytest.mark.anyio


# --- evidence ---------------------------------------------------------------------------------


def test_invalid_evidence_leaks_nothing(rig: CanaryRig) -> None:
    """``Evidence`` refuses bad evidence with an ``InvalidEvidenceError`` naming the rule."""
    files, folder = rig.files, rig.files.folder
    cases: dict[str, Any] = {
        "missing selfie": lambda: Evidence(selfie=folder / "missing.png"),
        "missing selfie (str path)": lambda: Evidence(selfie=str(folder / "gone.png")),
        "empty selfie": lambda: Evidence(selfie=files["empty"]),
        "selfie of the wrong type": lambda: Evidence(selfie=files["not_an_image"]),
        "video of the wrong type": lambda: Evidence(video=files["card"]),
        "a folder as the card photo": lambda: Evidence(reference_photo=folder),
        "liveness data missing": lambda: Evidence(liveness_data=folder / "liveness.dat"),
        "ID number with a wrong check digit": lambda: Evidence(id_number=BAD_ID_NUMBER),
        "ID number too long": lambda: Evidence(id_number=ID_NUMBER + "1"),
        "name with a control character": lambda: Evidence(id_name=NAME + "\x07"),
        "name not UTF-8": lambda: Evidence(id_name=NAME.encode()[:-1]),
        "name too long": lambda: Evidence(id_name=NAME * 17),
        "name empty": lambda: Evidence(id_name=" ", id_number=ID_NUMBER),
        "digits": lambda: Evidence(digits="4 7 1 8", id_number=ID_NUMBER, id_name=NAME),
    }
    messages = {
        label: rig.refused(label, make, InvalidEvidenceError) for label, make in cases.items()
    }
    rig.assert_no_leaks(tap=False, wire=False)
    assert not rig.unexpected, rig.unexpected
    # The rules are still told: the file name (not its folder) and what is wrong.
    assert "missing.png" in messages["missing selfie"]
    assert "check character" in messages["ID number with a wrong check digit"]


async def test_vendor_limits_on_evidence_leak_nothing(rig: CanaryRig) -> None:
    """Evidence a vendor's documented limits refuse (5 MB selfie, 3 MB video) is never sent."""
    files, host = rig.files, rig.host
    config = rig.config()
    big_selfie = rig.evidence(90, selfie=files["big_selfie"], video=None)
    big_video = rig.evidence(91, video=files["big_video"], selfie=None, liveness_data=None)
    # The plugins' own hooks, called directly, raise what the engine turns into a refusal.
    for vendor, evidence, checks in (
        (LINKFACE, big_selfie, frozenset({Check.LIVENESS, Check.FACE_MATCH})),
        (TENCENT, big_video, frozenset({Check.LIVENESS, Check.FACE_MATCH})),
    ):
        with pytest.raises(InvalidEvidenceError) as caught:
            host.hooks_for(vendor).build_request(
                vendor=host.vendor(vendor),
                checks=checks,
                evidence=evidence,
                config=config.vendors[vendor],
                context=AttemptContext("canary-request"),
            )
        rig.exposure.exception(f"{vendor} build_request", caught.value)
    # Through the engine: a local refusal, then the other vendor; or, when no vendor of the
    # policy can take the evidence, whatever the engine does instead (answer or raise).
    fallback = {
        "big selfie, Tencent can take over": (
            rig.evidence(92, selfie=files["big_selfie"]),
            "sdk_first",
        ),
        "big video, Linkface can take over": (
            rig.evidence(93, video=files["big_video"]),
            "video_first",
        ),
        "big selfie, nobody else": (big_selfie, "sdk_first"),
        "big video, nobody else": (big_video, "video_first"),
    }
    refusals = {}
    async with rig.engine(config) as engine:
        for label, (evidence, policy) in fallback.items():
            try:
                decision = await rig.decide(engine, evidence, policy, label)
            except KycmuxError as exc:  # collected by decide()
                refusals[label] = type(exc).__name__
            else:
                skips = [s.reason for s in decision.record.skipped]
                refusals[label] = next((r for r in skips if r.startswith("local_")), "")
    assert refusals["big selfie, Tencent can take over"].startswith("local_validation:selfie")
    assert refusals["big video, Linkface can take over"].startswith("local_validation:video")
    rig.file_records(if_written=True)
    rig.assert_no_leaks()


async def test_evidence_file_gone_before_sending_leaks_nothing(rig: CanaryRig) -> None:
    """A file validated into ``Evidence`` and removed before the decision (an upload cleaned
    up, a temporary file): whatever goes wrong must not show where it was."""
    files = rig.files
    config = rig.config()
    gone = {}
    for name in ("selfie", "video"):
        copy = files.folder / f"gone-{name}{files[name].suffix}"
        copy.write_bytes(files[name].read_bytes())
        gone[name] = copy
    cases = {
        "selfie gone": (rig.evidence(95, selfie=gone["selfie"], video=None), "sdk_first"),
        "video gone": (
            rig.evidence(96, video=gone["video"], selfie=None, liveness_data=None),
            "video_first",
        ),
    }
    for path in gone.values():
        path.unlink()
    async with rig.engine(config) as engine:
        for label, (evidence, policy) in cases.items():
            with contextlib.suppress(Exception):  # collected by decide()
                await rig.decide(engine, evidence, policy, label)
    rig.file_records(if_written=True)
    rig.assert_no_leaks(wire=False)


# --- configuration ----------------------------------------------------------------------------


def _toml(rig: CanaryRig, tencent: str = "", linkface: str = "") -> str:
    return (
        f'[vendors.{TENCENT}]\nbase_url = "{rig.running[TENCENT].base_url}"\n'
        f'appid = "{TENCENT_APPID}"\nsecret_id = "${{CNRY_TENCENT_SECRET_ID}}"\n'
        f'secret_key = "${{CNRY_TENCENT_SECRET_KEY}}"\n{tencent}\n'
        f'[vendors.{LINKFACE}]\nbase_url = "{rig.running[LINKFACE].base_url}"\n'
        f'api_id = "${{CNRY_LINKFACE_API_ID}}"\napi_secret = "${{CNRY_LINKFACE_API_SECRET}}"\n'
        f"{linkface}\n"
    )


def _load_each(rig: CanaryRig, lines: Mapping[str, tuple[str, str]]) -> None:
    """A ``kycmux.toml`` per case, the working vendor tables with one line added or replaced,
    each loaded by ``Config.from_file`` and ``Engine.from_config_file`` (a refusal expected)."""
    for n, (label, (tencent, linkface)) in enumerate(lines.items()):
        text = _toml(rig, tencent, linkface)
        for extra in filter(None, (tencent, linkface)):  # the added line replaces its key's
            key = extra.split("=")[0].strip()
            generated = [ln for ln in text.splitlines() if ln.startswith(f"{key} = ")]
            if len(generated) > 1:
                text = text.replace(generated[0] + "\n", "", 1)
        path = rig.tmp_path / f"kycmux-{n}.toml"
        path.write_text(text, encoding="utf-8")
        rig.refused(label, partial(Config.from_file, path, rig.host.vendors, ENV), ConfigError)
        rig.refused(
            f"{label} (Engine.from_config_file)",
            partial(Engine.from_config_file, path, host=rig.host, env=ENV),
            ConfigError,
        )


def test_secret_referenced_from_a_typed_field_leaks_nothing(rig: CanaryRig) -> None:
    """A ``${VAR}`` holding a secret, referenced by mistake from a number or boolean field:
    the value cannot be converted, and the ``ConfigError`` must not carry it anywhere."""
    lines = {
        "signature_ttl (int)": ('signature_ttl = "${CNRY_TTL}"', ""),
        "max_video_bytes (int)": ('max_video_bytes = "${CNRY_TENCENT_SECRET_KEY}"', ""),
        "liveness_threshold (float)": ("", 'liveness_threshold = "${CNRY_TTL}"'),
        "selfie_auto_rotate (bool)": ("", 'selfie_auto_rotate = "${CNRY_TTL}"'),
    }
    _load_each(rig, lines)
    assert rig.exposure.exceptions == 2 * len(lines)
    rig.assert_no_leaks(tap=False, wire=False)
    assert not rig.unexpected, rig.unexpected


def test_configuration_errors_leak_nothing(rig: CanaryRig) -> None:
    """``ConfigError`` for secrets given wrongly: empty or unset variables, literals (also
    under a misspelt key, or breaking the TOML), ``record_key`` likewise."""
    host = rig.host
    _load_each(
        rig,
        {
            "empty variable for a secret": ("", 'api_secret = "${CNRY_EMPTY}"'),
            "unset variable for a secret": ('secret_key = "${CNRY_UNSET}"', ""),
            "secret written literally": ("", f'api_secret = "{LITERAL_SECRET}"'),
            "secret under a misspelt key": ("", f'api_secrte = "{LITERAL_SECRET}"'),
            "secret breaking the TOML": ("", f"api_secret = {LITERAL_SECRET}"),
        },
    )
    engine_tables = {
        "record_key from an empty variable": {"record_key": "${CNRY_EMPTY}"},
        "record_key from an unset variable": {"record_key": "${CNRY_UNSET}"},
        "record_key written literally": {"record_key": RECORD_KEY},
        "record_key literal under a misspelt key": {"record_kye": RECORD_KEY},
    }
    for label, table in engine_tables.items():
        data = {"vendors": vendor_tables(rig.running), "engine": table}

        def load(data: dict[str, Any] = data) -> Engine:
            return Engine.from_config(Config.from_mapping(data, host.vendors, ENV), host=host)

        rig.refused(label, load, ConfigError)
    # A good configuration shows no secret either.
    good = rig.tmp_path / "good.toml"
    good.write_text(
        _toml(rig) + '\n[engine]\nrecord_key = "${CNRY_RECORD_KEY}"\n', encoding="utf-8"
    )
    config = Config.from_file(good, host.vendors, ENV)
    assert config.vendors[TENCENT].reveal("secret_key") == TENCENT_SECRET_KEY
    with Engine.from_config(config, host=host) as engine:
        rig.expose_engine(engine, config)
    rig.assert_no_leaks(tap=False, wire=False)
    assert not rig.unexpected, rig.unexpected


# --- plugins ----------------------------------------------------------------------------------


async def test_plugin_settings_errors_leak_nothing(rig: CanaryRig) -> None:
    """A plugin setting checked when the plugin reads it (Linkface's ``credentials_in``),
    pointed by mistake at a secret's variable."""
    host = rig.host
    config = rig.config(linkface={"credentials_in": "${CNRY_LINKFACE_API_SECRET}"})
    evidence = rig.evidence(99, video=None)
    with pytest.raises(ConfigError) as caught:
        host.hooks_for(LINKFACE).build_request(
            vendor=host.vendor(LINKFACE),
            checks=frozenset({Check.LIVENESS, Check.FACE_MATCH}),
            evidence=evidence,
            config=config.vendors[LINKFACE],
            context=AttemptContext("canary-request"),
        )
    assert caught.value.key == "vendors.linkface.credentials_in"
    rig.exposure.exception("linkface build_request", caught.value)
    async with rig.engine(config) as engine:
        with contextlib.suppress(KycmuxError):  # collected by decide()
            await rig.decide(engine, evidence, "sdk_first", "bad credentials_in")
        rig.expose_engine(engine, config)
    rig.file_records(if_written=True)
    rig.assert_no_leaks(wire=False)


class _BuggyPlugin:
    """A plugin whose bug quotes the evidence in its exception, as ``KeyError(value)`` does."""

    @hookimpl(tryfirst=True)
    def build_request(self, evidence: Evidence) -> None:
        table = {"known": 1}
        table[f"{evidence.id_number}/{evidence.id_name}/{evidence.subject_id}"] += 1


async def test_plugin_bug_leaks_nothing(rig: CanaryRig) -> None:
    assert rig.host.register(_BuggyPlugin(), "test.canary-buggy"), rig.host.failures
    async with rig.engine(rig.config()) as engine:
        with contextlib.suppress(Exception):  # collected by decide()
            await rig.decide(engine, rig.evidence(100), "composed", "plugin bug")
    rig.file_records(if_written=True)
    # The tap saw the KeyError itself: not shown to anyone.
    rig.assert_no_leaks(tap=False, wire=False)
