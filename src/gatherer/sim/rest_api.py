"""The simulated venue's REST side: OAuth token issue/revoke and the master TRs (LS_OPENAPI.md §1, §4).

``add_rest_routes`` mounts the LS gateway's paths on an aiohttp application. Behaviour follows §1:
the TR is chosen by the ``tr_cd`` header and must be sent to its group path; ``authorization:
Bearer <token>`` is checked against the shared ``TokenRegistry`` (07:00 KST expiry); every TR has a
per-app-key calls-per-second limit from §1.4 (personal column) times ``limits.rest_rate_scale``;
gateway errors come back as HTTP 500 with ``{"rsp_cd": "IGW…", "rsp_msg": …}`` (§1.5, S13). When
``limits.master_page_rows`` is above 0, masters answer in pages continued by ``tr_cont``/``tr_cont_key``.

The backfill TRs of §8 (t1301, t8454, t2212 and its older name t2201, o3116, o3136) answer from the
market model's print history (``gatherer.sim.backfill`` renders them), newest first, in pages:
``tr_cont`` Y with a fresh ``tr_cont_key`` while older rows remain, the OutBlock's
``cts_time``/``cts_seq`` naming the page's oldest row. A continuation (``tr_cont`` Y) resumes
exactly where its key says; an unknown or used key answers IGW00313 like a master's. An unknown code
answers IGW40014 naming the field; a known code with no prints today answers ``00000`` with no rows
and LS's "해당자료가 없습니다.".

LS publishes only IGW00201 (rate), IGW40014 (bad field), IGW00121 (app key) and IGW00105 (app
secret). The token and TR-routing codes below are the simulator's choice, named in ``SIM_CODES``.
This module never logs or echoes a token, app key or secret.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

from gatherer.clock import Clock
from gatherer.sim.backfill import BACKFILL_TRS, BackfillRequestError, Cursor, page, parse_query
from gatherer.sim.market import MarketModel
from gatherer.sim.state import Faults, RatePacer, TokenRegistry, VenueLimits
from gatherer.sim.universe.instruments import Universe
from gatherer.sim.universe.masters import MasterRequestError, Row, master_rows

log = logging.getLogger(__name__)

OK_CODE = "00000"
OK_MSG = "정상적으로 조회가 완료되었습니다."
OK_MSG_OVERSEAS = "조회완료"
NO_DATA_MSG = "해당자료가 없습니다."
REVOKE_MSG = "접근토큰 폐기에 성공하였습니다."

RATE_LIMITED = ("IGW00201", "호출 거래건수를 초과하였습니다.")
BAD_APPKEY = ("IGW00121", "유효하지 않은 앱키입니다.")
BAD_APPSECRET = ("IGW00105", "유효하지 않은 AppSecret입니다.")
BAD_FIELD = "IGW40014"
NO_TOKEN = ("IGW00131", "접근토큰이 없습니다.")
BAD_TOKEN = ("IGW00132", "유효하지 않은 접근토큰입니다.")
UNKNOWN_TR = ("IGW00311", "존재하지 않는 TR입니다.")
WRONG_PATH = ("IGW00312", "TR과 URL이 일치하지 않습니다.")
BAD_CONTINUATION = ("IGW00313", "연속조회키가 유효하지 않습니다.")

SIM_CODES: Mapping[str, str] = {
    NO_TOKEN[0]: "no authorization header",
    BAD_TOKEN[0]: "token unknown, revoked or expired",
    UNKNOWN_TR[0]: "tr_cd not served",
    WRONG_PATH[0]: "tr_cd sent to another group path",
    BAD_CONTINUATION[0]: "tr_cont_key unknown or already used",
}
"""Error codes the simulator invented where LS publishes none (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class ServedTr:
    path: str
    per_s: float
    """Personal calls per second (§1.4)."""
    required: tuple[str, ...]
    """InBlock fields that must be present."""


SERVED_TRS: Mapping[str, ServedTr] = {
    "t8436": ServedTr("/stock/etc", 2, ("gubun",)),
    "t8430": ServedTr("/stock/etc", 2, ("gubun",)),
    "t8467": ServedTr("/futureoption/market-data", 2, ("gubun",)),
    "t8432": ServedTr("/futureoption/market-data", 2, ("gubun",)),
    "t8433": ServedTr("/futureoption/market-data", 2, ("dummy",)),
    "t8455": ServedTr("/futureoption/market-data", 2, ("gubun",)),
    "t8407": ServedTr("/stock/market-data", 2, ("nrec", "shcode")),
    "o3101": ServedTr("/overseas-futureoption/market-data", 1, ("gubun",)),
    "o3121": ServedTr("/overseas-futureoption/market-data", 1, ("MktGb", "BscGdsCd")),
    # backfill (§8.1): limits per second, personal column
    "t1301": ServedTr("/stock/market-data", 2, ("shcode",)),
    "t8454": ServedTr("/stock/market-data", 1, ("shcode",)),
    "t2212": ServedTr("/futureoption/market-data", 2, ("focode",)),
    "t2201": ServedTr("/futureoption/market-data", 2, ("focode",)),
    "o3116": ServedTr("/overseas-futureoption/market-data", 1, ("shcode",)),
    "o3136": ServedTr("/overseas-futureoption/market-data", 1, ("mktgb", "shcode")),
}
ARRAY_IN_OUTBLOCK1 = frozenset({"t8407"})
"""TRs whose rows LS returns in ``<tr>OutBlock1`` (t8407's one block, its rows)."""
GROUP_PATHS = (
    "/stock/etc",
    "/stock/market-data",
    "/futureoption/market-data",
    "/overseas-futureoption/market-data",
)
MAX_CURSORS = 4_096
"""Backfill continuation keys kept (the oldest are forgotten first: a client may stop paging early)."""


@dataclass(slots=True)
class _Pages:
    tr_cd: str
    rows: list[Row]
    offset: int


@dataclass(slots=True)
class RestContext:
    """What the REST routes share with the rest of the simulator."""

    tokens: TokenRegistry
    limits: VenueLimits
    faults: Faults
    universe: Universe
    clock: Clock
    model: MarketModel | None = None
    """Where the backfill TRs read prints; None answers them as unknown TRs."""
    disabled_trs: set[str] = field(default_factory=set)
    """TRs the venue answers as unknown, e.g. ``{"t8467"}`` to play a venue before the 2026 switch."""
    calls_total: dict[str, int] = field(default_factory=dict)
    """TR calls answered (any outcome), by tr_cd; tests read it."""
    rate_limited_total: int = 0
    """IGW00201 answers given, including forced ones."""
    _pacers: dict[tuple[str, str], RatePacer] = field(default_factory=dict)
    _pages: dict[str, _Pages] = field(default_factory=dict)
    _cursors: dict[str, tuple[str, Cursor]] = field(default_factory=dict)


def _json(body: object, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error(code: tuple[str, str], tr_cd: str = "", status: int = 500) -> web.Response:
    return _gateway_error(code[0], code[1], tr_cd, status)


def _gateway_error(rsp_cd: str, rsp_msg: str, tr_cd: str, status: int = 500) -> web.Response:
    headers = {"tr_cd": tr_cd, "tr_cont": "N", "tr_cont_key": ""}
    return _json({"rsp_cd": rsp_cd, "rsp_msg": rsp_msg}, status, headers)


async def _form(request: web.Request) -> Mapping[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _check_credentials(ctx: RestContext, form: Mapping[str, str]) -> web.Response | None:
    appkey, appsecret = form.get("appkey", ""), form.get("appsecretkey", "")
    if not appkey:
        return _error(BAD_APPKEY)
    if not appsecret:
        return _error(BAD_APPSECRET)
    if not ctx.tokens.accepts(appkey, appsecret):
        # The registry does not say which half is wrong; LS's gateway names the app key first.
        return _error(BAD_APPKEY)
    return None


async def _token(ctx: RestContext, request: web.Request) -> web.Response:
    form = await _form(request)
    refused = _check_credentials(ctx, form)
    if refused is not None:
        return refused
    if form.get("grant_type") != "client_credentials" or form.get("scope") != "oob":
        return _gateway_error(BAD_FIELD, "grant_type=client_credentials, scope=oob 이어야 합니다.", "")
    issued = ctx.tokens.issue(form["appkey"])
    return _json(
        {"access_token": issued.token, "scope": "oob", "token_type": "Bearer", "expires_in": 86400}, 200
    )


async def _revoke(ctx: RestContext, request: web.Request) -> web.Response:
    form = await _form(request)
    refused = _check_credentials(ctx, form)
    if refused is not None:
        return refused
    token = form.get("token", "")
    if not token:
        return _gateway_error(BAD_FIELD, "token 입력값이 누락되었습니다.", "")
    ctx.tokens.revoke(token)
    return _json({"code": 200, "message": REVOKE_MSG}, 200)


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _rate_ok(ctx: RestContext, appkey: str, tr_cd: str) -> bool:
    if ctx.faults.take("rest_rate_limited"):
        return False
    pacer = ctx._pacers.get((appkey, tr_cd))
    if pacer is None:
        pacer = RatePacer(SERVED_TRS[tr_cd].per_s * ctx.limits.rest_rate_scale)
        ctx._pacers[(appkey, tr_cd)] = pacer
    return pacer.allow(ctx.clock.monotonic())


def _parse_inblock(tr_cd: str, raw: bytes) -> dict[str, object] | str:
    """The InBlock, or the IGW40014 message naming what is missing."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return "요청 본문이 JSON이 아닙니다."
    block = body.get(f"{tr_cd}InBlock") if isinstance(body, dict) else None
    if not isinstance(block, dict):
        return f"{tr_cd}InBlock 입력값이 누락되었습니다."
    for name in SERVED_TRS[tr_cd].required:
        if name not in block:
            return f"{tr_cd}InBlock.{name} 입력값이 누락되었습니다."
    return block


def _page(ctx: RestContext, tr_cd: str, rows: list[Row], offset: int) -> tuple[list[Row], str]:
    """Rows of one page and the continuation key ("" when this is the last page)."""
    size = ctx.limits.master_page_rows
    if size <= 0 or len(rows) - offset <= size:
        return rows[offset:], ""
    key = secrets.token_hex(8)
    ctx._pages[key] = _Pages(tr_cd, rows, offset + size)
    return rows[offset : offset + size], key


async def _tr(ctx: RestContext, request: web.Request) -> web.Response:
    tr_cd = request.headers.get("tr_cd", "")
    ctx.calls_total[tr_cd] = ctx.calls_total.get(tr_cd, 0) + 1
    token = _bearer(request)
    if token is None:
        return _error(NO_TOKEN, tr_cd)
    issued = ctx.tokens.check(token)
    if issued is None:
        return _error(BAD_TOKEN, tr_cd)
    served = SERVED_TRS.get(tr_cd)
    if served is None or tr_cd in ctx.disabled_trs:
        return _error(UNKNOWN_TR, tr_cd)
    if served.path != request.path:
        return _error(WRONG_PATH, tr_cd)
    if not _rate_ok(ctx, issued.appkey, tr_cd):
        ctx.rate_limited_total += 1
        return _error(RATE_LIMITED, tr_cd)
    block = _parse_inblock(tr_cd, await request.read())
    if isinstance(block, str):
        return _gateway_error(BAD_FIELD, block, tr_cd)
    if tr_cd in BACKFILL_TRS:
        return _backfill(ctx, tr_cd, block, request.headers.get("tr_cont", "N") == "Y", request)

    if request.headers.get("tr_cont", "N") == "Y":
        pages = ctx._pages.pop(request.headers.get("tr_cont_key", ""), None)
        if pages is None or pages.tr_cd != tr_cd:
            return _error(BAD_CONTINUATION, tr_cd)
        rows, offset = pages.rows, pages.offset
    else:
        try:
            rows = master_rows(ctx.universe, tr_cd, block)
        except MasterRequestError as exc:
            return _gateway_error(BAD_FIELD, str(exc), tr_cd)
        offset = 0
    page, key = _page(ctx, tr_cd, rows, offset)
    msg = OK_MSG_OVERSEAS if tr_cd.startswith("o") else OK_MSG
    headers = {"tr_cd": tr_cd, "tr_cont": "Y" if key else "N", "tr_cont_key": key}
    block = f"{tr_cd}OutBlock1" if tr_cd in ARRAY_IN_OUTBLOCK1 else f"{tr_cd}OutBlock"
    return _json({"rsp_cd": OK_CODE, "rsp_msg": msg, block: page}, 200, headers)


def _backfill(
    ctx: RestContext, tr_cd: str, block: dict[str, object], cont: bool, request: web.Request
) -> web.Response:
    """One page of a backfill TR (§8): rows from the model's print history, newest first."""
    model = ctx.model
    if model is None:
        return _error(UNKNOWN_TR, tr_cd)
    cursor: Cursor | None = None
    if cont:
        held = ctx._cursors.pop(request.headers.get("tr_cont_key", ""), None)
        if held is None or held[0] != tr_cd:
            return _error(BAD_CONTINUATION, tr_cd)
        cursor = held[1]
        query = cursor.query
    else:
        try:
            query = parse_query(tr_cd, block, model.instrument)
        except BackfillRequestError as exc:
            return _gateway_error(BAD_FIELD, str(exc), tr_cd)
    got = page(model.prints, query, ctx.clock.time_ns(), cursor)
    key = ""
    if got.more is not None:
        key = secrets.token_hex(8)
        ctx._cursors[key] = (tr_cd, got.more)
        while len(ctx._cursors) > MAX_CURSORS:
            del ctx._cursors[next(iter(ctx._cursors))]
    if got.rows:
        msg = OK_MSG_OVERSEAS if tr_cd.startswith("o") else OK_MSG
    else:
        msg = NO_DATA_MSG
    headers = {"tr_cd": tr_cd, "tr_cont": "Y" if key else "N", "tr_cont_key": key}
    body = {
        "rsp_cd": OK_CODE,
        "rsp_msg": msg,
        f"{tr_cd}OutBlock": got.out_block,
        f"{tr_cd}OutBlock1": got.rows,
    }
    return _json(body, 200, headers)


def add_rest_routes(app: web.Application, ctx: RestContext) -> None:
    """Mount ``/oauth2/token``, ``/oauth2/revoke`` and the TR group paths on ``app``."""

    async def token(request: web.Request) -> web.Response:
        return await _token(ctx, request)

    async def revoke(request: web.Request) -> web.Response:
        return await _revoke(ctx, request)

    async def tr(request: web.Request) -> web.Response:
        return await _tr(ctx, request)

    app.router.add_post("/oauth2/token", token)
    app.router.add_post("/oauth2/revoke", revoke)
    for path in GROUP_PATHS:
        app.router.add_post(path, tr)
    # Paths LS serves that this simulator does not: the gateway still routes them, so a TR sent
    # there gets a proper TR-level error rather than a bare 404.
    for path in ("/stock/chart", "/futureoption/chart", "/overseas-futureoption/chart"):
        app.router.add_post(path, tr)


__all__ = ["SERVED_TRS", "SIM_CODES", "RestContext", "ServedTr", "add_rest_routes"]
