"""A local simulator of the Tencent legacy face API, faithful on the wire.

``POST /face/livegetfour``, ``POST /face/livedetectfour`` and ``POST /face/idcardcompare``
verify the legacy signature exactly as the vendor documents it, validate the documented fields,
decide outcomes from the uploaded content (``kycmux.synthetic`` truths) and answer in the
vendor's JSON layout, trailing comma included. livegetfour issues random digits, which
livedetectfour accepts once and for a bounded time (``_challenges``). Faults, the body cap
and the control endpoints come from ``kycmux.simkit.SimulatorApp``; see
``docs/vendors/tencent_legacy.md``.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from kycmux import Secret, is_loopback_host
from kycmux.simkit import (
    FaultKind,
    FormData,
    MalformedRequest,
    SimRequest,
    SimResponse,
    SimulatorApp,
)
from kycmux.synthetic import ImageTruth, Population, VideoTruth, image_bytes
from kycmux_tencent_legacy._errors import Site, meaning, row_for
from kycmux_tencent_legacy._sim._auth import (
    DEFAULT_ACCOUNTS,
    Account,
    AccountStatus,
    Authenticator,
    Rejected,
)
from kycmux_tencent_legacy._sim._challenges import Ledger, Redeemed
from kycmux_tencent_legacy._sim._judge import (
    judge_card,
    judge_photo,
    judge_registry,
    judge_video,
    similarity_for,
)
from kycmux_tencent_legacy._sim._render import Member, render, render_error
from kycmux_tencent_legacy._spec import (
    DEFAULT_CHALLENGE_TTL,
    DEFAULT_MAX_BODY_BYTES,
    IDCARDCOMPARE,
    LIVEDETECTFOUR,
    LIVEGETFOUR,
    PATHS,
)

__all__ = ["DEFAULT_ACCOUNTS", "Account", "AccountStatus", "TencentSimulator"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_LIVE_PATH, _ID_PATH, _FOUR_PATH = PATHS[LIVEDETECTFOUR], PATHS[IDCARDCOMPARE], PATHS[LIVEGETFOUR]
# Redeeming validate_data: digits never issued or expired cannot be lip-read against any
# challenge (-5002); digits used before are a replayed capture (-5016).
_REDEEM_CODES = {Redeemed.UNKNOWN: -5002, Redeemed.EXPIRED: -5002, Redeemed.REUSED: -5016}
_LEVELS = frozenset({"0", "1", "2", "3"})
_FETCH_TIMEOUT = 5.0
# The request being served, so fault answers can use the layout of the endpoint asked.
_PATH: contextvars.ContextVar[str] = contextvars.ContextVar("tencent_sim_path", default="")


def _ok(code: int) -> str:
    return "OK" if code == 0 else meaning(str(code))


def _text_field(form: FormData, name: str) -> str | None:
    value = form.field(name)
    return value if value is None else value.strip()


class TencentSimulator(SimulatorApp):
    """The simulated vendor.

    Attributes:
        population: The national ID registry idcardcompare looks numbers up in.
        max_body: Request bodies over this get code 23 (the documented 6 MB).
        challenges: The digits livegetfour issued, redeemed by livedetectfour.
        accept_unissued_challenges: Take validate_data livegetfour never issued (an account
            still on the old flow), for kycmux's ``allow_caller_digits``; issued digits are
            still held to their expiry and single use.
    """

    max_body = DEFAULT_MAX_BODY_BYTES

    def __init__(
        self,
        *,
        accounts: Iterable[Account] = DEFAULT_ACCOUNTS,
        population: Population | None = None,
        clock: Callable[[], float] = time.time,
        rate: tuple[float, int] | None = None,
        max_body: int | None = None,
        challenge_ttl: float = DEFAULT_CHALLENGE_TTL,
        challenge_capacity: int = 4096,
        accept_unissued_challenges: bool = False,
    ) -> None:
        """``clock`` is the wall clock signatures and challenges are checked against; ``rate``
        is ``(requests per second, burst)`` per AppID (code 15 beyond it), ``None`` for none;
        issued digits live ``challenge_ttl`` seconds, at most ``challenge_capacity`` at once."""
        super().__init__(max_body=max_body)
        self._accounts = tuple(accounts)
        if not self._accounts:
            raise ValueError("a simulator needs at least one account")
        self.population = Population.default() if population is None else population
        self._auth = Authenticator.from_accounts(self._accounts, clock=clock, rate=rate)
        self._media: dict[str, bytes] = {}
        self.challenges = Ledger(clock, challenge_ttl, challenge_capacity)
        self.accept_unissued_challenges = accept_unissued_challenges

    # -- configuration -------------------------------------------------------------------------

    def client_settings(self) -> Mapping[str, str | Secret]:
        """The first (active) account's AppID and key."""
        return self._accounts[0].settings()

    def settings_for(self, appid: str) -> Mapping[str, str | Secret]:
        """Client settings of another account (in arrears, not enabled, the docs' 123456)."""
        return self._auth.account(appid).settings()

    def host_media(self, url: str, data: bytes) -> None:
        """Serve ``data`` when idcardcompare is asked to download ``url``."""
        self._media[url] = bytes(data)

    # -- SimulatorApp hooks --------------------------------------------------------------------

    def routes(self) -> Mapping[tuple[str, str], Any]:
        return {
            ("POST", _LIVE_PATH): self.livedetectfour,
            ("POST", _ID_PATH): self.idcardcompare,
            ("POST", _FOUR_PATH): self.livegetfour,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _PATH.set(str(scope.get("path", "")))
        try:
            await super().__call__(scope, receive, send)
        finally:
            _PATH.reset(token)

    def not_found_response(self) -> SimResponse:
        return render_error(21, "invalid parameter: no such interface", status=404)

    def too_large_response(self) -> SimResponse:
        return render_error(23, meaning("23"))

    def malformed_response(self, error: MalformedRequest) -> SimResponse:
        return render_error(21, f"{meaning('21')}: {error.reason.value}")

    def internal_error_response(self) -> SimResponse:
        return render_error(213, meaning("213"), status=500)

    def render_fault(self, kind: FaultKind, code: str | None = None) -> SimResponse:
        on_live = _PATH.get() == _LIVE_PATH
        if kind is FaultKind.RATE_LIMITED:
            return render_error(15, meaning("15"))
        if kind is FaultKind.VENDOR_ERROR:
            code = "213" if on_live else "-5802"
            return render_error(int(code), meaning(code))
        if kind is FaultKind.VENDOR_CODE and code is not None:
            return _vendor_code(code, on_live)
        return super().render_fault(kind)

    # -- endpoints -----------------------------------------------------------------------------

    async def livegetfour(self, request: SimRequest) -> SimResponse:
        try:
            return self._livegetfour(request)
        except Rejected as rejected:
            return render_error(rejected.code, rejected.message or meaning(str(rejected.code)))

    async def livedetectfour(self, request: SimRequest) -> SimResponse:
        try:
            return self._livedetectfour(request)
        except Rejected as rejected:
            return render_error(rejected.code, rejected.message or meaning(str(rejected.code)))

    async def idcardcompare(self, request: SimRequest) -> SimResponse:
        try:
            return await self._idcardcompare(request)
        except Rejected as rejected:
            return render_error(rejected.code, rejected.message or meaning(str(rejected.code)))

    def _livegetfour(self, request: SimRequest) -> SimResponse:
        values, _ = _idcard_body(request)  # JSON as the SDKs send it (a form is read too)
        appid = values.get("appid")
        self._auth.authorize(request.header("authorization"), appid)
        if not appid:
            raise Rejected(21, f"{meaning('21')}: appid")
        return render(0, "OK", [("validate_data", self.challenges.issue(appid))])

    def _redeem(self, appid: str, digits: str) -> int:
        """0 when ``digits`` may be judged, else the live_status refusing them."""
        found = self.challenges.redeem(appid, digits)
        if found is Redeemed.UNKNOWN and self.accept_unissued_challenges:
            return 0
        return _REDEEM_CODES.get(found, 0)

    def _livedetectfour(self, request: SimRequest) -> SimResponse:
        form = _form(request)
        appid = _text_field(form, "appid")
        self._auth.authorize(request.header("authorization"), appid)
        digits = _text_field(form, "validate_data") or ""
        flag = (_text_field(form, "compare_flag") or "").lower()
        video, card = form.file("video"), form.file("card")
        if not appid or not digits.isdigit() or flag not in ("true", "false") or video is None:
            raise Rejected(21, f"{meaning('21')}: appid, validate_data, compare_flag, video")
        compare = flag == "true"
        if compare and card is None:
            raise Rejected(21, f"{meaning('21')}: card is required when compare_flag is true")
        level = _text_field(form, "level")
        if level is not None and level not in _LEVELS:
            return render(0, "OK", [("live_status", -5014), ("live_msg", meaning("-5014"))])
        refused = self._redeem(appid, digits)
        if refused:
            return render(0, "OK", [("live_status", refused), ("live_msg", meaning(str(refused)))])
        live = judge_video(video.data, digits)
        data: list[Member] = [("live_status", live.status), ("live_msg", _ok(live.status))]
        if compare and card is not None and live.value is not None:
            data.extend(_comparison(card.data, live.value))
        return render(0, "OK", data)

    async def _idcardcompare(self, request: SimRequest) -> SimResponse:
        values, image = _idcard_body(request)
        self._auth.authorize(request.header("authorization"), values.get("appid"))
        if not values.get("appid"):
            raise Rejected(21, f"{meaning('21')}: appid")
        number, name = values.get("idcard_number", ""), values.get("idcard_name", "")
        if not number.strip() or not name.strip():
            raise Rejected(-5801, meaning("-5801"))
        url = values.get("url")
        data = await self._download(url) if url else image
        if data is None:
            raise Rejected(-5805, meaning("-5805"))
        photo = judge_photo(data)
        if photo.value is None:
            raise Rejected(photo.status, meaning(str(photo.status)))
        entry = judge_registry(number.strip().upper(), name, self.population)
        if entry.value is None:
            raise Rejected(entry.status, meaning(str(entry.status)))
        similarity = similarity_for(photo.value, entry.value)
        session = values.get("session_id", "")
        return render(0, "OK", [("similarity", similarity), ("session_id", session)])

    async def _download(self, url: str) -> bytes | None:
        """What the vendor would download: hosted media, or a loopback URL fetched for real."""
        if url in self._media:
            return self._media[url]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname or ""):
            return None  # the simulator reaches nothing beyond this machine
        try:
            async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT) as client:
                response = await client.get(url)
        except httpx.HTTPError:
            return None
        if response.status_code != 200 or len(response.content) > self.max_body:
            return None
        return response.content


