"""``gatherer replay``: serve recorded frames as an LS-compatible endpoint.

The journal's data frames are sent again, byte for byte, to any LS client that
registers for them, at the recorded pace (``speed`` 1), faster (``speed`` 10 plays
ten seconds per second) or as fast as the client reads (``speed`` 0). Across several
workers' journals, frames are merged by receive time.

It speaks the same protocol as the venue (LS_OPENAPI.md §1.2, §2): ``/oauth2/token``
accepts any non-empty app key and secret, ``/websocket`` acknowledges every
registration (tr_type 3/4), and the master TRs are answered from the masters stored
beside the journal (``masters/date=…/<market>.parquet``), so ``gatherer run`` can
record a replayed day like a live one.

Streaming starts ``start_delay_s`` after the first registration, so that a client
that registers over several connections does not miss the first frames (or, with
``start_after_registrations``, once that many (TR, key) pairs are registered).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
from aiohttp import WSMsgType, web

from gatherer.capture import Kind, Record, iter_records, list_segments
from gatherer.errors import ConfigError
from gatherer.sinks.masters import master_path
from gatherer.venues.ls.envelope import OK_CODE
from gatherer.venues.ls.masters import MARKET_FIELDS
from gatherer.venues.ls.night import NIGHT_GUBUN

log = logging.getLogger(__name__)

_ACK_MSG = "정상처리되었습니다"
_RSP_CD = b'"rsp_cd"'


class _Header(msgspec.Struct):
    tr_cd: str = ""
    tr_key: str = ""


class _Frame(msgspec.Struct):
    header: _Header


class _RegHeader(msgspec.Struct):
    token: str = ""
    tr_type: str = ""


class _Registration(msgspec.Struct):
    header: _RegHeader
    body: _Header


_frame_decoder = msgspec.json.Decoder(_Frame)
_reg_decoder = msgspec.json.Decoder(_Registration)
_encode = msgspec.json.Encoder().encode


def recorded_frames(paths: Sequence[Path]) -> Iterator[Record]:
    """Data frames of the given journals (not acks, not our own records), merged by receive time."""

    def frames(segment: Path) -> Iterator[Record]:
        for rec in iter_records(segment):
            if rec.kind == Kind.FRAME and _RSP_CD not in rec.payload:
                yield rec

    # Each worker's segments are in order already; workers are merged by recv_ns.
    by_worker: dict[str, list[Path]] = {}
    for path in paths:
        for segment in list_segments(path):
            by_worker.setdefault(segment.name.rsplit("-", 1)[0], []).append(segment)
    streams = [_chain(frames(s) for s in sorted(segs)) for segs in by_worker.values()]
    return heapq.merge(*streams, key=lambda r: r.recv_ns)


def _chain(iterators: Iterator[Iterator[Record]]) -> Iterator[Record]:
    for it in iterators:
        yield from it


def _journal_root_and_day(path: Path) -> tuple[Path, dt.date] | None:
    """``<root>/journal/date=D/...`` -> (root, D), if the path lies in such a tree.

    Given ``<root>/journal`` itself, the first day in it.
    """
    path = path.resolve()
    if path.name == "journal" and path.is_dir():
        days = sorted(p for p in path.glob("date=*") if p.is_dir())
        if days:
            path = days[0]
    parts = path.parts
    for i, part in enumerate(parts):
        if part == "journal" and i + 1 < len(parts) and parts[i + 1].startswith("date="):
            return Path(*parts[:i]), dt.date.fromisoformat(parts[i + 1][5:])
    return None


def _json_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass
class _Masters:
    """Master tables of one day, rendered back into LS's REST shape."""

    root: Path | None
    day: dt.date | None
    cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self, market: str) -> list[dict[str, Any]]:
        if market not in self.cache:
            if self.root is None or self.day is None:
                raise FileNotFoundError("no masters directory next to the journal")
            import pyarrow.parquet as pq

            table: pa.Table = pq.read_table(master_path(self.root, self.day, market))
            names = [n for n, _t in MARKET_FIELDS.get(market, ())] or table.column_names
            self.cache[market] = [
                {n: _json_value(row.get(n)) for n in names} for row in table.select(names).to_pylist()
            ]
        return self.cache[market]

    def answer(self, tr_cd: str, inblock: Mapping[str, Any]) -> list[dict[str, Any]]:
        if tr_cd == "t8436":
            gubun = str(inblock.get("gubun", "0"))
            markets = {"1": ["kospi"], "2": ["kosdaq"]}.get(gubun, ["kospi", "kosdaq"])
            return [r for m in markets for r in self.rows(m)]
        if tr_cd in ("t8467", "t8432"):
            return [] if str(inblock.get("gubun", "")) in ("V", "S") else self.rows("kfutures")
        if tr_cd == "t8433":
            return self.rows("koptions")
        if tr_cd == "t8455":  # the night session's instruments, stored as <market>.night
            gubun = str(inblock.get("gubun", ""))
            market = next((m for m, gs in NIGHT_GUBUN.items() if gubun in gs), None)
            return (
                [] if market is None else [r for r in self.rows(f"{market}.night") if r.get("gubun") == gubun]
            )
        if tr_cd == "o3101":
            return self.rows("ofutures")
        if tr_cd == "o3121":
            if str(inblock.get("MktGb", "O")) == "F":
                return self.rows("ofutures")
            code = str(inblock.get("BscGdsCd", "")).strip()
            series = self.rows("ooptions")
            if code:
                return [r for r in series if r.get("BscGdsCd") == code]
            products: dict[str, dict[str, Any]] = {}
            for r in series:
                products.setdefault(str(r.get("BscGdsCd")), {**r, "Symbol": "", "SymbolNm": ""})
            return list(products.values())
        raise KeyError(tr_cd)


