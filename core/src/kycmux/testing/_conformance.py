"""The conformance suite a vendor plugin's tests subclass: one named test per promise.

Everything runs through real hooks in a real ``PluginHost`` (the engine's host), and the
end-to-end items through an ``Engine`` calling the vendor's own simulator over loopback.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kycmux import (
    Outcome,
    PluginHost,
    RawScore,
    ScoreKind,
    Secret,
    VendorRequest,
    VendorResponse,
    VendorResult,
    VendorSpec,
)
from kycmux.exceptions import ChallengeUnavailableError, InvalidEvidenceError, ProtocolError
from kycmux.simkit import RunningSimulator
from kycmux.synthetic import DemoSet
from kycmux.testing._crash import CRASH_MESSAGE, crashing, implemented_hooks
from kycmux.testing._fuzz import assert_trustworthy, mangled
from kycmux.testing._harness import (
    ConformanceHarness,
    hook_context,
    revealed,
    secret_canaries,
)
from kycmux.testing._samples import (
    declared_forms,
)
from kycmux.testing.pytest_plugin import EngineFactory

__all__ = ["VendorConformance"]

UNDOCUMENTED_CODE = "kycmux-undocumented-7321"
SUBJECT_CANARY = "kycmux-subject-canary-5d1b"
# Every hook a vendor call runs; classify_error is reached through a vendor error answer.
_CRASHABLE = ("build_request", "sign", "parse", "classify_error", "normalize_score")
# The hooks issuing a challenge (a vendor whose spec declares one).
_CHALLENGE_HOOKS = ("build_challenge_request", "parse_challenge")


class VendorConformance(ConformanceHarness):
    """Subclass it in your plugin's tests, naming the vendor::

        from kycmux.testing import VendorConformance

        class TestMyVendor(VendorConformance):
            vendor = "myvendor"

    Override ``genuine_evidence`` (evidence the simulator accepts for every check),
    ``refusals`` (evidence your limits refuse), or the ``kycmux_plugin`` fixture (a plugin that
    is not installed). Every check is one method, so a new one is one more method.
    """

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
                vendor=kycmux_spec, request=request, config=config, context=hook_context(source)
            )
            twice = sign(
                vendor=kycmux_spec, request=once, config=config, context=hook_context(source)
            )
            assert isinstance(once, VendorRequest), f"sign returned {once!r}"
            assert isinstance(twice, VendorRequest), f"sign returned {twice!r}"
            names = sorted(k for k, _ in revealed(once))
            assert sorted(k for k, _ in revealed(twice)) == names, "re-signing must replace"
            if asked:
                assert revealed(once) != revealed(twice), "a new nonce gives a new signature"
            plain = {
                v for _, v in [*once.params, *once.fields, *once.headers] if isinstance(v, str)
            }
            for value in config.values.values():
                if isinstance(value, Secret):
                    assert value.reveal() not in plain, "credentials travel as Secret values"

    # -- classify --------------------------------------------------------------------------

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
        request, genuine = self._exchange(kycmux_host, kycmux_spec, config, evidence, kycmux_demo)
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
            decision = await engine.verify(await self._captured(engine, kycmux_demo))
        assert decision.outcome is Outcome.ACCEPT, decision.record.explanation

    # -- challenges (a vendor whose spec declares one) -------------------------------------

    @pytest.mark.anyio
    async def test_challenge_is_issued_recorded_and_single_use(
        self, kycmux_engine: EngineFactory, kycmux_demo: DemoSet, kycmux_spec: VendorSpec
    ) -> None:
        if kycmux_spec.challenge is None:
            pytest.skip("the vendor declares no challenge")
        async with kycmux_engine() as engine:
            evidence = await self._captured(engine, kycmux_demo)
            first = await engine.verify(evidence)
            replayed = await engine.verify(evidence)
        assert first.outcome is Outcome.ACCEPT, first.record.explanation
        audit = first.record.to_dict()["challenge"]
        assert audit["source"] == "vendor", audit
        assert audit["vendor"] == self.vendor, audit
        assert "value" not in audit, "a record never keeps what was performed"
        assert replayed.outcome is not Outcome.ACCEPT, "a challenge is honoured once"

    def test_caller_chosen_values_need_the_opt_in(
        self,
        kycmux_host: PluginHost,
        kycmux_spec: VendorSpec,
        kycmux_config: Any,
        kycmux_demo: DemoSet,
    ) -> None:
        if kycmux_spec.challenge is None:
            pytest.skip("the vendor declares no challenge")
        config = self._vendor_config(kycmux_config, self.vendor)
        evidence = self.genuine_evidence(kycmux_demo)
        assert evidence.digits is not None, "the genuine capture carries the digits it read"
        checks = frozenset(kycmux_spec.challenge.checks)
        with pytest.raises(InvalidEvidenceError):
            kycmux_host.hooks_for(self.vendor).build_request(
                vendor=kycmux_spec,
                checks=checks,
                evidence=evidence,
                config=config,
                context=hook_context(),
            )

    @pytest.mark.anyio
    async def test_no_secret_or_personal_value_in_records(
        self,
        kycmux_engine: EngineFactory,
        kycmux_demo: DemoSet,
        kycmux_config: Any,
        kycmux_faults: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        async with kycmux_engine() as engine:
            evidence = await self._captured(engine, kycmux_demo, subject_id=SUBJECT_CANARY)
            decisions = [await engine.verify(evidence)]
            # The failure path too: the vendor's own error answer, classified and recorded.
            evidence = await self._captured(engine, kycmux_demo, subject_id=SUBJECT_CANARY)
            kycmux_faults.inject("vendor_error")
            decisions.append(await engine.verify(evidence))
        canaries = secret_canaries(evidence, self._vendor_config(kycmux_config, self.vendor))
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
        async with kycmux_engine() as issuing:  # the crash is in the decision, not the issuing
            evidence = await self._captured(issuing, kycmux_demo)
        if hook == "classify_error":
            kycmux_faults.inject("vendor_error")  # classify_error is asked about failures only
        async with kycmux_engine(host=host) as engine:
            decision = await engine.verify(evidence)
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

    @pytest.mark.anyio
    @pytest.mark.parametrize("hook", _CHALLENGE_HOOKS)
    async def test_crash_in_a_challenge_hook_is_a_plugin_error(
        self,
        hook: str,
        kycmux_engine: EngineFactory,
        kycmux_plugin: object,
        kycmux_spec: VendorSpec,
    ) -> None:
        if kycmux_spec.challenge is None:
            pytest.skip("the vendor declares no challenge")
        host = PluginHost()
        assert host.register(crashing(kycmux_plugin, hook), self.vendor), host.failures
        async with kycmux_engine(host=host) as engine:
            with pytest.raises(ChallengeUnavailableError) as refused:
                await engine.challenge()
            stats = await engine.breaker_stats(self.vendor)
        attempts = [a.to_dict() for a in refused.value.attempts]
        assert [a["error_class"] for a in attempts] == ["plugin_error"], attempts
        assert all(a["plugin"] and a["plugin"]["hook"] == hook for a in attempts), attempts
        assert stats.failures == 0, "a plugin's bug is never held against the vendor"
        assert CRASH_MESSAGE not in str(refused.value)
