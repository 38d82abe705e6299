"""The kit's conformance suite, run against the bundled tencent_legacy plugin."""

from kycmux.testing import VendorConformance


class TestConformance(VendorConformance):
    vendor = "tencent_legacy"