def _form(request: SimRequest) -> FormData:
    try:
        return request.form()
    except MalformedRequest as exc:
        raise Rejected(21, f"{meaning('21')}: {exc.reason.value}") from None


def _idcard_body(request: SimRequest) -> tuple[dict[str, str], bytes | None]:
    """The text values and the uploaded image of an idcardcompare request (JSON or form)."""
    if request.content_type == "application/json":
        try:
            document = request.json()
        except MalformedRequest as exc:
            raise Rejected(21, f"{meaning('21')}: {exc.reason.value}") from None
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            raise Rejected(21, f"{meaning('21')}: expected a JSON object of strings")
        return dict(document), None
    form = _form(request)
    values = {name: items[0] for name, items in form.fields.items() if items}
    upload = form.file("image")
    if upload is not None:
        return values, upload.data
    # The header table says the image may be sent as its base64 text: accept that too.
    text = values.pop("image", None)
    if text is None:
        return values, None
    try:
        return values, base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return values, b""


def _comparison(card: bytes, video: VideoTruth) -> list[Member]:
    verdict = judge_card(card, video)
    members: list[Member] = [
        ("compare_status", verdict.status),
        ("compare_msg", _ok(verdict.status)),
    ]
    if verdict.value is not None:
        members.append(("sim", verdict.value))
        members.append(("photo", _best_frame(video)))
    return members


def _best_frame(video: VideoTruth) -> str:
    """The 'frame most similar to the card' the vendor returns: a small synthetic JPEG."""
    frame = image_bytes(ImageTruth(video.person), fmt="jpeg", width=96, height=128)
    return base64.b64encode(frame).decode("ascii")


def _vendor_code(code: str, on_live: bool) -> SimResponse:
    """A documented code where the real service reports it (``live_status``...)."""
    try:
        number = int(code)
    except ValueError:
        return SimResponse.text(400, f"vendor_code={code}: Tencent codes are integers\n")
    row = row_for(str(number))
    text = meaning(str(number))
    if on_live and row is not None and row.site is Site.LIVE:
        return render(0, "OK", [("live_status", number), ("live_msg", text)])
    if on_live and row is not None and row.site is Site.COMPARE:
        members: list[Member] = [("live_status", 0), ("live_msg", "OK")]
        return render(0, "OK", [*members, ("compare_status", number), ("compare_msg", text)])
    return render_error(number, text)
