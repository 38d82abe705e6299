"""What the conformance suite stands on: the overridable parts and the helpers that drive a
vendor's hooks, its simulator and an engine, apart from the tests themselves."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import attrs
import pytest

from kycmux import (
    AttemptContext,
    Challenge,
    Check,
    CheckAnswer,
    Classification,
    Engine,
    Evidence,
    PluginHost,
    Secret,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.synthetic import DemoSet
from kycmux.testing._samples import (
    RefusalSample,
    genuine_evidence,
    local_challenge,
    perform_challenge,
    undeclared_forms,
)

__all__ = ["ConformanceHarness", "hook_context", "one_operation", "revealed", "secret_canaries"]


def hook_context(nonces: Iterator[int] | None = None) -> AttemptContext:
    if nonces is None:
        return AttemptContext("kit-0001")
    return AttemptContext("kit-0001", randbelow=lambda n: next(nonces) % n)


def revealed(request: VendorRequest) -> list[tuple[str, str]]:
    values = [*request.params, *request.fields, *request.headers]
    return [(k, v.reveal() if isinstance(v, Secret) else v) for k, v in values]


class ConformanceHarness:
    """The base of ``VendorConformance``: the vendor's name, what a plugin's tests may
    override, and the helpers its tests share."""

    vendor: ClassVar[str]
    #: Examples Hypothesis tries per fuzzed answer test.
    fuzz_examples: ClassVar[int] = 200

    @pytest.fixture(scope="class")
    @classmethod
    def kycmux_vendor(cls) -> str:
        return cls.vendor

    @pytest.fixture
    def anyio_backend(self) -> str:
        # The engine runs on asyncio; older anyio releases parametrize async tests over every
        # backend they know, trio included, whether it is installed or not.
        return "asyncio"

    # -- what a subclass may override ------------------------------------------------------

    def genuine_evidence(self, demo: DemoSet) -> Evidence:
        """A capture every check of the vendor passes on (default: the demo subject's)."""
        return genuine_evidence(demo)

    def perform_challenge(
        self, evidence: Evidence, challenge: Challenge, demo: DemoSet
    ) -> Evidence:
        """``evidence`` performing a challenge the vendor issued (default: the demo video
        re-recorded reading the issued digits); override for another kind of challenge."""
        return perform_challenge(evidence, challenge, demo)

    def refusals(self, spec: VendorSpec, demo: DemoSet) -> Iterable[RefusalSample]:
        """Evidence ``build_request`` must refuse: by default media in a form the spec does
        not declare, and another vendor's media id; add your own limits here."""
        return undeclared_forms(spec, demo)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _vendor_config(config: Any, vendor: str) -> VendorConfig:
        resolved: VendorConfig = config.vendors[vendor]
        return resolved

    def _build(
        self,
        host: PluginHost,
        spec: VendorSpec,
        config: VendorConfig,
        checks: Iterable[Check],
        evidence: Evidence,
    ) -> VendorRequest:
        # Hook tests send nothing, so a challenge "issued" here stands in for the vendor's.
        request = host.hooks_for(spec.name).build_request(
            vendor=spec,
            checks=frozenset(checks),
            evidence=local_challenge(spec, evidence, time.time()),
            config=config,
            context=hook_context(),
        )
        assert isinstance(request, VendorRequest), f"build_request returned {request!r}"
        return request

    def _classify(self, host: PluginHost, spec: VendorSpec, **kwargs: Any) -> Classification:
        classification = host.hooks_for(spec.name).classify_error(
            vendor=spec, **{"result": None, "check": None, "error": None, **kwargs}
        )
        assert isinstance(classification, Classification), f"unclassified: {kwargs}"
        return classification

    def _failed(
        self, spec: VendorSpec, code: str, check: Check | None, http_status: int, message: str
    ) -> VendorResult:
        offer = spec.offer(check) if check is not None else spec.offers[0]
        operation = offer.operation if offer is not None else spec.offers[0].operation
        if check is None:
            return VendorResult(spec.name, operation, http_status, False, code, message)
        answer = CheckAnswer(check, False, code, message)
        return VendorResult(spec.name, operation, http_status, True, "0", answers={check: answer})

    def _exchange(
        self,
        host: PluginHost,
        spec: VendorSpec,
        config: VendorConfig,
        evidence: Evidence,
        demo: DemoSet,
    ) -> tuple[VendorRequest, VendorResponse]:
        import httpx

        from kycmux import HttpClient

        hooks = host.hooks_for(spec.name)
        with httpx.Client() as client:

            def send(request: VendorRequest) -> tuple[VendorRequest, VendorResponse]:
                signed = hooks.sign(
                    vendor=spec, request=request, config=config, context=hook_context()
                )
                sent = HttpClient.wrap(client).send(signed, 30.0)
                assert sent.response is not None, f"the simulator did not answer: {sent.error!r}"
                return signed, sent.response

            if spec.challenge is not None:
                issued_at = time.time()
                asked = hooks.build_challenge_request(
                    vendor=spec, config=config, context=hook_context()
                )
                signed, answer = send(asked)
                challenge = hooks.parse_challenge(
                    vendor=spec, request=signed, response=answer, config=config, issued_at=issued_at
                )
                assert isinstance(challenge, Challenge), f"no challenge issued: {challenge!r}"
                evidence = self.perform_challenge(evidence, challenge, demo)
            return send(self._build(host, spec, config, one_operation(spec), evidence))

    async def _captured(self, engine: Engine, demo: DemoSet, **changes: Any) -> Evidence:
        """The genuine capture, performing a challenge the vendor issues now if it has one."""
        evidence = attrs.evolve(self.genuine_evidence(demo), **changes)
        if engine.host.vendor(self.vendor).challenge is None:
            return evidence
        challenge = await engine.challenge(evidence.subject_id)
        return self.perform_challenge(evidence, challenge, demo)


def one_operation(spec: VendorSpec) -> frozenset[Check]:
    """Every check served by the first offer's operation (one request serves them all)."""
    operation = spec.offers[0].operation
    return frozenset(o.check for o in spec.offers if o.operation == operation)


def secret_canaries(evidence: Evidence, config: VendorConfig) -> dict[str, str]:
    found = {
        "id_number": evidence.id_number,
        "id_name": evidence.id_name,
        "subject_id": evidence.subject_id,
    }
    for value in config.values.values():
        if isinstance(value, Secret):
            found[f"secret:{len(found)}"] = value.reveal()
    return {k: v for k, v in found.items() if v}
