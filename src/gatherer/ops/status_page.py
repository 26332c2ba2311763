"""The status page's HTTP side (aiohttp): the page, its assets, live updates, ``/metrics``, ``/healthz``.

Routes:
- ``/``: the page (``ops/static/``: one HTML file, one script drawing its charts as SVG, one
  stylesheet; shipped in the package, nothing fetched from elsewhere);
- ``/events``: server-sent events, ``picture`` (the whole ``Picture`` as JSON) about once a second
  and ``point`` (one chart point) as the history grows;
- ``/api/status`` (the ``Picture``), ``/api/history`` (the last hour's chart points);
- ``/metrics``: Prometheus text (``ops.metrics``); ``/healthz``: 200 ``ok`` while healthy, else
  503 with one line per problem.

Served on loopback by default. ``listen`` on another address needs a token (``GATHERER_STATUS_TOKEN``
in the supervisor's environment, checked before anything starts): every request must then carry
``Authorization: Bearer <token>``, or HTTP Basic auth with the token as the password (what a
browser prompts for; the page's event stream rides on it). The page only reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from importlib import resources

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from gatherer.errors import ConfigError
from gatherer.ops.metrics import CONTENT_TYPE, exposition, registry_of
from gatherer.ops.picture import Picture, Point

log = logging.getLogger(__name__)

TOKEN_ENV = "GATHERER_STATUS_TOKEN"
ASSETS = {"index.html": "text/html", "status.js": "text/javascript", "status.css": "text/css"}
"""Every file the page loads (``ops/static/``)."""
PUSH_S = 1.0
"""How often the event stream looks for a newer picture."""

_encoder = msgspec.json.Encoder()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) -> (host, port); ConfigError naming ``status.listen`` if not."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'status.listen = "{listen}": expected host:port, e.g. "127.0.0.1:9108"')
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def required_token(listen: str, environ: dict[str, str]) -> str | None:
    """The token requests must carry: None on loopback; elsewhere ``GATHERER_STATUS_TOKEN``, which
    must then be set (ConfigError saying so)."""
    host, _port = split_listen(listen)
    if is_loopback(host):
        return None
    token = environ.get(TOKEN_ENV, "")
    if len(token) < 16:
        raise ConfigError(
            f'status.listen = "{listen}" is not a loopback address: export {TOKEN_ENV} (a secret of at'
            " least 16 characters; clients send it as a bearer token) or listen on 127.0.0.1"
        )
    return token


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), token.encode())
    return False


def _auth(token: str | None) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and not _authorized(request, token):
            return web.Response(
                status=401,
                text="a token is required: Authorization: Bearer <GATHERER_STATUS_TOKEN>\n",
                headers={"WWW-Authenticate": 'Basic realm="gatherer"'},
            )
        return await handler(request)

    return check


class StatusPage:
    """Serves the pictures ``latest()`` returns and the points ``history()`` holds."""

    def __init__(
        self,
        latest: Callable[[], Picture | None],
        history: Callable[[], list[Point]],
        *,
        token: str | None = None,
    ) -> None:
        self._latest = latest
        self._history = history
        self._token = token
        self._registry = registry_of(latest)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_auth(self._token)])
        app.router.add_get("/", self._asset)
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/history", self._history_json)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self, host: str, port: int) -> str:
        """Listen; returns the page's URL (the port the system chose when ``port`` is 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(f"status.listen = {host}:{port}: cannot listen there ({exc})") from exc
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/"
        return self.url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers --------------------------------------------------------------------------

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in ASSETS:
            raise web.HTTPNotFound()
        body = resources.files("gatherer.ops").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    async def _status(self, _request: web.Request) -> web.Response:
        p = self._latest()
        if p is None:
            return web.Response(status=503, text="no picture yet: the run is starting\n")
        return web.Response(body=_encoder.encode(p), content_type="application/json")

    async def _history_json(self, _request: web.Request) -> web.Response:
        return web.Response(body=_encoder.encode(self._history()), content_type="application/json")

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(exposition, self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, _request: web.Request) -> web.Response:
        p = self._latest()
        if p is None:
            return web.Response(status=503, text="starting: no status yet\n")
        if p.healthy:
            return web.Response(text="ok\n" + "".join(f"{w}\n" for w in p.why))
        return web.Response(status=503, text="".join(f"{w}\n" for w in p.why))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        sent_at = -1.0
        history = self._history()
        last_t = history[-1].t if history else 0.0  # the page loads the history it starts with
        try:
            while not self._closing.is_set():
                p = self._latest()
                if p is not None and p.updated_s != sent_at:
                    sent_at = p.updated_s
                    await resp.write(b"event: picture\ndata: " + _encoder.encode(p) + b"\n\n")
                for point in self._history():
                    if point.t > last_t:
                        last_t = point.t
                        await resp.write(b"event: point\ndata: " + _encoder.encode(point) + b"\n\n")
                try:
                    await asyncio.wait_for(self._closing.wait(), PUSH_S)
                except TimeoutError:
                    pass
        except ConnectionResetError:
            pass  # the browser went away
        return resp


__all__ = ["TOKEN_ENV", "StatusPage", "is_loopback", "required_token", "split_listen"]
