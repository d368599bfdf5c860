"""The web UI: a read-only Starlette app over a state store, for the people who run the campaigns.

Pages are small HTML shells; static/app.js fetches their numbers from /api/... (engine/ui/figures.py)
and fetches them again every few seconds, changing only what changed, so a page stays live without
a reload. Nothing here writes: the store is opened read-only (engine/ui/reader.py).

Access: on a loopback address anyone on the machine may look. Anywhere else a token is required
(`serve()` refuses to start without one) and checked on every request, /static included: as
`Authorization: Bearer TOKEN`, or once as `?token=TOKEN` in a link, which sets an HttpOnly cookie for
the pages and their requests that follow.
"""
from __future__ import annotations

import hmac
import html
import ipaddress
import socket
import threading
from pathlib import Path
from urllib.parse import quote

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from journeyctl.engine.ui import figures
from journeyctl.engine.ui.reader import ReaderError

STATIC = Path(__file__).parent / "static"
COOKIE = "journeyctl_ui_token"
POLL_MS = 2_000
HEADERS = {  # no script, style or frame from anywhere else; the page is never framed
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenCheck:
    """ASGI middleware: every request carries the token (header, cookie, or ?token= which sets the cookie)."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.headers.get("authorization", "")
        given = given[7:] if given.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        from_query = request.query_params.get("token")
        if from_query is not None and self._ok(from_query):
            url = request.url.remove_query_params("token")
            response = RedirectResponse(url.path + (f"?{url.query}" if url.query else ""), status_code=303)
            response.set_cookie(COOKIE, from_query, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")
            return await response(scope, receive, send)
        if not self._ok(given):
            response = PlainTextResponse(
                "journeyctl ui: this dashboard needs its access token: open the link with ?token=TOKEN once, "
                "or send the header Authorization: Bearer TOKEN.\n", status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="journeyctl"', **HEADERS})
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)

    def _ok(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token)


def _page(title: str, page: str, ident: str = "") -> HTMLResponse:
    """The shell every page shares: app.js draws the rest from /api."""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · journeyctl</title>
<link rel="stylesheet" href="/static/uplot.min.css"><link rel="stylesheet" href="/static/app.css">
<link rel="icon" href="data:,">
</head><body>
<header><a class="brand" href="/">journeyctl</a>
<nav><a href="/" data-nav="overview">Overview</a></nav>
<form id="find" action="/customers" method="get"><input name="id" placeholder="customer id" aria-label="customer id">
<button>Look up</button></form>
<select id="period" aria-label="period"><option value="1h">last hour</option><option value="24h">last 24 h</option>
<option value="7d">last 7 days</option><option value="all" selected>all</option></select>
<span id="live" title="updates every {POLL_MS // 1000} s">●</span><span id="clock"></span></header>
<main id="app" data-page="{page}" data-id="{html.escape(ident)}" data-poll="{POLL_MS}"><p class="muted">Loading…</p></main>
<script src="/static/uplot.min.js"></script><script src="/static/app.js"></script>
</body></html>"""
    return HTMLResponse(body, headers=HEADERS)


def _json(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str), status_code=status,
                    media_type="application/json", headers=HEADERS)


def _period(request: Request, default: str = "all") -> str:
    p = request.query_params.get("period", default)
    return p if p in figures.PERIODS else default


def create_app(reader, token: str | None = None) -> Starlette:
    """The app over `reader` (engine/ui/reader.py); with `token`, every request must carry it."""

    def answer(fn):
        def endpoint(request: Request):
            try:
                return _json(fn(request))
            except figures.NotFound as e:
                return _json({"error": str(e)}, 404)
            except ReaderError as e:
                return _json({"error": str(e)}, 503)
            except Exception as e:  # noqa: BLE001 - a database that went away: say so, keep serving
                return _json({"error": f"cannot read the store: {type(e).__name__}: {e}"}, 503)
        return endpoint

    routes = [
        Route("/", lambda r: _page("Overview", "overview")),
        Route("/journeys/{jid}", lambda r: _page(r.path_params["jid"], "journey", r.path_params["jid"])),
        Route("/segments/{sid}", lambda r: _page(r.path_params["sid"], "segment", r.path_params["sid"])),
        Route("/customers/{cid:path}", lambda r: _page(r.path_params["cid"], "customer", r.path_params["cid"])),
        Route("/customers", lambda r: RedirectResponse("/customers/" + quote(r.query_params.get("id", "").strip(),
                                                                              safe=""), 303)
              if r.query_params.get("id", "").strip() else RedirectResponse("/", 303)),
        Route("/api/overview", answer(lambda r: figures.overview(reader, _period(r)))),
        Route("/api/journeys/{jid}", answer(lambda r: figures.journey(reader, r.path_params["jid"], _period(r),
                                                                      r.query_params.get("version")))),
        Route("/api/segments/{sid}", answer(lambda r: figures.segment(reader, r.path_params["sid"],
                                                                      _period(r, "24h")))),
        Route("/api/customers/{cid:path}", answer(lambda r: figures.customer(reader, r.path_params["cid"]))),
        Route("/healthz", lambda r: PlainTextResponse("ok\n")),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    middleware = [Middleware(TokenCheck, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware)


class UiServer:
    """The app served by uvicorn on a socket bound at once (so port 0 gives the real port before any
    request), in the caller's thread (`run()`) or a thread of its own (`start()`, for `run --ui-port`)."""

    def __init__(self, reader, host: str = "127.0.0.1", port: int = 8080, token: str | None = None):
        import uvicorn

        if not is_loopback(host) and not token:
            raise ValueError(f"the UI would listen on {host}, beyond this machine: give --token (or --token-file, "
                             "or JOURNEYCTL_UI_TOKEN) so every request must carry it, or keep --host 127.0.0.1")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP, and with it
        # on, every answer on a kept-alive connection waited 40 ms for the browser's delayed ACK
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        config = uvicorn.Config(create_app(reader, token), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.reader = reader
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> "UiServer":
        self.thread = threading.Thread(target=self.run, name="journeyctl-ui", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(5)
        self.sock.close()
        self.reader.close()