_GROUP_OF = {
    "t8436": "/stock/etc",
    "t8467": "/futureoption/market-data",
    "t8432": "/futureoption/market-data",
    "t8433": "/futureoption/market-data",
    "t8455": "/futureoption/market-data",
    "o3101": "/overseas-futureoption/market-data",
    "o3121": "/overseas-futureoption/market-data",
}


class ReplayServer:
    """Serves recorded frames to LS clients on loopback."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        start_delay_s: float = 1.0,
        start_after_registrations: int = 0,
        masters_root: Path | None = None,
        masters_day: dt.date | None = None,
    ) -> None:
        self._paths = list(paths)
        self._speed = speed
        self._host = host
        self._port = port
        self._start_delay_s = start_delay_s
        self._start_after = start_after_registrations
        self._registered = asyncio.Event()
        found = _journal_root_and_day(self._paths[0]) if self._paths else None
        self._masters = _Masters(
            masters_root or (found[0] if found else None), masters_day or (found[1] if found else None)
        )
        self._tokens: set[str] = set()
        self._subs: dict[tuple[str, str], set[web.WebSocketResponse]] = {}
        self._first_registration = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        self.frames_read = 0
        self.finished = asyncio.Event()
        self.port = 0

    async def start(self) -> None:
        if not self._paths or not any(list_segments(p) for p in self._paths):
            raise ConfigError(
                f"no journal segments in {', '.join(map(str, self._paths)) or '(nothing given)'}"
            )
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_post("/oauth2/revoke", self._revoke)
        for path in sorted(set(_GROUP_OF.values())):
            app.router.add_post(path, self._tr)
        app.router.add_get("/websocket", self._ws)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = self._runner.addresses[0][1]
        self._task = asyncio.create_task(self._stream(), name="replay-stream")

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self.port}/websocket"

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- REST ----------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not str(form.get("appkey", "")).strip() or not str(form.get("appsecretkey", "")).strip():
            return web.json_response(
                {"rsp_cd": "IGW00121", "rsp_msg": "유효하지 않은 앱키입니다."}, status=500
            )
        token = secrets.token_urlsafe(32)
        self._tokens.add(token)
        return web.json_response(
            {"access_token": token, "scope": "oob", "token_type": "Bearer", "expires_in": 86400}
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        self._tokens.discard(str(form.get("token", "")))
        return web.json_response({"code": 200, "message": "접근토큰 폐기에 성공하였습니다."})

    async def _tr(self, request: web.Request) -> web.Response:
        tr_cd = request.headers.get("tr_cd", "")
        headers = {"tr_cd": tr_cd, "tr_cont": "N", "tr_cont_key": ""}
        body: dict[str, Any] = await request.json()
        inblock = body.get(f"{tr_cd}InBlock", {})
        try:
            rows = self._masters.answer(tr_cd, inblock if isinstance(inblock, dict) else {})
        except KeyError:
            msg = {"rsp_cd": "IGW00311", "rsp_msg": f"replay serves no {tr_cd}"}
            return web.json_response(msg, status=500, headers=headers)
        except FileNotFoundError as exc:
            msg = {"rsp_cd": "IGW00311", "rsp_msg": f"replay has no master for {tr_cd}: {exc}"}
            return web.json_response(msg, status=500, headers=headers)
        ok = "조회완료" if tr_cd.startswith("o") else "정상적으로 조회가 완료되었습니다."
        return web.json_response(
            {"rsp_cd": OK_CODE, "rsp_msg": ok, f"{tr_cd}OutBlock": rows}, headers=headers
        )

    # -- WebSocket -----------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        mine: set[tuple[str, str]] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    reg = _reg_decoder.decode(msg.data)
                except msgspec.DecodeError:
                    continue
                key = (reg.body.tr_cd, reg.body.tr_key)
                if reg.header.tr_type == "3":
                    self._subs.setdefault(key, set()).add(ws)
                    mine.add(key)
                    self._first_registration.set()
                    if self._start_after and sum(1 for s in self._subs.values() if s) >= self._start_after:
                        self._registered.set()
                elif reg.header.tr_type == "4":
                    self._subs.get(key, set()).discard(ws)
                    mine.discard(key)
                header = {"tr_cd": key[0], "tr_key": key[1], "tr_type": reg.header.tr_type,
                          "rsp_cd": OK_CODE, "rsp_msg": _ACK_MSG}  # fmt: skip
                await ws.send_frame(_encode({"header": header, "body": None}), WSMsgType.TEXT)
        finally:
            for key in mine:
                self._subs.get(key, set()).discard(ws)
        return ws

    async def _stream(self) -> None:
        if self._start_after:
            await self._registered.wait()
        else:
            await self._first_registration.wait()
            await asyncio.sleep(self._start_delay_s)
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_ns: int | None = None
        records = recorded_frames(self._paths)
        while True:
            rec = next(records, None)
            if rec is None:
                break
            self.frames_read += 1
            if first_ns is None:
                first_ns = rec.recv_ns
            if self._speed > 0:
                delay = started + (rec.recv_ns - first_ns) / 1e9 / self._speed - loop.time()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            try:
                header = _frame_decoder.decode(rec.payload).header
            except msgspec.DecodeError:
                continue  # a malformed frame the venue once sent: not replayable by key
            for ws in list(self._subs.get((header.tr_cd, header.tr_key), ())):
                if not ws.closed:
                    await ws.send_frame(rec.payload, WSMsgType.TEXT)
                    self.frames_sent += 1
        self.finished.set()
        log.info("replay finished", extra={"frames_read": self.frames_read, "frames_sent": self.frames_sent})
