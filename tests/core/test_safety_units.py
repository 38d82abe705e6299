"""Safety fixes in core, proved unit by unit.

- ``max_far`` is a rate in (0, 1) that must lie within each vendor's published calibration,
  unless ``allow_extrapolation`` (#10).
- Smaller leaks: file errors name the file only; reprs mask the subject id, show files by name
  and ``${VAR}`` references instead of their values; no exception chain carries a value that
  failed to convert; empty secrets are refused; a client without TLS checks is detected and
  refused for non-loopback vendors (#13).
- ``SubjectLockout`` counts unusable captures toward ``capture_limit`` (#15).

Each test fails on the code before the fixes (87e08bc). The full canary suite is
``tests/engine/test_canaries_*.py``; these are short and direct.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from kycmux import (
    Check,
    CheckPolicy,
    Config,
    Engine,
    Evidence,
    HttpClient,
    LogLinearCalibration,
    PluginHost,
    Policy,
    Secret,
    VendorConfig,
    VendorSpec,
)
from kycmux.exceptions import ConfigError, InvalidEvidenceError, PolicyError, UnsafeURLError
from kycmux.resilience import InMemoryStateStore, LockoutSettings, SubjectLockout
from kycmux.testing import FakeClock, FakeVendor

CANARY = "not-a-number-canary"
TENCENT = "tencent_legacy"


@pytest.fixture(scope="module")
def vendors() -> Mapping[str, VendorSpec]:
    """The fake vendor ``alpha`` (0.5 → FAR 1e-2, 0.7 → FAR 1e-4) and the installed plugins."""
    host = PluginHost.from_entry_points()
    assert host.register(FakeVendor("alpha"), "alpha")
    assert {TENCENT, "linkface", "alpha"} <= set(host.vendors), host.failures
    return host.vendors


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def tencent(vendors: Mapping[str, VendorSpec], env: Mapping[str, str], **table: Any) -> Config:
    """A Tencent configuration with working secrets, ``table`` added, on ``env``."""
    base = {"appid": "1250000000", "secret_id": "${SID}", "secret_key": "${SKEY}"}
    data = {"vendors": {TENCENT: {**base, **table}}}
    return Config.from_mapping(data, vendors, {"SID": "sid", "SKEY": "skey", **env})


# #10 max_far -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_far", [2, 1, 0, -1e-3, math.nan, math.inf, True])
def test_max_far_must_be_a_rate_in_the_open_unit_interval(max_far: Any) -> None:
    with pytest.raises(PolicyError, match=r"in \(0, 1\)") as info:
        CheckPolicy(("alpha",), max_far=max_far)
    assert info.value.key == "max_far"


@pytest.mark.parametrize("max_far", [1e-5, 0.02])
def test_max_far_outside_the_fake_vendors_table_is_refused(
    vendors: Mapping[str, VendorSpec], max_far: float
) -> None:
    rule = CheckPolicy(("alpha",), max_far=max_far)
    with pytest.raises(PolicyError) as info:
        Policy("p", {Check.FACE_MATCH: rule}).validate(vendors)
    assert info.value.key == "policies.p.face_match.max_far"
    assert "alpha's published range for score (FAR 0.0001 to 0.01)" in info.value.rule
    extrapolating = attrs.evolve(rule, allow_extrapolation=True)
    Policy("p", {Check.FACE_MATCH: extrapolating}).validate(vendors)


def test_the_default_max_far_is_checked_too(vendors: Mapping[str, VendorSpec]) -> None:
    alpha = vendors["alpha"]
    (score,) = alpha.scores
    narrow = LogLinearCalibration(((0.5, 1e-2), (0.6, 1e-3)))
    spec = attrs.evolve(alpha, scores=(attrs.evolve(score, calibration=narrow),))
    with pytest.raises(PolicyError, match=r"the default max_far 0\.0001 is outside"):
        Policy("p", {Check.FACE_MATCH: CheckPolicy(("alpha",))}).validate({"alpha": spec})
    # The implicit policy (no policy written) picks the nearest published FAR instead.
    implicit = Policy.default({"alpha": spec}, ["alpha"]).validate({"alpha": spec})
    assert implicit.checks[Check.FACE_MATCH].max_far == 1e-3


def test_tencent_refuses_max_far_below_its_published_table(
    vendors: Mapping[str, VendorSpec],
) -> None:
    table = {"face_match": {"vendors": [TENCENT], "max_far": 1e-6}}
    with pytest.raises(PolicyError) as info:
        Policy.from_table("strict", table).validate(vendors)
    assert info.value.key == "policies.strict.face_match.max_far"
    assert "0.0001 to 0.001" in info.value.rule
    table["face_match"]["allow_extrapolation"] = True
    Policy.from_table("strict", table).validate(vendors)
    # The default 1e-4 lies within both real vendors' tables.
    both = Policy.from_table("p", {"face_match": {"vendors": [TENCENT, "linkface"]}})
    both.validate(vendors)
    for name in (TENCENT, "linkface"):
        (score,) = vendors[name].scores_for(Check.FACE_MATCH)
        assert both.threshold(vendors[name], Check.FACE_MATCH, score).max_far == 1e-4


# #13 smaller leaks -------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [False, True])
def test_evidence_file_errors_name_the_file_only(tmp_path: Path, empty: bool) -> None:
    folder = tmp_path / "secret-dir"
    folder.mkdir()
    if empty:
        (folder / "x.png").touch()
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(selfie=folder / "x.png")
    assert "x.png" in str(info.value)
    for exc in chain(info.value):
        assert "secret-dir" not in f"{exc} {exc.args!r}"


def test_evidence_repr_masks_the_subject_and_shows_files_by_name(png_file: Path) -> None:
    evidence = Evidence(
        selfie=png_file,
        subject_id="customer-4711-zhang",
        id_number="11010519491231002X",
        id_name="张三丰",
    )
    shown = repr(evidence)
    for hidden in ("4711", "19491231", "三丰", str(png_file.parent)):
        assert hidden not in shown
    assert "'photo.png'" in shown


def test_a_value_that_fails_to_convert_is_in_no_exception_chain(
    vendors: Mapping[str, VendorSpec],
) -> None:
    with pytest.raises(ConfigError) as info:
        tencent(vendors, {"TTL": CANARY}, signature_ttl="${TTL}")
    assert info.value.key == f"vendors.{TENCENT}.signature_ttl"
    for exc in chain(info.value):
        assert CANARY not in f"{exc} {exc.args!r}"
    assert info.value.__context__ is None


def test_a_name_that_is_not_utf8_is_in_no_exception_chain() -> None:
    name = "张".encode() + b"\xff" + CANARY.encode()
    with pytest.raises(InvalidEvidenceError) as info:
        Evidence(id_name=name)
    assert info.value.field == "id_name"
    for exc in chain(info.value):
        assert CANARY not in f"{exc} {exc.args!r}"
    assert info.value.__context__ is None


@pytest.mark.parametrize("key", ["secret_id", "secret_key"])
def test_an_empty_variable_is_refused_for_a_secret_field(
    vendors: Mapping[str, VendorSpec], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        tencent(vendors, {"EMPTY": ""}, **{key: "${EMPTY}"})
    assert info.value.key == f"vendors.{TENCENT}.{key}"
    assert "EMPTY is empty" in info.value.rule
    # A plain string field may be empty.
    assert tencent(vendors, {"EMPTY": ""}, bucket="${EMPTY}").vendors[TENCENT]["bucket"] == ""


def test_an_empty_variable_is_refused_for_the_record_key() -> None:
    data = {"engine": {"record_key": "${EMPTY}"}}
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(data, {}, {"EMPTY": ""})
    assert info.value.key == "engine.record_key"


def test_vendor_config_repr_shows_references_not_values(
    vendors: Mapping[str, VendorSpec],
) -> None:
    env = {"APPID": "appid-canary-77", "TTL": "120"}
    config = tencent(vendors, env, appid="${APPID}", signature_ttl="${TTL}")
    vendor = config.vendors[TENCENT]
    assert (vendor["appid"], vendor["signature_ttl"]) == ("appid-canary-77", 120)
    shown = repr(vendor)
    assert "appid-canary-77" not in shown
    assert "'appid': '${APPID}'" in shown
    assert "'secret_key': '${SKEY}'" in shown


def fake_config(base_url: str) -> tuple[PluginHost, Config]:
    host = PluginHost()
    host.register(FakeVendor("alpha", base_url=base_url), "alpha")
    vendor = VendorConfig("alpha", base_url, {"token": Secret("t")})
    return host, Config(vendors={"alpha": vendor})


def test_a_client_without_tls_checks_is_only_for_loopback_vendors() -> None:
    with httpx.Client(verify=False) as client:  # noqa: S501 - the client under test
        unchecked = HttpClient.wrap(client)
        assert unchecked.tls_verified is False
        host, config = fake_config("https://api.example.com")
        with pytest.raises(UnsafeURLError, match="does not verify TLS certificates"):
            Engine.from_config(config, host=host, http=unchecked, record_key=b"k")
        host, config = fake_config("http://127.0.0.1:8001")
        Engine.from_config(config, host=host, http=unchecked, record_key=b"k").close()
    with httpx.Client() as client:
        assert HttpClient.wrap(client).tls_verified is True
    default = HttpClient.create()
    assert default.tls_verified is True
    default.close()


@pytest.mark.anyio
async def test_an_aiohttp_client_without_tls_checks_is_detected() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport(verify=False)) as client:
        assert HttpClient.wrap(async_client=client).tls_verified is False
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        assert HttpClient.wrap(async_client=client).tls_verified is True
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=lax))
    async with httpx.AsyncClient(transport=AiohttpTransport(client=session)) as client:
        assert HttpClient.wrap(async_client=client).tls_verified is False
    await session.close()


# #15 SubjectLockout counts unusable captures -----------------------------------------------

SUBJECT = "11010519491231002X"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lockout(clock: FakeClock) -> SubjectLockout:
    return SubjectLockout(LockoutSettings(), clock, InMemoryStateStore(clock), hash_key=b"k" * 32)


def captures(lockout: SubjectLockout, times: int) -> list[float | None]:
    return [lockout.record_capture_failure(SUBJECT) for _ in range(times)]


def test_capture_limit_defaults_to_ten_and_must_be_positive() -> None:
    assert LockoutSettings().capture_limit == 10
    with pytest.raises((TypeError, ValueError)):
        LockoutSettings(capture_limit=0)


def test_the_tenth_capture_locks_with_its_own_reason(lockout: SubjectLockout) -> None:
    assert captures(lockout, 9) == [None] * 9
    assert lockout.lock(SUBJECT) is None
    assert lockout.failures(SUBJECT) == 0  # not definitive failures
    assert lockout.record_capture_failure(SUBJECT) == 900.0
    lock = lockout.lock(SUBJECT)
    assert lock is not None
    assert lock.reason == "capture_retries"  # a LockReason
    assert lockout.check(SUBJECT) == 900.0


def test_definitive_failures_lock_with_theirs(lockout: SubjectLockout) -> None:
    captures(lockout, 9)
    for _ in range(5):
        lockout.record_failure(SUBJECT)
    lock = lockout.lock(SUBJECT)
    assert lock is not None
    assert lock.reason == "definitive_failures"


def test_success_and_unlock_reset_the_capture_count(lockout: SubjectLockout) -> None:
    captures(lockout, 9)
    lockout.record_success(SUBJECT)
    assert captures(lockout, 9) == [None] * 9
    lockout.unlock(SUBJECT)
    assert captures(lockout, 9) == [None] * 9
    assert lockout.record_capture_failure(SUBJECT) == 900.0


def test_capture_counts_expire_after_the_cooldown(
    lockout: SubjectLockout, clock: FakeClock
) -> None:
    captures(lockout, 9)
    clock.advance(900.0)
    assert captures(lockout, 9) == [None] * 9
    clock.advance(899.0)  # within the cool-down of the last one: it still counts
    assert lockout.record_capture_failure(SUBJECT) == 900.0
