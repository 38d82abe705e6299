"""The kit's conformance suite, run against the bundled linkface plugin."""

from kycmux.testing import VendorConformance


class TestConformance(VendorConformance):
    vendor = "linkface"
