"""Reading a ``liveness_selfie_verification`` request the way the vendor's server would."""

from __future__ import annotations

import enum
import hmac
from typing import Final
from urllib.parse import parse_qsl

import attrs

from kycmux import Secret, reveal
from kycmux.simkit import FormData, SimRequest
from kycmux_linkface._sim._decide import Failure

__all__ = [
    "DATA_FIELDS",
    "SELFIE_FIELDS",
    "Account",
    "AccountState",
    "Arguments",
    "Source",
    "SourceKind",
    "credentials",
    "not_multipart",
    "query_is_utf8",
    "read_arguments",
]

SELFIE_FIELDS: Final = ("selfie_file", "selfie_url", "selfie_image_id")
DATA_FIELDS: Final = ("liveness_data_file", "liveness_data_url", "liveness_data_id")
_BOOLEANS: Final = {"true": True, "false": False}
_MULTIPART: Final = "multipart/form-data"
_MAX_SHOWN: Final = 64  # of a client's content type, echoed in a reason


class AccountState(enum.StrEnum):
    """What the simulated account may do.

    Attributes:
        ACTIVE: Everything.
        EXPIRED: Nothing: 401 KEY_EXPIRED.
        NO_PERMISSION: Not this API: 403 NO_PERMISSION.
    """

    ACTIVE = "active"
    EXPIRED = "expired"
    NO_PERMISSION = "no_permission"


@attrs.frozen
class Account:
    """One credential pair the simulator knows.

    Attributes:
        api_id: The account id.
        api_secret: Its secret.
        state: What it may do.
    """

    api_id: str
    api_secret: Secret = attrs.field(validator=attrs.validators.instance_of(Secret))
    state: AccountState = attrs.field(default=AccountState.ACTIVE, converter=AccountState)

    def matches(self, api_secret: str) -> bool:
        return hmac.compare_digest(reveal(self.api_secret).encode(), api_secret.encode())


class SourceKind(enum.StrEnum):
    FILE = "file"
    URL = "url"
    ID = "id"


@attrs.frozen
class Source:
    """Where one piece (selfie or liveness data) comes from.

    Attributes:
        field: The request field that gave it (``selfie_url``), the ``image`` of its errors.
        kind: Upload, URL or id.
        text: The URL or id.
        data: The uploaded content.
    """

    field: str
    kind: SourceKind
    text: str = ""
    data: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen
class Arguments:
    """A request's documented parameters, checked.

    Attributes:
        selfie: Where the selfie comes from.
        liveness_data: Where the liveness data comes from.
        auto_rotate: ``selfie_auto_rotate``.
    """

    selfie: Source
    liveness_data: Source
    auto_rotate: bool = False


def query_is_utf8(raw: bytes) -> bool:
    try:
        parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def not_multipart(request: SimRequest) -> Failure | None:
    """INVALID_ARGUMENT for a body that is not ``multipart/form-data``, else ``None``.

    Every one of the vendor's samples (curl ``-F``, HTTPie ``-f`` with files, requests with
    ``files=``, Apache ``MultipartEntity``, libcurl ``formadd``, PHP arrays, Ruby ``Multipart``)
    sends multipart, and the document describes no other body; a server reading its parameters
    from multipart parts finds none in an urlencoded or JSON body, so it answers as for a bad
    parameter. Credentials in the query string (the curl sample) do not change that.
    """
    if request.content_type == _MULTIPART:
        return None
    found = request.content_type[:_MAX_SHOWN] or "no content type"
    return _invalid(f"the request body must be {_MULTIPART}, not {found}")


def credentials(request: SimRequest, form: FormData) -> tuple[str | None, str | None]:
    """``api_id`` and ``api_secret`` from the form, else from the query (the curl sample)."""
    return (
        form.field("api_id") or request.query_value("api_id"),
        form.field("api_secret") or request.query_value("api_secret"),
    )


def _invalid(reason: str) -> Failure:
    return Failure("INVALID_ARGUMENT", reason=reason)


def _source(form: FormData, names: tuple[str, str, str]) -> Source | Failure:
    file_name, url_name, id_name = names
    if file_name in form.fields:
        return _invalid(f"{file_name} must be a file")
    for name in (url_name, id_name):
        if name in form.files:
            return _invalid(f"{name} must be a string, not a file")
    given = [n for n in names if n in form.names()]
    if len(given) != 1:
        return _invalid(f"exactly one of {', '.join(names)} is required")
    name = given[0]
    if len(form.files.get(name, ())) + len(form.fields.get(name, ())) > 1:
        return _invalid(f"{name} given more than once")
    if name == file_name:
        upload = form.file(name)
        return Source(name, SourceKind.FILE, data=upload.data if upload else b"")
    text = (form.field(name) or "").strip()
    if not text:
        return _invalid(f"{name} is empty")
    return Source(name, SourceKind.URL if name == url_name else SourceKind.ID, text=text)


def read_arguments(form: FormData) -> Arguments | Failure:
    """The selfie, the liveness data and ``selfie_auto_rotate``, or INVALID_ARGUMENT."""
    selfie = _source(form, SELFIE_FIELDS)
    if isinstance(selfie, Failure):
        return selfie
    data = _source(form, DATA_FIELDS)
    if isinstance(data, Failure):
        return data
    rotate = form.field("selfie_auto_rotate")
    if rotate is not None and rotate.strip().lower() not in _BOOLEANS:
        return _invalid("selfie_auto_rotate must be true or false")
    auto_rotate = rotate is not None and _BOOLEANS[rotate.strip().lower()]
    return Arguments(selfie, data, auto_rotate)
