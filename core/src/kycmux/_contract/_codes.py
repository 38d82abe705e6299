"""A vendor's documented codes, declared in its spec so generic tools can read them.

``classify_error`` stays the plugin's: these values only say what it answers, so the
conformance suite (``kycmux.testing``) and the docs can check every documented code, and a code
the vendor never documented, without knowing the vendor's wire format.
"""

from __future__ import annotations

import attrs

from kycmux._contract._taxonomy import CaptureIssue, ErrorClass
from kycmux._model._evidence import Check

__all__ = ["CodeDefault", "CodeTable", "DocumentedCode"]


def _issue_matches(error_class: ErrorClass, issue: CaptureIssue | None, where: str) -> None:
    if issue is not None and error_class is not ErrorClass.CAPTURE_UNUSABLE:
        raise ValueError(f"{where}: capture_issue is only for capture_unusable")


@attrs.frozen
class DocumentedCode:
    """One code the vendor documents, and the class ``classify_error`` gives it.

    Attributes:
        code: The vendor's code or status string, as ``VendorResult.code`` /
            ``CheckAnswer.status`` carry it.
        error_class: The taxonomy class.
        capture_issue: For ``CAPTURE_UNUSABLE``, which issue.
        check: ``None`` when the vendor reports the code for the call as a whole (the
            ``result`` situation of ``classify_error``); a check when it reports it as that
            check's status (the ``result`` and ``check`` situation).
        http_status: The HTTP status the vendor answers the code with.
        message: A message that selects this row (a code whose meaning depends on the message).
    """

    code: str = attrs.field(validator=attrs.validators.min_len(1))
    error_class: ErrorClass = attrs.field(converter=ErrorClass)
    capture_issue: CaptureIssue | None = None
    check: Check | None = None
    http_status: int = attrs.field(default=200, validator=[attrs.validators.ge(100)])
    message: str = ""

    def __attrs_post_init__(self) -> None:
        _issue_matches(self.error_class, self.capture_issue, f"code {self.code!r}")


@attrs.frozen
class CodeDefault:
    """The explicit class of a code the vendor does not document, in one situation.

    Attributes:
        error_class: What an unknown code means there.
        capture_issue: For ``CAPTURE_UNUSABLE``, which issue.
        check: ``None`` for an unknown code of the call as a whole, else for that check's status.
        http_status: The HTTP status the unknown code comes with.
    """

    error_class: ErrorClass = attrs.field(converter=ErrorClass)
    capture_issue: CaptureIssue | None = None
    check: Check | None = None
    http_status: int = attrs.field(default=200, validator=[attrs.validators.ge(100)])

    def __attrs_post_init__(self) -> None:
        _issue_matches(self.error_class, self.capture_issue, "default")


@attrs.frozen
class CodeTable:
    """Every code a vendor documents, and the defaults for those it does not.

    Attributes:
        codes: The documented codes (a code may appear once per check, HTTP status and message).
        defaults: At least one default: what an undocumented code means, per situation.
    """

    codes: tuple[DocumentedCode, ...]
    defaults: tuple[CodeDefault, ...] = attrs.field(validator=attrs.validators.min_len(1))

    def __attrs_post_init__(self) -> None:
        keys = [(c.code, c.check, c.http_status, c.message) for c in self.codes]
        if len(set(keys)) != len(keys):
            raise ValueError("codes: a code appears twice for the same check, status and message")
