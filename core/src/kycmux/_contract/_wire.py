"""Pure values that cross the plugin contract: requests, responses, results, attempt context.

Nothing here does I/O. Building, signing and parsing work on these values only, so the sync
and async engines share every line of vendor logic (the httpx model).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from kycmux._contract._score import RawScore, Score
from kycmux._contract._taxonomy import Classification
from kycmux._model._evidence import Check
from kycmux._model._secret import Secret

__all__ = [
    "AttemptContext",
    "CheckAnswer",
    "CheckReading",
    "FilePart",
    "Param",
    "VendorRequest",
    "VendorResponse",
    "VendorResult",
]

Param = tuple[str, "str | Secret"]


@attrs.frozen
class FilePart:
    """A file part of a multipart body: streamed from ``path``, or small in-memory ``content``.

    Attributes:
        field: The form field name.
        filename: The filename sent in Content-Disposition.
        content_type: The part's media type.
        path: The file to stream (never read whole).
        content: Small literal content, for parts built in memory.
    """

    field: str
    filename: str
    content_type: str = "application/octet-stream"
    path: Path | None = attrs.field(
        default=None, repr=lambda p: "None" if p is None else repr(p.name)
    )
    content: bytes | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.path is None) == (self.content is None):
            raise ValueError(f"FilePart {self.field}: give exactly one of path and content")

    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.content or b"")


def _names(params: tuple[Param, ...]) -> list[str]:
    return [name for name, _ in params]


@attrs.frozen(repr=False)
class VendorRequest:
    """An HTTP request to a vendor, as a pure value. ``sign`` returns a new one.

    Values may be ``Secret``: the transport reveals them on the wire only. The repr lists
    field names, never values (they hold personal data and credentials).

    Attributes:
        vendor: The vendor name.
        operation: The vendor operation (``livedetectfour``).
        checks: The checks this one request serves.
        method: HTTP method.
        url: Absolute URL.
        params: Query-string parameters.
        fields: Multipart / form text fields, in order.
        files: Multipart file parts, in order (none and no fields: no multipart body).
        json: A JSON body instead of a form.
        headers: Extra headers (``Authorization``...).
    """

    vendor: str
    operation: str
    checks: frozenset[Check]
    method: str
    url: str
    params: tuple[Param, ...] = ()
    fields: tuple[Param, ...] = ()
    files: tuple[FilePart, ...] = ()
    json: Mapping[str, Any] | None = None
    headers: tuple[Param, ...] = ()

    def __repr__(self) -> str:
        return (
            f"VendorRequest({self.vendor}.{self.operation} {self.method} {self.url} "
            f"params={_names(self.params)} fields={_names(self.fields)} "
            f"files={[f.field for f in self.files]} json={sorted(self.json or {})} "
            f"headers={_names(self.headers)})"
        )

    def field(self, name: str) -> str | Secret | None:
        return next((v for k, v in self.fields if k == name), None)

    def with_header(self, name: str, value: str | Secret) -> VendorRequest:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return attrs.evolve(self, headers=(*kept, (name, value)))

    def with_fields(self, *extra: Param) -> VendorRequest:
        return attrs.evolve(self, fields=(*self.fields, *extra))

    def body_size(self) -> int:
        """Bytes of file content to send (what vendors' body limits are mostly about)."""
        return sum(f.size() for f in self.files)


@attrs.frozen
class VendorResponse:
    """An HTTP response as a pure value.

    Attributes:
        status_code: HTTP status.
        headers: Response headers, names lower-cased.
        body: The raw body (never shown in a repr: it may hold a face image).
        elapsed: Seconds from sending to the full body.
    """

    status_code: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = attrs.field(default=b"", repr=False)
    elapsed: float = 0.0


@attrs.frozen
class CheckAnswer:
    """What the vendor said about one check.

    Attributes:
        check: The check.
        ok: The vendor completed this check (its status means success). A completed check is
            then decided by ``passed`` or by ``score`` against the policy threshold.
        status: The vendor's status for this check (``"0"``, ``"-5016"``, ``"OK"``).
        message: The vendor's message for it.
        passed: The vendor's own yes/no, where it gives one without a score.
        score: The raw score deciding the check, if any.
    """

    check: Check
    ok: bool
    status: str
    message: str = ""
    passed: bool | None = None
    score: RawScore | None = None


@attrs.frozen
class VendorResult:
    """A vendor's answer, parsed.

    Attributes:
        vendor: The vendor name.
        operation: The operation called.
        http_status: HTTP status of the response.
        ok: The call as a whole succeeded (top-level code 0, status OK).
        code: The vendor's top-level code or status string.
        message: The vendor's top-level message.
        request_id: The vendor's id for this request, when it gives one.
        answers: Per-check answers for the checks the request served.
        extras: Further non-personal values worth keeping (``image_id``...).
    """

    vendor: str
    operation: str
    http_status: int
    ok: bool
    code: str
    message: str = ""
    request_id: str | None = None
    answers: Mapping[Check, CheckAnswer] = attrs.field(factory=dict)
    extras: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class AttemptContext:
    """Per-attempt facts handed to ``build_request`` and ``sign``.

    Attributes:
        request_id: The decision's request id (vendors' ``seq`` / ``session_id``).
        attempt: 1 for the first attempt at a vendor, 2 for its first retry...
        now: Wall clock (UNIX seconds) for signatures; tests pass a fixed one.
        randbelow: Nonce source; defaults to the ``secrets`` CSPRNG.
        instance: The configured instance the call is for (``[vendors.<instance>]``): the
            vendor's own name, or another account's or region's (``plugin = "<vendor>"``),
            whose configuration is the ``config`` the hook receives. ``None`` outside an
            engine. Values the plugin returns carry its own vendor name; core relabels them.
    """

    request_id: str
    attempt: int = 1
    now: Callable[[], float] = time.time
    randbelow: Callable[[int], int] = secrets.randbelow
    instance: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class CheckReading:
    """What one vendor said about one check, before any policy threshold.

    Attributes:
        check: The check.
        answer: The vendor's answer, when the call returned one for this check.
        failure: Why the check has no usable answer (call failed, or the check did not complete).
        score: The normalized score, when the answer carries one.
    """

    check: Check
    answer: CheckAnswer | None
    failure: Classification | None
    score: Score | None = None
