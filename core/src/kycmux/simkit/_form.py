"""Forms as a tolerant server reads them: multipart (RFC 7578), urlencoded, query strings.

The parser accepts what real clients and the vendors' own samples send: a quoted or unquoted
boundary, ``name="appid";`` with a trailing semicolon, parts without a Content-Type, CRLF or
bare-LF line ends, a preamble and an epilogue, UTF-8 names and values, ``filename*``. What it
cannot read raises ``MalformedRequest`` with a typed reason.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Mapping
from urllib.parse import parse_qs, parse_qsl, unquote_to_bytes

import attrs

from kycmux.exceptions import KycmuxError

__all__ = [
    "FormData",
    "MalformedReason",
    "MalformedRequest",
    "UploadedFile",
    "parse_multipart",
    "parse_query",
    "parse_urlencoded",
    "split_header_params",
]

_LWSP = b" \t"
_MAX_BOUNDARY = 200  # RFC 2046 says 70; real clients stay far below this tolerance


class MalformedReason(enum.StrEnum):
    """Why a request body could not be read.

    Attributes:
        NO_BOUNDARY: multipart without a usable ``boundary`` parameter.
        BAD_MULTIPART: delimiters missing, body cut short, no closing delimiter.
        BAD_PART_HEADERS: a part without a readable ``Content-Disposition`` name.
        NOT_UTF8: a field name or value, or a form, that is not valid UTF-8.
        BAD_URLENCODED: an ``application/x-www-form-urlencoded`` body that does not parse.
        BAD_JSON: a body that is not valid JSON.
        UNSUPPORTED_CONTENT_TYPE: ``form()`` on a body that is not a form.
    """

    NO_BOUNDARY = "no_boundary"
    BAD_MULTIPART = "bad_multipart"
    BAD_PART_HEADERS = "bad_part_headers"
    NOT_UTF8 = "not_utf8"
    BAD_URLENCODED = "bad_urlencoded"
    BAD_JSON = "bad_json"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"


class MalformedRequest(KycmuxError, ValueError):
    """A request a simulator cannot read. A handler may let it propagate: the simulator then
    answers with its ``malformed_response``.

    Attributes:
        reason: The kind of problem, for simulators that answer differently per kind (a
            vendor with an ``ENCODING_ERROR`` status checks for ``NOT_UTF8``).
        detail: What was wrong, in words (never the offending content).
    """

    def __init__(self, reason: MalformedReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"malformed request ({reason.value}): {detail}")


@attrs.frozen
class UploadedFile:
    """One file part of a multipart form.

    Attributes:
        filename: The filename the client sent (may be empty).
        content_type: The part's media type (``application/octet-stream`` when not given).
        data: The content (never shown in a repr: it may be a face image).
    """

    filename: str
    content_type: str
    data: bytes = attrs.field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@attrs.frozen
class FormData:
    """A parsed form: text fields and file parts, each name mapping to its values in order.

    Attributes:
        fields: Text fields by name.
        files: File parts by name.
    """

    fields: Mapping[str, list[str]] = attrs.field(factory=dict, repr=lambda v: repr(sorted(v)))
    files: Mapping[str, list[UploadedFile]] = attrs.field(factory=dict)

    def field(self, name: str) -> str | None:
        """The first value of a text field, or ``None``."""
        values = self.fields.get(name)
        return values[0] if values else None

    def file(self, name: str) -> UploadedFile | None:
        """The first file of a file part, or ``None``."""
        files = self.files.get(name)
        return files[0] if files else None

    def names(self) -> frozenset[str]:
        """Every name present, as a text field or a file part."""
        return frozenset(self.fields) | frozenset(self.files)


def parse_query(raw: bytes) -> dict[str, list[str]]:
    """Parse a query string; undecodable escapes become U+FFFD (the raw string is kept on
    ``SimRequest.query_string`` for simulators that must reject them)."""
    text = raw.decode("latin-1")
    return parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="replace")


def parse_urlencoded(body: bytes) -> FormData:
    """Parse an ``application/x-www-form-urlencoded`` body (UTF-8)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MalformedRequest(MalformedReason.NOT_UTF8, "form is not valid UTF-8") from None
    except ValueError:
        raise MalformedRequest(MalformedReason.BAD_URLENCODED, "form does not parse") from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return FormData(fields=fields)


def parse_multipart(body: bytes, content_type: str) -> FormData:
    """Parse a ``multipart/form-data`` body given its full Content-Type header value."""
    delimiter = b"--" + _boundary(content_type)
    pos = _first_delimiter(body, delimiter)
    crlf = _line_end(body, pos)[1]
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadedFile]] = {}
    while not body.startswith(b"--", pos):
        start = _line_end(body, pos)[0]
        end, pos = _next_delimiter(body, delimiter, start, crlf)
        _add_part(body[start:end], fields, files)
    return FormData(fields=fields, files=files)


def _boundary(content_type: str) -> bytes:
    _, params = split_header_params(content_type)
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > _MAX_BOUNDARY or any(c in boundary for c in "\r\n"):
        raise MalformedRequest(MalformedReason.NO_BOUNDARY, "multipart without a usable boundary")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedRequest(MalformedReason.NO_BOUNDARY, "boundary is not ASCII") from None


