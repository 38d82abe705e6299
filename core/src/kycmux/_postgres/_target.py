"""A ``postgresql://`` URL as kycmux takes it: libpq's parameters, kycmux's own options, and a
masked form that every message, repr and log line shows instead of the URL.

A URL may carry a password (in its user info or a ``password`` parameter); nothing kycmux
prints ever contains it. Passwords are better kept out of the URL altogether: write the whole
URL as a ``${VAR}`` reference in the configuration, or leave the password out and let libpq
read ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import attrs

from kycmux.exceptions import ConfigError

__all__ = [
    "POSTGRES_EXTRA",
    "PgTarget",
    "is_postgres_url",
    "masked_url",
    "require_psycopg",
    "scrub",
    "target_repr",
]

POSTGRES_EXTRA = "pip install 'kycmux[postgres]'"
SCHEMES = ("postgresql", "postgres")
OPTION_PREFIX = "kycmux_"
MASK = "***"
# Without it, libpq waits for an unreachable server as long as the kernel's TCP timeouts.
DEFAULT_CONNECT_TIMEOUT = "5"


def is_postgres_url(target: str) -> bool:
    """Whether ``target`` is a ``postgresql://`` (or ``postgres://``) URL, not a file path."""
    scheme, sep, _ = str(target).partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def _masked_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        name, sep, _value = piece.partition("=")
        pieces.append(f"{name}={MASK}" if sep and unquote(name) == "password" else piece)
    return "&".join(pieces)


def masked_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``; other text is returned as is."""
    text = str(url)
    if "://" not in text:
        return text  # a file path
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<a URL that cannot be parsed>"
    user, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}:{MASK}@{hosts}" if at and ":" in user else parts.netloc
    query = _masked_query(parts.query) if parts.query else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def target_repr(value: str | None) -> str:
    """The repr of a setting holding a path or URL: a URL's password masked. A ``${VAR}``
    reference (a ``str`` subclass) keeps its own repr, which names the variable only."""
    if type(value) is str:
        return repr(masked_url(value))
    return repr(value)


def require_psycopg(shown: str) -> None:
    """Import psycopg and its pool, or raise ``ConfigError`` naming the extra that brings them."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            shown,
            f"PostgreSQL needs {exc.name or 'psycopg'}, which is not installed: {POSTGRES_EXTRA}",
        ) from None


@attrs.frozen(repr=False)
class PgTarget:
    """A parsed ``postgresql://`` URL.

    Attributes:
        params: libpq's connection parameters (kycmux's own options taken out), with a
            ``connect_timeout`` unless the URL sets one.
        shown: The URL with its password masked: what messages, reprs and logs print.
        options: kycmux's own ``kycmux_<name>`` query parameters, by ``<name>``.
    """

    params: Mapping[str, str]
    shown: str
    options: Mapping[str, str] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        return f"PgTarget({self.shown!r})"

    @classmethod
    def parse(cls, url: str, *, options: Collection[str] = ()) -> PgTarget:
        """Parse ``url`` (libpq's own parser); ``options``: the ``kycmux_*`` names accepted.

        ``ConfigError`` (keyed by the masked URL) for a URL libpq refuses, an unknown kycmux
        option, or psycopg not being installed.
        """
        shown = masked_url(url)
        if not is_postgres_url(url):
            raise ConfigError(shown, "not a postgresql:// URL")
        require_psycopg(shown)
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = urlsplit(str(url))
            written = parts.password
        except ValueError:
            raise ConfigError(shown, "not a valid URL") from None
        ours: dict[str, str] = {}
        kept: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if not name.startswith(OPTION_PREFIX):
                kept.append((name, value))
                continue
            option = name.removeprefix(OPTION_PREFIX)
            if option not in options:
                valid = ", ".join(OPTION_PREFIX + o for o in sorted(options)) or "none"
                raise ConfigError(shown, f"unknown parameter {name} (kycmux's own: {valid})")
            ours[option] = value
        if ours:
            # Re-joined from the parsed pairs only when kycmux's own were taken out, so a URL
            # without them reaches libpq exactly as written.
            url = urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote)))
        try:
            params = conninfo_to_dict(str(url))
        except Error as exc:
            # libpq may quote the token it choked on, which can be part of the password.
            secrets = {"password": unquote(written)} if written else {}
            why = scrub(exc, secrets).replace(written or MASK, MASK)
            raise ConfigError(shown, f"not a valid PostgreSQL URL ({why})") from None
        params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        return cls({k: str(v) for k, v in params.items() if v is not None}, shown, ours)

    def conninfo(self) -> str:
        """libpq's keyword/value connection string (it holds the password: never show it)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo("", **self.params)

    def int_option(self, name: str, default: int, *, low: int, high: int) -> int:
        """The ``kycmux_<name>`` option as a whole number in [low, high], or ``default``."""
        text = self.options.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ConfigError(
                self.shown, f"{OPTION_PREFIX}{name} must be a whole number from {low} to {high}"
            )
        return value

    def describe(self, exc: BaseException) -> str:
        """``exc`` for a message: its type and first line, the password scrubbed out."""
        return scrub(exc, self.params)


def scrub(exc: BaseException, params: Mapping[str, str]) -> str:
    """``Type: first line`` of ``exc``, with the password (if known) masked wherever it
    appears. libpq's messages name host, port and user but not the password; masking anyway
    costs nothing."""
    line = (str(exc).strip().splitlines() or [""])[0]
    password = params.get("password")
    if password:
        line = line.replace(password, MASK)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
