"""The conformance suite a vendor plugin's tests subclass: one named test per promise.

Everything runs through real hooks in a real ``PluginHost`` (the engine's host), and the
end-to-end items through an ``Engine`` calling the vendor's own simulator over loopback.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import (
    AttemptContext,
    Check,
    CheckAnswer,
    Classification,
    Evidence,
    Outcome,
    PluginHost,
    RawScore,
    ScoreKind,
    Secret,
    VendorConfig,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import InvalidEvidenceError, ProtocolError
from kycmux.simkit import RunningSimulator
from kycmux.synthetic import DemoSet
from kycmux.testing._crash import CRASH_MESSAGE, crashing, implemented_hooks
from kycmux.testing._fuzz import assert_trustworthy, mangled
from kycmux.testing._samples import (
    RefusalSample,
    declared_forms,
    genuine_evidence,
    undeclared_forms,
)
from kycmux.testing.pytest_plugin import EngineFactory

__all__ = ["VendorConformance"]

UNDOCUMENTED_CODE = "kycmux-undocumented-7321"
SUBJECT_CANARY = "kycmux-subject-canary-5d1b"
# Every hook a vendor call runs; classify_error is reached through a vendor error answer.
_CRASHABLE = ("build_request", "sign", "parse", "classify_error", "normalize_score")


def _context(nonces: Iterator[int] | None = None) -> AttemptContext:
    if nonces is None:
        return AttemptContext("kit-0001")
    return AttemptContext("kit-0001", randbelow=lambda n: next(nonces) % n)


def _revealed(request: VendorRequest) -> list[tuple[str, str]]:
    values = [*request.params, *request.fields, *request.headers]
    return [(k, v.reveal() if isinstance(v, Secret) else v) for k, v in values]


class VendorConformance:
    """Subclass it in your plugin's tests, naming the vendor::

        from kycmux.testing import VendorConformance

        class TestMyVendor(VendorConformance):
            vendor = "myvendor"

    Override ``genuine_evidence`` (evidence the simulator accepts for every check),
    ``refusals`` (evidence your limits refuse), or the ``kycmux_plugin`` fixture (a plugin that
    is not installed). Every check is one method, so a new one is one more method.
    """

    vendor: ClassVar[str]
    #: Examples Hypothesis tries per fuzzed answer test.
    fuzz_examples: ClassVar[int] = 200

    @pytest.fixture(scope="class")
    @classmethod
    def kycmux_vendor(cls) -> str:
        return cls.vendor

    # -- what a subclass may override ------------------------------------------------------

    def genuine_evidence(self, demo: DemoSet) -> Evidence:
        """A capture every check of the vendor passes on (default: the demo subject's)."""
        return genuine_evidence(demo)

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
        request = host.hooks_for(spec.name).build_request(
            vendor=spec,
            checks=frozenset(checks),
            evidence=evidence,
            config=config,
            context=_context(),
        )
        assert isinstance(request, VendorRequest), f"build_request returned {request!r}"
        return request

    # -- the spec --------------------------------------------------------------------------

    def test_spec_is_valid(self, kycmux_host: PluginHost, kycmux_spec: VendorSpec) -> None:
        assert not kycmux_host.failures, kycmux_host.failures
        assert kycmux_spec.name == self.vendor
        for score in kycmux_spec.scores:
            assert score.check in kycmux_spec.checks, f"{score.name} decides an unoffered check"
            assert score.low < score.high, f"{score.name}: low must be below high"
        for field in kycmux_spec.config_fields:
            if field.default is not None:
                assert isinstance(field.default, field.type), f"{field.name}: default's type"
        assert kycmux_spec.simulator is not None, "declare a simulator in the spec"
        assert kycmux_spec.codes is not None, "declare the vendor's codes (VendorSpec.codes)"

    # -- build -----------------------------------------------------------------------------

    def test_builds_from_every_declared_form(
        self,
        kycmux_host: PluginHost,
        kycmux_spec: VendorSpec,
        kycmux_config: Any,
        kycmux_demo: DemoSet,
    ) -> None:
        config = self._vendor_config(kycmux_config, self.vendor)
        samples = list(declared_forms(kycmux_spec, kycmux_demo))
        for sample in samples:
            request = self._build(kycmux_host, kycmux_spec, config, {sample.check}, sample.evidence)
            assert request.vendor == self.vendor
            assert sample.check in request.checks, f"{sample.check} not served by the request"
            assert request.url.startswith(config.base_url), "requests go to the configured URL"

    def test_invalid_evidence_refused_before_sending(
        self,
        kycmux_host: PluginHost,
        kycmux_spec: VendorSpec,
        kycmux_config: Any,
        kycmux_demo: DemoSet,
        kycmux_simulator: RunningSimulator,
    ) -> None:
        config = self._vendor_config(kycmux_config, self.vendor)
        served = kycmux_simulator.app.stats.total
        for sample in self.refusals(kycmux_spec, kycmux_demo):
            with pytest.raises(InvalidEvidenceError) as refused:
                self._build(kycmux_host, kycmux_spec, config, {sample.check}, sample.evidence)
            assert refused.value.field == sample.field, f"{sample.why}: names the wrong field"
        assert kycmux_simulator.app.stats.total == served, "nothing is sent for bad evidence"

    # -- sign ------------------------------------------------------------------------------

    def test_signing_anew_replaces_credentials_and_nonce(
        self,
        kycmux_host: PluginHost,
        kycmux_spec: VendorSpec,
        kycmux_config: Any,
        kycmux_demo: DemoSet,
    ) -> None:
        config = self._vendor_config(kycmux_config, self.vendor)
        sign = kycmux_host.hooks_for(self.vendor).sign
        evidence = self.genuine_evidence(kycmux_demo)
        asked: list[int] = []

        def nonces() -> Iterator[int]:
            while True:
                asked.append(len(asked))
                yield 1_000_003 * len(asked)

        source = nonces()
        for offer in kycmux_spec.offers:
            request = self._build(kycmux_host, kycmux_spec, config, {offer.check}, evidence)
            once = sign(
                vendor=kycmux_spec, request=request, config=config, context=_context(source)
            )
            twice = sign(vendor=kycmux_spec, request=once, config=config, context=_context(source))
            assert isinstance(once, VendorRequest), f"sign returned {once!r}"
            assert isinstance(twice, VendorRequest), f"sign returned {twice!r}"
            names = sorted(k for k, _ in _revealed(once))
            assert sorted(k for k, _ in _revealed(twice)) == names, "re-signing must replace"
            if asked:
                assert _revealed(once) != _revealed(twice), "a new nonce gives a new signature"
            plain = {
                v for _, v in [*once.params, *once.fields, *once.headers] if isinstance(v, str)
            }
            for value in config.values.values():
                if isinstance(value, Secret):
                    assert value.reveal() not in plain, "credentials travel as Secret values"

    # -- classify --------------------------------------------------------------------------

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

    def test_every_documented_code_is_classified(
        self, kycmux_host: PluginHost, kycmux_spec: VendorSpec
    ) -> None:
        assert kycmux_spec.codes is not None, "declare the vendor's codes (VendorSpec.codes)"
        for row in kycmux_spec.codes.codes:
            result = self._failed(kycmux_spec, row.code, row.check, row.http_status, row.message)
            got = self._classify(kycmux_host, kycmux_spec, result=result, check=row.check)
            assert (got.error_class, got.capture_issue) == (row.error_class, row.capture_issue), (
                f"code {row.code!r} ({row.check}): {got}"
            )

    def test_unknown_codes_get_the_declared_default(
        self, kycmux_host: PluginHost, kycmux_spec: VendorSpec
    ) -> None:
        assert kycmux_spec.codes is not None, "declare the vendor's codes (VendorSpec.codes)"
        for default in kycmux_spec.codes.defaults:
            result = self._failed(
                kycmux_spec, UNDOCUMENTED_CODE, default.check, default.http_status, ""
            )
            got = self._classify(kycmux_host, kycmux_spec, result=result, check=default.check)
            assert (got.error_class, got.capture_issue) == (
                default.error_class,
                default.capture_issue,
            ), f"unknown code ({default.check}, HTTP {default.http_status}): {got}"

    # -- parse -----------------------------------------------------------------------------

    def _exchange(
        self,
        host: PluginHost,
        spec: VendorSpec,
        config: VendorConfig,
        evidence: Evidence,
    ) -> tuple[VendorRequest, VendorResponse]:
        import httpx

        from kycmux import HttpClient

        request = self._build(host, spec, config, _one_operation(spec), evidence)
        signed = host.hooks_for(spec.name).sign(
            vendor=spec, request=request, config=config, context=_context()
        )
        with httpx.Client() as client:
            sent = HttpClient.wrap(client).send(signed, 30.0)
        assert sent.response is not None, f"the simulator did not answer: {sent.error!r}"
        return signed, sent.response

    def test_malformed_answer_is_never_a_pass(
        self,
        kycmux_host: PluginHost,
        kycmux_spec: VendorSpec,
        kycmux_config: Any,
        kycmux_demo: DemoSet,
        kycmux_simulator: RunningSimulator,
    ) -> None:
        config = self._vendor_config(kycmux_config, self.vendor)
        evidence = self.genuine_evidence(kycmux_demo)
        request, genuine = self._exchange(kycmux_host, kycmux_spec, config, evidence)
        parse = kycmux_host.hooks_for(self.vendor).parse
        # A plugin refusing every answer would pass the fuzzing: the genuine one must read.
        read = parse(vendor=kycmux_spec, request=request, response=genuine, config=config)
        assert read.ok, f"the simulator's genuine answer reads as failed: {read.code}"
        assert set(read.answers) == set(request.checks), "an answer for every check asked"

        @settings(
            max_examples=self.fuzz_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        )
        @given(body=mangled(genuine.body), status=st.sampled_from([genuine.status_code, 200]))
        def check(body: bytes, status: int) -> None:
            response = VendorResponse(status, dict(genuine.headers), body)
            try:
                result = parse(
                    vendor=kycmux_spec, request=request, response=response, config=config
                )
            except ProtocolError:
                return
            assert isinstance(result, VendorResult)
            assert_trustworthy(kycmux_spec, request, result)

        check()

    # -- scores ----------------------------------------------------------------------------

    def test_scores_are_monotone_in_the_declared_direction(
        self, kycmux_host: PluginHost, kycmux_spec: VendorSpec
    ) -> None:
        normalize = kycmux_host.hooks_for(self.vendor).normalize_score
        for spec in kycmux_spec.scores:
            steps = [spec.low + (spec.high - spec.low) * i / 64 for i in range(65)]
            fars = []
            for value in steps:
                score = normalize(
                    vendor=kycmux_spec, check=spec.check, raw=RawScore(spec.name, value)
                )
                assert score.kind is spec.kind, spec.name
                assert score.raw == value, spec.name
                assert (score.far is None) == (spec.calibration is None), spec.name
                fars.append(score.far)
            if spec.calibration is None:
                continue
            ordered = fars if spec.kind is ScoreKind.SIMILARITY else fars[::-1]
            assert all(a >= b for a, b in itertools.pairwise(ordered)), spec.name

    def test_calibration_points_are_ordered(self, kycmux_spec: VendorSpec) -> None:
        for spec in kycmux_spec.scores:
            if spec.recommended_threshold is not None:
                assert spec.in_range(spec.recommended_threshold), f"{spec.name}: threshold range"
            if spec.calibration is None:
                continue
            raws = [raw for raw, _ in spec.calibration.points]
            fars = [far for _, far in spec.calibration.points]
            assert raws == sorted(set(raws)), f"{spec.name}: thresholds ascending"
            assert all(spec.in_range(raw) for raw in raws), f"{spec.name}: points in range"
            assert fars == sorted(fars, reverse=True), f"{spec.name}: FARs descending"
            assert all(0 < f <= 1 for f in fars), f"{spec.name}: FARs in (0, 1]"

    # -- end to end ------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_genuine_capture_is_accepted(
        self, kycmux_engine: EngineFactory, kycmux_demo: DemoSet
    ) -> None:
        async with kycmux_engine() as engine:
            decision = await engine.verify(self.genuine_evidence(kycmux_demo))
        assert decision.outcome is Outcome.ACCEPT, decision.record.explanation

    @pytest.mark.anyio
    async def test_no_secret_or_personal_value_in_records(
        self,
        kycmux_engine: EngineFactory,
        kycmux_demo: DemoSet,
        kycmux_config: Any,
        kycmux_faults: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        evidence = attrs.evolve(self.genuine_evidence(kycmux_demo), subject_id=SUBJECT_CANARY)
        caplog.set_level(logging.DEBUG)
        async with kycmux_engine() as engine:
            decisions = [await engine.verify(evidence)]
            # The failure path too: the vendor's own error answer, classified and recorded.
            kycmux_faults.inject("vendor_error")
            decisions.append(await engine.verify(evidence))
        canaries = _canaries(evidence, self._vendor_config(kycmux_config, self.vendor))
        canaries["evidence folder"] = str(kycmux_demo.directory)
        seen = "\n".join(
            [
                *(json.dumps(d.record.to_dict(), ensure_ascii=False) for d in decisions),
                *(repr(d) for d in decisions),
                repr(evidence),
                caplog.text,
            ]
        )
        leaked = [name for name, value in canaries.items() if value in seen]
        assert not leaked, f"found in records, reprs or logs: {leaked}"

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", _CRASHABLE)
    async def test_crash_in_a_hook_is_a_plugin_error(
        self,
        hook: str,
        kycmux_engine: EngineFactory,
        kycmux_plugin: object,
        kycmux_spec: VendorSpec,
        kycmux_demo: DemoSet,
        kycmux_faults: Any,
    ) -> None:
        if hook not in implemented_hooks(kycmux_plugin):
            pytest.skip(f"the plugin does not implement {hook}")
        if hook == "normalize_score" and not kycmux_spec.scores:
            pytest.skip("the vendor declares no scores")
        host = PluginHost()
        assert host.register(crashing(kycmux_plugin, hook), self.vendor), host.failures
        if hook == "classify_error":
            kycmux_faults.inject("vendor_error")  # classify_error is asked about failures only
        async with kycmux_engine(host=host) as engine:
            decision = await engine.verify(self.genuine_evidence(kycmux_demo))
            stats = await engine.breaker_stats(self.vendor)
        record = decision.record.to_dict()
        attempts = [a for a in record["attempts"] if a["vendor"] == self.vendor]
        blamed = [a.get("plugin") for a in attempts] + [s.get("plugin") for s in record["skipped"]]
        assert blamed, record
        assert all(p and p["hook"] == hook for p in blamed), record
        assert all(a["error_class"] == "plugin_error" for a in attempts), record
        assert len(attempts) == len({a["operation"] for a in attempts}), "never retried"
        assert decision.outcome is not Outcome.ACCEPT
        assert stats.failures == 0, "a plugin's bug is never held against the vendor"
        assert CRASH_MESSAGE not in json.dumps(decision.record.to_dict())


def _one_operation(spec: VendorSpec) -> frozenset[Check]:
    """Every check served by the first offer's operation (one request serves them all)."""
    operation = spec.offers[0].operation
    return frozenset(o.check for o in spec.offers if o.operation == operation)


def _canaries(evidence: Evidence, config: VendorConfig) -> dict[str, str]:
    found = {
        "id_number": evidence.id_number,
        "id_name": evidence.id_name,
        "subject_id": evidence.subject_id,
    }
    for value in config.values.values():
        if isinstance(value, Secret):
            found[f"secret:{len(found)}"] = value.reveal()
    return {k: v for k, v in found.items() if v}
