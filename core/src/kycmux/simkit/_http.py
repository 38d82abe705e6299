"""Requests and responses as simulators see them: plain values, no ASGI in sight."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any

import attrs

from kycmux.simkit._form import (
    FormData,
    MalformedReason,
    MalformedRequest,
    parse_multipart,
    parse_query,
    parse_urlencoded,
)

__all__ = ["SimRequest", "SimResponse"]


def _lower_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return {k.lower(): v for k, v in value.items()}


def _media_type(header: str) -> str:
    return header.partition(";")[0].strip().lower()


@attrs.frozen
class SimRequest:
    """One HTTP request, body read in full.

    Attributes:
        method: The HTTP method, upper case.
        path: The decoded path, without the query string.
        query: Query parameters by name (values in order).
        headers: Request headers, names lower-cased (repeated headers joined by ``", "``).
        body: The raw body (never shown in a repr).
        content_type: The body's media type, lower-cased, without parameters
            (``multipart/form-data``); ``""`` when there is none.
        query_string: The raw query string, for simulators that must check its encoding.
    """

    method: str
    path: str
    query: Mapping[str, list[str]] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_headers, repr=False)
    body: bytes = attrs.field(default=b"", repr=False)
    content_type: str = ""
    query_string: bytes = attrs.field(default=b"", repr=False)

    @classmethod
    def from_parts(
        cls,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        query_string: bytes = b"",
    ) -> SimRequest:
        """Build a request as the server would (content type and query parsed from the raw)."""
        lowered = _lower_headers(headers or {})
        return cls(
            method=method.upper(),
            path=path,
            query=parse_query(query_string),
            headers=lowered,
            body=body,
            content_type=_media_type(lowered.get("content-type", "")),
            query_string=query_string,
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> FormData:
        """Parse a ``multipart/form-data`` or ``application/x-www-form-urlencoded`` body.

        :raises MalformedRequest: the body is not a form, or not a well-formed one.
        """
        if self.content_type == "multipart/form-data":
            return parse_multipart(self.body, self.headers.get("content-type", ""))
        if self.content_type == "application/x-www-form-urlencoded":
            return parse_urlencoded(self.body)
        shown = self.content_type or "no content type"
        raise MalformedRequest(MalformedReason.UNSUPPORTED_CONTENT_TYPE, f"{shown} is not a form")

    def json(self) -> Any:
        """Parse the body as JSON (UTF-8).

        :raises MalformedRequest: the body is not valid UTF-8 JSON.
        """
        try:
            text = self.body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MalformedRequest(MalformedReason.NOT_UTF8, "JSON body is not UTF-8") from None
        try:
            return jsonlib.loads(text)
        except jsonlib.JSONDecodeError as exc:
            # The position only: the request content stays out of the message.
            where = f"at line {exc.lineno} column {exc.colno}"
            raise MalformedRequest(MalformedReason.BAD_JSON, f"invalid JSON {where}") from None


def _headers(value: Mapping[str, str] | None) -> Mapping[str, str]:
    headers = {k.lower(): v for k, v in (value or {}).items()}
    headers.setdefault("content-type", "application/json")
    return headers


@attrs.frozen
class SimResponse:
    """An HTTP response a simulator gives.

    Attributes:
        status: HTTP status.
        body: The body bytes.
        headers: Response headers, names lower-cased; ``content-type`` defaults to
            ``application/json``. ``content-length`` is always computed by the server.
    """

    status: int = attrs.field(validator=[attrs.validators.ge(100), attrs.validators.le(599)])
    body: bytes = attrs.field(default=b"", repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)

    @classmethod
    def json(
        cls, status: int, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> SimResponse:
        """A JSON body (UTF-8, non-ASCII kept as is, like the vendors send Chinese)."""
        body = jsonlib.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, body, headers)

    @classmethod
    def json_text(
        cls, status: int, text: str, *, headers: Mapping[str, str] | None = None
    ) -> SimResponse:
        """Hand-written JSON text, sent byte for byte (Tencent's trailing comma)."""
        return cls(status, text.encode("utf-8"), headers)

    @classmethod
    def text(
        cls,
        status: int,
        text: str,
        *,
        content_type: str = "text/plain; charset=utf-8",
    ) -> SimResponse:
        return cls(status, text.encode("utf-8"), {"content-type": content_type})

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)
