"""The legacy HMAC-SHA1 signature: pinned vectors, fresh values per attempt, round trip."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from kycmux import AttemptContext, Check, Secret, VendorConfig, VendorHooks, VendorRequest, reveal
from kycmux.exceptions import ConfigError
from kycmux_tencent_legacy._sign import (
    MalformedSignature,
    SignatureFields,
    digest_matches,
    signature,
    split_signature,
)

# Fixed clock 1_700_000_000, nonce 1_234_567_890, ttl 60 (the fixtures' values).
PINNED = (
    "eat21tKcCABlIrunl80nTveZmvdhPTEyNTAwMDAwMDAmYj0maz1BS0lEa3ljbXV4RVhBTVBMRSZlPTE3MDAwMDAwNjAm"
    "dD0xNzAwMDAwMDAwJnI9MTIzNDU2Nzg5MCZmPQ=="
)


def _request() -> VendorRequest:
    return VendorRequest(
        "tencent_legacy", "livedetectfour", frozenset({Check.LIVENESS}), "POST", "https://x/y"
    )


def _authorization(request: VendorRequest) -> str | Secret:
    values = [v for k, v in request.headers if k == "Authorization"]
    assert len(values) == 1
    return values[0]


def _sign(hooks: VendorHooks, spec: object, config: VendorConfig, ctx: AttemptContext) -> str:
    signed = hooks.sign(vendor=spec, request=_request(), config=config, context=ctx)
    value = _authorization(signed)
    assert isinstance(value, Secret)  # never a plain string in the request value
    return str(reveal(value))


def test_signature_matches_an_independent_computation(
    hooks: VendorHooks, spec: object, config: VendorConfig, context: AttemptContext
) -> None:
    original = b"a=1250000000&b=&k=AKIDkycmuxEXAMPLE&e=1700000060&t=1700000000&r=1234567890&f="
    digest = hmac.new(b"kycmux-example-key", original, hashlib.sha1).digest()
    expected = base64.b64encode(digest + original).decode()
    assert _sign(hooks, spec, config, context) == expected


def test_signature_matches_the_pinned_literal(
    hooks: VendorHooks, spec: object, config: VendorConfig, context: AttemptContext
) -> None:
    assert _sign(hooks, spec, config, context) == PINNED


def test_bucket_and_ttl_go_into_the_original_string(
    hooks: VendorHooks,
    spec: object,
    make_config: Callable[..., VendorConfig],
    context: AttemptContext,
) -> None:
    config = make_config(bucket="faces", signature_ttl=300)
    _, fields = split_signature(_sign(hooks, spec, config, context))
    assert fields.original() == (
        "a=1250000000&b=faces&k=AKIDkycmuxEXAMPLE&e=1700000300&t=1700000000&r=1234567890&f="
    )


def test_every_attempt_gets_a_fresh_time_and_nonce(
    hooks: VendorHooks, spec: object, config: VendorConfig
) -> None:
    clock = iter([1_700_000_000.0, 1_700_000_001.0])
    nonces = iter([17, 42])
    bounds: list[int] = []

    def randbelow(n: int) -> int:
        bounds.append(n)
        return next(nonces)

    ctx = AttemptContext("req", now=lambda: next(clock), randbelow=randbelow)
    first = split_signature(_sign(hooks, spec, config, ctx))[1]
    second = split_signature(_sign(hooks, spec, config, ctx))[1]
    assert (first.now, first.rand, first.expires) == (1_700_000_000, 17, 1_700_000_060)
    assert (second.now, second.rand, second.expires) == (1_700_000_001, 42, 1_700_000_061)
    assert bounds == [10**10, 10**10]  # at most 10 digits, from the context's generator


def test_default_context_uses_the_real_clock_and_csprng(
    hooks: VendorHooks, spec: object, config: VendorConfig
) -> None:
    values = {_sign(hooks, spec, config, AttemptContext("req")) for _ in range(5)}
    assert len(values) == 5


def test_signature_verifies_with_the_right_key_only(
    hooks: VendorHooks, spec: object, config: VendorConfig, context: AttemptContext
) -> None:
    value = _sign(hooks, spec, config, context)
    assert digest_matches(value, "kycmux-example-key")
    assert not digest_matches(value, "another-key")


def test_secret_values_never_show_in_reprs(
    hooks: VendorHooks, spec: object, config: VendorConfig, context: AttemptContext
) -> None:
    signed = hooks.sign(vendor=spec, request=_request(), config=config, context=context)
    shown = repr(signed) + repr(config) + repr(split_signature(PINNED)[1])
    assert "kycmux-example-key" not in shown
    assert "AKIDkycmuxEXAMPLE" not in shown
    assert PINNED not in shown


@pytest.mark.parametrize("ttl", [0, -5, 90 * 24 * 3600 + 1])
def test_signature_ttl_out_of_range_is_a_config_error(
    hooks: VendorHooks,
    spec: object,
    make_config: Callable[..., VendorConfig],
    context: AttemptContext,
    ttl: int,
) -> None:
    with pytest.raises(ConfigError, match="signature_ttl"):
        hooks.sign(vendor=spec, request=_request(), config=make_config(signature_ttl=ttl),
                   context=context)  # fmt: skip


def test_fields_round_trip_through_the_original_string() -> None:
    fields = SignatureFields("123456", "b1", "AKID", 1700000060, 1700000000, 9999999999, "f1")
    assert SignatureFields.from_original(fields.original()) == fields
    assert split_signature(signature(fields, "k"))[1] == fields


@pytest.mark.parametrize(
    "value",
    [
        "FCHXdPTEwMDAwMzc5Jms9QUtJRGVRZDBrRU1yM2J4ZjhRckJi==",  # the documents' sample
        "not base64 at all!",
        base64.b64encode(b"x" * 20).decode(),  # digest only
        base64.b64encode(b"x" * 20 + b"a=1&b=&k=2&e=3&t=4&r=5").decode(),  # f missing
        base64.b64encode(b"x" * 20 + b"a=1&b=&k=2&e=x&t=4&r=5&f=").decode(),  # e not a number
        base64.b64encode(b"x" * 20 + b"a=1&b=&k=2&e=3&t=4&r=12345678901&f=").decode(),  # r > 10
        base64.b64encode(b"x" * 20 + b"b=1&a=&k=2&e=3&t=4&r=5&f=").decode(),  # order
        base64.b64encode(b"x" * 20 + b"\xff\xfe").decode(),  # not ASCII
    ],
)
def test_malformed_signatures_are_recognised(value: str) -> None:
    with pytest.raises(MalformedSignature):
        split_signature(value)
