"""``python -m kycmux.cli``: the ``kycmux`` command."""

from kycmux.cli._main import main

main()