def _first_delimiter(body: bytes, delimiter: bytes) -> int:
    """Index just past the first delimiter; it must start the body or a line (preamble ok)."""
    if body.startswith(delimiter):
        return len(delimiter)
    index = body.find(b"\n" + delimiter)
    if index < 0:
        raise MalformedRequest(MalformedReason.BAD_MULTIPART, "no boundary delimiter in body")
    return index + 1 + len(delimiter)


def _line_end(body: bytes, pos: int) -> tuple[int, bool]:
    """Past the rest of a delimiter line (transport padding, then CRLF or LF).

    Returns the index of the next line and whether the line ended with CRLF.
    """
    while pos < len(body) and body[pos] in _LWSP:
        pos += 1
    if body.startswith(b"\r\n", pos):
        return pos + 2, True
    if body.startswith(b"\n", pos):
        return pos + 1, False
    if body.startswith(b"--", pos):  # a close delimiter right away: an empty form
        return pos, True
    detail = "body ends after a delimiter" if pos >= len(body) else "garbage after a delimiter"
    raise MalformedRequest(MalformedReason.BAD_MULTIPART, detail)


def _next_delimiter(body: bytes, delimiter: bytes, start: int, crlf: bool) -> tuple[int, int]:
    """Find the delimiter ending the part that begins at ``start``.

    Returns the end of the part's content and the index just past the delimiter. A match not
    followed by ``--``, padding or a line end is content that merely starts like the
    boundary, and the search goes on.
    """
    needle = b"\n" + delimiter
    search = start
    while True:
        index = body.find(needle, search)
        if index < 0:
            raise MalformedRequest(MalformedReason.BAD_MULTIPART, "no closing boundary delimiter")
        after = index + len(needle)
        rest = body[after : after + 2]
        if rest == b"--" or rest[:1] in (b"\r", b"\n", b" ", b"\t"):
            end = index - 1 if crlf and index > start and body[index - 1] == 0x0D else index
            return end, after
        if not rest:
            raise MalformedRequest(MalformedReason.BAD_MULTIPART, "body ends after a delimiter")
        search = after


def _add_part(
    part: bytes, fields: dict[str, list[str]], files: dict[str, list[UploadedFile]]
) -> None:
    headers, content = _part_headers(part)
    _disposition, params = split_header_params(headers.get("content-disposition", ""))
    name = params.get("name")
    if name is None:
        raise MalformedRequest(
            MalformedReason.BAD_PART_HEADERS, "part without a Content-Disposition name"
        )
    media, media_params = split_header_params(headers.get("content-type", ""))
    media = media.lower()
    if "filename" in params or (media and not media.startswith("text/")):
        kind = media or "application/octet-stream"
        files.setdefault(name, []).append(UploadedFile(params.get("filename", ""), kind, content))
        return
    fields.setdefault(name, []).append(_field_text(name, content, media_params.get("charset")))


def _part_headers(part: bytes) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    last = ""
    pos = 0
    while True:
        newline = part.find(b"\n", pos)
        if newline < 0:
            raise MalformedRequest(
                MalformedReason.BAD_PART_HEADERS, "part headers not ended by a blank line"
            )
        raw = part[pos:newline].rstrip(b"\r")
        pos = newline + 1
        if not raw:
            return headers, part[pos:]
        line = _utf8(raw, "part header")
        if line[0] in " \t" and last:  # obsolete line folding, still seen in the wild
            headers[last] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise MalformedRequest(MalformedReason.BAD_PART_HEADERS, "part header without ':'")
        last = key.strip().lower()
        headers[last] = value.strip()


def _field_text(name: str, content: bytes, charset: str | None) -> str:
    encoding = "utf-8"
    if charset:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            encoding = "utf-8"
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        raise MalformedRequest(
            MalformedReason.NOT_UTF8, f"field {name!r} is not valid {encoding}"
        ) from None


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(MalformedReason.NOT_UTF8, f"{what} is not valid UTF-8") from None


def split_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``main; a=1; b="x;y"; c*=UTF-8''%E5%BC%A0`` into its main value and parameters.

    Parameter names are lower-cased; quoted values unquoted (``\\"`` and ``\\\\`` escapes);
    ``name*`` (RFC 5987/8187) values decoded and preferred over ``name``; segments without
    ``=`` (such as the empty one after a trailing ``;``) ignored.
    """
    segments = _split_unquoted(value, ";")
    main = segments[0].strip() if segments else ""
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for segment in segments[1:]:
        key, equals, raw = segment.partition("=")
        key = key.strip().lower()
        if not equals or not key:
            continue
        raw = raw.strip()
        if key.endswith("*"):
            decoded = _ext_value(raw)
            if decoded is not None:
                extended[key[:-1]] = decoded
            continue
        params[key] = _unquote(raw)
    params.update(extended)
    return main, params


def _split_unquoted(value: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        inner = raw[1:-1]
        # Only \" and \\ are escapes: browsers send Windows paths with bare backslashes.
        return inner.replace('\\"', '"').replace("\\\\", "\\")
    return raw


def _ext_value(raw: str) -> str | None:
    """Decode an RFC 8187 ``charset'language'pct-encoded`` value; None if unreadable."""
    charset, quote1, rest = _unquote(raw).partition("'")
    _language, quote2, encoded = rest.partition("'")
    if not (quote1 and quote2):
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None
