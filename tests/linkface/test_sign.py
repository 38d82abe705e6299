"""sign: api_id / api_secret placed in the form or the query string, always as Secret."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kycmux import (
    AttemptContext,
    Check,
    Evidence,
    Secret,
    VendorConfig,
    VendorHooks,
    VendorRequest,
    VendorSpec,
)
from kycmux.exceptions import ConfigError


@pytest.fixture
def unsigned(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    context: AttemptContext,
    make_image: Callable[..., Path],
    data_file: Path,
) -> VendorRequest:
    request: VendorRequest = hooks.build_request(
        vendor=spec,
        checks=frozenset({Check.LIVENESS, Check.FACE_MATCH}),
        evidence=Evidence(selfie=make_image(), liveness_data=data_file),
        config=config,
        context=context,
    )
    return request


def test_form_placement_by_default(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    context: AttemptContext,
    unsigned: VendorRequest,
    credentials: tuple[str, str],
) -> None:
    signed: VendorRequest = hooks.sign(
        vendor=spec, request=unsigned, config=config, context=context
    )
    api_id, api_secret = credentials
    assert signed.fields[:2] == (("api_id", Secret(api_id)), ("api_secret", Secret(api_secret)))
    assert all(isinstance(v, Secret) for _, v in signed.fields[:2])
    assert signed.fields[2:] == unsigned.fields
    assert signed.params == ()
    assert signed.files == unsigned.files
    assert unsigned.field("api_id") is None  # the unsigned value is untouched


def test_query_placement_as_in_the_curl_sample(
    hooks: VendorHooks,
    spec: VendorSpec,
    make_config: Callable[..., VendorConfig],
    context: AttemptContext,
    unsigned: VendorRequest,
    credentials: tuple[str, str],
) -> None:
    config = make_config(credentials_in="query")
    signed: VendorRequest = hooks.sign(
        vendor=spec, request=unsigned, config=config, context=context
    )
    api_id, api_secret = credentials
    assert signed.params == (("api_id", Secret(api_id)), ("api_secret", Secret(api_secret)))
    assert signed.field("api_id") is None
    assert signed.field("api_secret") is None


def test_signing_again_replaces_and_moves_credentials(
    hooks: VendorHooks,
    spec: VendorSpec,
    make_config: Callable[..., VendorConfig],
    context: AttemptContext,
    unsigned: VendorRequest,
) -> None:
    form = hooks.sign(vendor=spec, request=unsigned, config=make_config(), context=context)
    twice = hooks.sign(vendor=spec, request=form, config=make_config(), context=context)
    assert [k for k, _ in twice.fields].count("api_secret") == 1
    moved = hooks.sign(
        vendor=spec, request=twice, config=make_config(credentials_in="query"), context=context
    )
    assert moved.field("api_id") is None
    assert [k for k, _ in moved.params] == ["api_id", "api_secret"]


def test_secrets_never_show_in_reprs(
    hooks: VendorHooks,
    spec: VendorSpec,
    config: VendorConfig,
    context: AttemptContext,
    unsigned: VendorRequest,
    credentials: tuple[str, str],
) -> None:
    signed = hooks.sign(vendor=spec, request=unsigned, config=config, context=context)
    text = repr(signed) + str(signed) + repr(signed.fields) + repr(config)
    assert credentials[0] not in text
    assert credentials[1] not in text


def test_plain_config_values_are_wrapped(
    hooks: VendorHooks, spec: VendorSpec, context: AttemptContext, unsigned: VendorRequest
) -> None:
    config = VendorConfig("linkface", spec.default_base_url, {"api_id": "i", "api_secret": "s"})
    signed = hooks.sign(vendor=spec, request=unsigned, config=config, context=context)
    assert signed.fields[:2] == (("api_id", Secret("i")), ("api_secret", Secret("s")))


@pytest.mark.parametrize("values", [{"api_id": "i"}, {"api_id": "i", "api_secret": ""}])
def test_missing_credentials_are_config_errors(
    hooks: VendorHooks,
    spec: VendorSpec,
    context: AttemptContext,
    unsigned: VendorRequest,
    values: dict[str, str],
) -> None:
    config = VendorConfig("linkface", spec.default_base_url, values)
    with pytest.raises(ConfigError, match=r"vendors\.linkface\.api_secret"):
        hooks.sign(vendor=spec, request=unsigned, config=config, context=context)
